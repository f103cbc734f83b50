//! The entrypoint an image's config names, found as a runtime finds it in the stacked layers.
//!
//! The program is `Entrypoint[0]`, or `Cmd[0]` when there is no entrypoint. As runc and Docker
//! do: a name with a `/` is taken as a path, relative ones against `WorkingDir` (default `/`);
//! a bare name is looked up in the directories of the config's `PATH` (Docker's default when
//! `Env` sets none), the first executable regular file winning. Symbolic links are followed
//! inside the image root ([`super::stack::Tree::resolve`]). What it reaches must be a regular
//! file with an execute bit whose content is a static ELF for the platform.

use oci_spec::image::ImageConfiguration;

use super::stack::{Kind, Node, Tree, Unresolved, normalise};

/// Docker's `PATH` for a container whose image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program an image starts, as its config names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// `Entrypoint[0]` or `Cmd[0]`, as written.
    pub name: String,
    /// `WorkingDir`, normalised (`/` when unset).
    pub cwd: String,
    /// The `PATH` a bare name is looked up in.
    pub path_env: String,
}

impl Program {
    /// The program of `config`, if its entrypoint or command names one.
    pub fn of(config: &ImageConfiguration) -> Option<Program> {
        let c = config.config().as_ref()?;
        let name = c
            .entrypoint()
            .as_ref()
            .and_then(|e| e.first())
            .or_else(|| c.cmd().as_ref().and_then(|cmd| cmd.first()))?
            .clone();
        let cwd = normalise(c.working_dir().as_deref().unwrap_or("/"));
        let path_env = c
            .env()
            .as_ref()
            .and_then(|env| env.iter().find_map(|v| v.strip_prefix("PATH=")))
            .unwrap_or(DEFAULT_PATH)
            .to_string();
        Some(Program {
            name,
            cwd,
            path_env,
        })
    }
}

/// Why the entrypoint cannot start the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntrypointProblem {
    /// Nothing is at its path.
    Missing {
        /// The entrypoint as written.
        name: String,
    },
    /// A bare name no `PATH` directory holds.
    NotOnPath {
        /// The entrypoint as written.
        name: String,
        /// The `PATH` searched.
        path_env: String,
    },
    /// A dangling link, a loop, or a file used as a directory on the way.
    Unresolved {
        /// The entrypoint as written.
        name: String,
        /// What stopped resolution.
        why: Unresolved,
    },
    /// It resolves to something that cannot be executed, or is not a static binary.
    Unfit {
        /// The entrypoint as written.
        name: String,
        /// Where it resolved to.
        resolved: String,
        /// What is wrong there (`is a directory`, `has no execute bit (mode 0644)`).
        what: String,
    },
}

impl std::fmt::Display for EntrypointProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntrypointProblem::Missing { name } => write!(
                f,
                "the entrypoint `{name}` is not in the image: it would fail with \
                 `exec {name}: no such file or directory`"
            ),
            EntrypointProblem::NotOnPath { name, path_env } => write!(
                f,
                "the entrypoint `{name}` is not on the image's `PATH` (`{path_env}`): it would \
                 fail with `exec: \"{name}\": executable file not found in $PATH`"
            ),
            EntrypointProblem::Unresolved { name, why } => {
                write!(f, "the entrypoint `{name}` cannot be resolved: {why}")
            }
            EntrypointProblem::Unfit {
                name,
                resolved,
                what,
            } => {
                if normalise(name) == *resolved {
                    write!(f, "the entrypoint `{name}` {what}")
                } else {
                    write!(
                        f,
                        "the entrypoint `{name}` (resolving to `{resolved}`) {what}"
                    )
                }
            }
        }
    }
}

/// Finds the file the program names: its resolved path and node, or why there is none.
pub fn locate<'t>(
    tree: &'t Tree,
    program: &Program,
) -> Result<(String, &'t Node), EntrypointProblem> {
    let name = &program.name;
    let unresolved = |why: Unresolved| match why {
        Unresolved::Missing { .. } => EntrypointProblem::Missing { name: name.clone() },
        why => EntrypointProblem::Unresolved {
            name: name.clone(),
            why,
        },
    };
    if name.contains('/') {
        return tree.resolve(name, &program.cwd).map_err(unresolved);
    }
    if name.is_empty() {
        return Err(EntrypointProblem::Missing { name: name.clone() });
    }
    for dir in program.path_env.split(':').filter(|d| !d.is_empty()) {
        let dir = if dir.starts_with('/') {
            normalise(dir)
        } else {
            normalise(&format!("{}/{dir}", program.cwd))
        };
        if let Ok((path, node)) = tree.resolve(name, &dir)
            && node.kind == Kind::File
            && node.mode & 0o111 != 0
        {
            return Ok((path, node));
        }
    }
    Err(EntrypointProblem::NotOnPath {
        name: name.clone(),
        path_env: program.path_env.clone(),
    })
}

/// What the checks need to know about the entrypoint's content.
pub enum Content<'a> {
    /// An ELF file verify judged: `Ok(None)` when fit, `Ok(Some(reasons))` when not.
    Elf(Result<Option<String>, String>),
    /// A script: the interpreter its `#!` line names.
    Script(&'a str),
    /// Something else, described (`is a text file, not an ELF binary`).
    Other(String),
}

/// Checks the node the entrypoint resolved to: kind, execute bit, then its content.
pub fn check(
    tree: &Tree,
    program: &Program,
    resolved: &str,
    node: &Node,
    content: Option<Content<'_>>,
) -> Option<EntrypointProblem> {
    let unfit = |what: String| {
        Some(EntrypointProblem::Unfit {
            name: program.name.clone(),
            resolved: resolved.to_string(),
            what,
        })
    };
    match &node.kind {
        Kind::Dir => return unfit("is a directory".into()),
        Kind::Special => return unfit("is not a regular file".into()),
        Kind::BrokenHardLink(target) => {
            return unfit(format!(
                "is a hard link to `{target}`, which is not in the image"
            ));
        }
        Kind::Symlink(_) | Kind::File => {}
    }
    if node.mode & 0o111 == 0 {
        return unfit(format!("has no execute bit (mode {:04o})", node.mode));
    }
    match content? {
        Content::Elf(Ok(None)) => None,
        Content::Elf(Ok(Some(reasons))) => unfit(reasons),
        Content::Elf(Err(error)) => unfit(error),
        Content::Other(what) => unfit(what),
        Content::Script(interpreter) => {
            let has = match tree.resolve(interpreter, "/") {
                Ok((path, n)) if n.kind == Kind::File => format!("the image has it (`{path}`)"),
                _ => "the image does not have it".to_string(),
            };
            unfit(format!(
                "is a script for `{interpreter}`, not a static binary; {has}"
            ))
        }
    }
}

/// The interpreter a `#!` line names (its first word), if `head` starts with one.
pub fn shebang(head: &[u8]) -> Option<String> {
    let line = head.strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
    let word = line
        .split(|b| b.is_ascii_whitespace())
        .find(|w| !w.is_empty())
        .unwrap_or_default();
    Some(super::elf_read::escaped(word))
}

#[cfg(test)]
mod tests {
    use super::super::stack::LayerEntry;
    use super::*;

    fn program(name: &str) -> Program {
        Program {
            name: name.into(),
            cwd: "/srv".into(),
            path_env: "/usr/bin:bin".into(),
        }
    }

    #[test]
    fn bare_names_use_path_and_relative_ones_the_working_dir() {
        let mut tree = Tree::new();
        let entry = |path: &str, mode| LayerEntry {
            path: path.into(),
            kind: Kind::File,
            link: None,
            mode,
        };
        tree.apply_layer(
            0,
            &[
                entry("usr/bin/tool", 0o644),
                entry("srv/bin/tool", 0o755),
                entry("srv/app", 0o755),
            ],
        );
        assert_eq!(locate(&tree, &program("tool")).unwrap().0, "/srv/bin/tool");
        assert_eq!(locate(&tree, &program("./app")).unwrap().0, "/srv/app");
        assert_eq!(
            locate(&tree, &program("nope")).unwrap_err().to_string(),
            "the entrypoint `nope` is not on the image's `PATH` (`/usr/bin:bin`): it would fail \
             with `exec: \"nope\": executable file not found in $PATH`"
        );
        let (path, node) = locate(&tree, &program("/usr/bin/tool")).unwrap();
        assert_eq!(
            check(&tree, &program("/usr/bin/tool"), &path, node, None)
                .unwrap()
                .to_string(),
            "the entrypoint `/usr/bin/tool` has no execute bit (mode 0644)"
        );
        assert_eq!(shebang(b"#! /bin/sh -e\nx").as_deref(), Some("/bin/sh"));
    }
}
