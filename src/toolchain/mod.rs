//! Toolchains as data: `toolchains/*.toml` → [`Toolchains`].
//!
//! Each language file lists *strategies* in order of preference: the programs a strategy needs,
//! the environment and flags it sets, the C compiler it wraps. `c.toml` also lists the build
//! systems (CMake, autotools, make, a bare folder of `*.c`) as steps to run. The files are
//! compiled into the binary so the tool runs anywhere; `--toolchains DIR` (or
//! `STATIC_IMAGE_TOOLCHAINS`) adds a folder of the same files whose entries come first and
//! replace built-in ones of the same name, plus a `platforms.toml` whose platforms are added
//! to the built-in ones: a corporate compiler or a new platform needs no new release.
//!
//! What is truly language-specific (reading cargo's messages, merging Go's `-ldflags`) stays in
//! code, in `plan`; this module only parses, validates and expands the templates.

pub mod probe;
pub mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::platform::{self, Platform, PlatformInfo, Platforms};
use template::Template;

/// A language the tool builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Cargo projects.
    Rust,
    /// Go modules.
    Go,
    /// C projects (CMake, autotools, make, or bare `*.c`).
    C,
}

impl Language {
    /// Every language, in display order.
    pub const ALL: [Language; 3] = [Language::Rust, Language::Go, Language::C];

    /// The lowercase name, which is also the data file's stem.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Go => "go",
            Language::C => "c",
        }
    }

    /// The language whose strategies a data file (`rust.toml`) holds, if any.
    fn of_file(name: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|l| name == format!("{}.toml", l.as_str()))
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "Rust",
            Language::Go => "Go",
            Language::C => "C",
        })
    }
}

/// The C library a strategy links, which decides the warnings `verify` gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LibcKind {
    /// musl: static linking is what it is made for.
    Musl,
    /// glibc linked statically: works, but NSS and dlopen do not.
    Glibc,
}

/// One way to build a language for a platform.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// Unique within its language.
    pub name: String,
    /// One line for `static-image toolchains`.
    pub summary: String,
    /// Only when building for the machine's own CPU.
    #[serde(default)]
    pub host_only: bool,
    /// The platforms it serves (empty: all).
    #[serde(default)]
    pub platforms: Vec<Platform>,
    /// Programs that must exist (names on PATH, or tools from `tools.toml`).
    #[serde(default)]
    pub requires: Vec<String>,
    /// Rust: the target triple; its standard library must be installed.
    pub rust_target: Option<String>,
    /// Go: serves builds that need cgo (and only those).
    #[serde(default)]
    pub cgo: bool,
    /// The C library linked.
    pub libc: Option<LibcKind>,
    /// C: the GNU triple the compiler targets (autotools' `--host`).
    pub host: Option<String>,
    /// The C compiler command, made into the `{cc}` wrapper.
    pub cc: Option<Vec<String>>,
    /// Arguments the `{cc}` wrapper drops (`*` matches anything): flags other tools add that
    /// this compiler refuses, such as cc-rs's `--target=<rust triple>` for zig.
    #[serde(default)]
    pub cc_drop: Vec<String>,
    /// The archiver command, made into the `{ar}` wrapper.
    pub ar: Option<Vec<String>>,
    /// The C++ compiler command: the `{cxx}` wrapper (it drops `cc_drop` too); for C builds
    /// also `c++` and `g++` wrappers on the build's PATH (a C project's bundled library may hold
    /// C++: jemalloc's).
    #[serde(default)]
    pub cxx: Option<Vec<String>>,
    /// Rust: the text of a CMake toolchain file, written beside the wrappers as
    /// `{cmake_toolchain}` (cmake-rs takes a target's compilers and archiver from it).
    #[serde(default)]
    pub cmake_toolchain: Option<String>,
    /// C: the command that strips the built program in place (its path is appended), run
    /// after the build whatever flags the project linked with; skipped when its program is not
    /// here.
    pub strip: Option<Vec<String>>,
    /// C compiler flags.
    #[serde(default)]
    pub cflags: Vec<String>,
    /// Link flags (Go: `-ldflags` words).
    #[serde(default)]
    pub ldflags: Vec<String>,
    /// Go build tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Environment set for the build, over the user's.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Environment set for the build unless the user set it (a configured linker wins).
    #[serde(default)]
    pub env_default: BTreeMap<String, String>,
    /// How to install what it needs.
    pub install: String,
}

/// Where a build system's steps run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildIn {
    /// In a copy of the project kept under the target directory.
    Source,
    /// In an empty build directory, reading the project where it is.
    Build,
}

/// A C build system: how to recognise it and the steps that build with it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSystem {
    /// Its name.
    pub name: String,
    /// Files (or `*.ext` globs) in the project root that select it.
    pub markers: Vec<String>,
    /// Texts the marker file must not contain (a `configure` that autoconf did not write).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marker_lacks: Vec<String>,
    /// Programs it needs.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Where its steps run.
    #[serde(rename = "in")]
    pub location: BuildIn,
    /// How to install what it needs.
    pub install: Option<String>,
    /// The commands, in order.
    pub steps: Vec<StepSpec>,
    /// Environment for its steps (templates), beside the wrappers' `PATH`, over the user's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Environment set for every step unless the user set it (a sysroot the user provides).
    #[serde(default)]
    pub env_default: BTreeMap<String, String>,
    /// The log a configure step writes (`config.log`), read after it for what it did not find
    /// for the target.
    pub probe_log: Option<String>,
    /// Where this machine keeps headers, libraries and pkg-config files for itself: what
    /// configure did not find for the target but is here is named as left out.
    #[serde(default)]
    pub host_dirs: Vec<String>,
}

/// A program a step needs when a project file names one of some macros (libtool's `LT_INIT`
/// needs `libtoolize` for `autoreconf`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Need {
    /// The program (a name on PATH, or a tool from `tools.toml`, whose `install` is shown).
    pub program: String,
    /// The project files read (the first that exists), e.g. `configure.ac`.
    pub files: Vec<String>,
    /// Words that, in that file, make the program needed.
    pub uses: Vec<String>,
}

/// A build-system step: a command, optionally skipped when a file exists.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StepSpec {
    /// Always run.
    Plain(Vec<String>),
    /// Run unless `unless` exists in the directory the build runs in, or, with `once`, unless
    /// it succeeded there before.
    Full {
        /// The command.
        run: Vec<String>,
        /// The file whose presence skips it.
        unless: Option<String>,
        /// Skipped when its last run in this build directory succeeded and its program (a
        /// file of the project) has not changed since: a configure that writes no file one
        /// can name for every project (nginx's writes `objs/Makefile`, musl's `config.mak`).
        #[serde(default)]
        once: bool,
        /// Programs it needs for what the project uses, checked before the build when it
        /// will run.
        #[serde(default)]
        needs: Vec<Need>,
    },
}

impl StepSpec {
    /// The command template.
    pub fn run(&self) -> &[String] {
        match self {
            StepSpec::Plain(run) | StepSpec::Full { run, .. } => run,
        }
    }

    /// The file that skips it.
    pub fn unless(&self) -> Option<&str> {
        match self {
            StepSpec::Plain(_) => None,
            StepSpec::Full { unless, .. } => unless.as_deref(),
        }
    }

    /// Whether it runs only until it has succeeded once.
    pub fn once(&self) -> bool {
        matches!(self, StepSpec::Full { once: true, .. })
    }

    /// The programs it needs for what the project uses.
    pub fn needs(&self) -> &[Need] {
        match self {
            StepSpec::Plain(_) => &[],
            StepSpec::Full { needs, .. } => needs,
        }
    }
}

/// A program that can be started in more than one way (zig: `zig`, `python3 -m ziglang`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// Ways to run it, in order.
    pub run: Vec<Vec<String>>,
    /// Arguments that must succeed for a way to count.
    #[serde(default)]
    pub check: Vec<String>,
    /// How to install it.
    pub install: String,
}

/// One data file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolchainFile {
    #[serde(default)]
    strategy: Vec<Strategy>,
    #[serde(default)]
    build_system: Vec<BuildSystem>,
    #[serde(default)]
    tool: BTreeMap<String, ToolSpec>,
}

/// Every strategy, build system and tool, built-in and the user's.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Toolchains {
    /// Strategies per language, in order of preference.
    pub strategies: BTreeMap<Language, Vec<Strategy>>,
    /// C build systems, in order of preference.
    pub build_systems: Vec<BuildSystem>,
    /// Programs with several ways to run.
    pub tools: BTreeMap<String, ToolSpec>,
    /// The user's folder, when one was given.
    pub user_dir: Option<PathBuf>,
    /// The platform table: the built-in rows and the user folder's `platforms.toml`.
    #[serde(skip)]
    pub platforms: Platforms,
}

/// The files compiled into the binary: (file name, text).
const BUILTIN: [(&str, &str); 4] = [
    ("rust.toml", include_str!("../../toolchains/rust.toml")),
    ("go.toml", include_str!("../../toolchains/go.toml")),
    ("c.toml", include_str!("../../toolchains/c.toml")),
    ("tools.toml", include_str!("../../toolchains/tools.toml")),
];

/// Why the toolchain data could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    /// A file could not be read.
    #[error("cannot read toolchain file `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TOML of the expected shape.
    #[error("`{path}` is not a valid toolchain file: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (it names the key and line).
        detail: String,
    },
    /// A file in the folder has a name the tool does not read.
    #[error(
        "`{path}` is not a toolchain file the tool reads (expected rust.toml, go.toml, c.toml or tools.toml)"
    )]
    UnknownFile {
        /// The file.
        path: PathBuf,
    },
    /// A template names a variable that does not exist, or is malformed.
    #[error("`{path}`: {entry}: {detail}")]
    Template {
        /// The file.
        path: PathBuf,
        /// The strategy or build system.
        entry: String,
        /// What is wrong.
        detail: String,
    },
    /// Two entries share a name within one file.
    #[error("`{path}`: two entries are named `{name}`")]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
    },
}

impl Toolchains {
    /// The built-in data, then `user_dir`'s files on top (their entries first).
    pub fn load(user_dir: Option<&Path>) -> Result<Toolchains, ToolchainError> {
        Toolchains::load_for(user_dir, None)
    }

    /// [`Toolchains::load`], with only `language`'s built-in strategies when one is given: a
    /// build that knows its language skips parsing the others' (a third of a no-op build's
    /// own work). The user's files are all read and checked either way.
    pub fn load_for(
        user_dir: Option<&Path>,
        language: Option<Language>,
    ) -> Result<Toolchains, ToolchainError> {
        let wanted = |name: &str| match (language, Language::of_file(name)) {
            (Some(only), Some(of)) => of == only,
            _ => true,
        };
        let mut user_files = Vec::new();
        if let Some(dir) = user_dir {
            let entries = std::fs::read_dir(dir).map_err(|source| ToolchainError::Read {
                path: dir.to_owned(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            for path in files {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let known = BUILTIN.iter().any(|(b, _)| *b == name) || name == PLATFORMS_FILE;
                if !known {
                    return Err(ToolchainError::UnknownFile { path });
                }
                user_files.push((name, path));
            }
        }
        // The platforms first: the strategies name them.
        let platforms = platforms(user_dir)?;
        let mut all = Toolchains {
            platforms,
            ..Toolchains::default()
        };
        let table = all.platforms.clone();
        table.reading(|| {
            for (name, text) in BUILTIN.iter().filter(|(name, _)| wanted(name)) {
                let path = PathBuf::from("toolchains").join(name);
                all.merge(name, &path, parse(&path, text)?);
            }
            for (name, path) in user_files.iter().filter(|(n, _)| n != PLATFORMS_FILE) {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ToolchainError::Read {
                        path: path.clone(),
                        source,
                    })?;
                let file = parse(path, &text)?;
                all.merge(name, path, file);
            }
            Ok::<_, ToolchainError>(())
        })?;
        all.user_dir = user_dir.map(Path::to_owned);
        Ok(all)
    }

    /// Puts `file`'s entries before the ones already loaded, replacing same-named ones.
    fn merge(&mut self, name: &str, _path: &Path, file: ToolchainFile) {
        if let Some(language) = Language::of_file(name) {
            let list = self.strategies.entry(language).or_default();
            list.retain(|s| !file.strategy.iter().any(|n| n.name == s.name));
            list.splice(0..0, file.strategy);
        }
        self.build_systems
            .retain(|b| !file.build_system.iter().any(|n| n.name == b.name));
        self.build_systems.splice(0..0, file.build_system);
        self.tools.extend(file.tool);
    }

    /// The strategies for `language`, in order of preference.
    pub fn strategies(&self, language: Language) -> &[Strategy] {
        self.strategies
            .get(&language)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// The name of the file in a toolchain folder that adds platforms.
const PLATFORMS_FILE: &str = "platforms.toml";

/// The platform table of a run: the built-in rows, then those of `user_dir`'s
/// `platforms.toml` when it has one. Commands with no `--toolchains` flag (verify, package,
/// sbom) take the folder from `STATIC_IMAGE_TOOLCHAINS`.
pub fn platforms(user_dir: Option<&Path>) -> Result<Platforms, ToolchainError> {
    let mut table = Platforms::builtin();
    let Some(path) = user_dir.map(|d| d.join(PLATFORMS_FILE)) else {
        return Ok(table);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(table),
        Err(source) => return Err(ToolchainError::Read { path, source }),
    };
    table
        .add(parse_platforms(&path, &text)?)
        .map_err(|e| ToolchainError::Template {
            path: path.clone(),
            entry: format!("platform `{}`", e.name),
            detail: format!(
                "its words take {} bytes together, more than {}",
                e.length,
                platform::MAX_WORDS
            ),
        })?;
    Ok(table)
}

/// Parses a `platforms.toml`.
fn parse_platforms(path: &Path, text: &str) -> Result<Vec<PlatformInfo>, ToolchainError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        platform: Vec<PlatformInfo>,
    }
    let file: File = toml::from_str(text).map_err(|e| ToolchainError::Parse {
        path: path.to_owned(),
        detail: e.to_string().trim_end().replace('\n', " "),
    })?;
    for p in &file.platform {
        let ok = p.name.starts_with("linux/") && !p.arch.is_empty() && !p.cpu.is_empty();
        if !ok {
            return Err(ToolchainError::Template {
                path: path.to_owned(),
                entry: format!("platform `{}`", p.name),
                detail: "a platform is named `linux/<arch>` and has an `arch` and a `cpu`".into(),
            });
        }
    }
    Ok(file.platform)
}

/// Parses one file and checks every template in it.
fn parse(path: &Path, text: &str) -> Result<ToolchainFile, ToolchainError> {
    let file: ToolchainFile = toml::from_str(text).map_err(|e| ToolchainError::Parse {
        path: path.to_owned(),
        detail: e.to_string().trim_end().replace('\n', " "),
    })?;
    let mut names = std::collections::BTreeSet::new();
    for name in file
        .strategy
        .iter()
        .map(|s| &s.name)
        .chain(file.build_system.iter().map(|b| &b.name))
    {
        if !names.insert(name) {
            return Err(ToolchainError::Duplicate {
                path: path.to_owned(),
                name: name.clone(),
            });
        }
    }
    let bad = |entry: &str, detail: String| ToolchainError::Template {
        path: path.to_owned(),
        entry: entry.to_string(),
        detail,
    };
    for s in &file.strategy {
        let texts = s
            .requires
            .iter()
            .chain(s.rust_target.iter())
            .chain(s.host.iter())
            .chain(s.cc.iter().flatten())
            .chain(s.ar.iter().flatten())
            .chain(s.cxx.iter().flatten())
            .chain(s.cmake_toolchain.iter())
            .chain(s.strip.iter().flatten())
            .chain(&s.cflags)
            .chain(&s.ldflags)
            .chain(&s.tags)
            .chain(s.env.iter().chain(&s.env_default).flat_map(|(k, v)| [k, v]))
            .chain([&s.summary, &s.install]);
        for t in texts {
            Template::check(t).map_err(|d| bad(&format!("strategy `{}`", s.name), d))?;
        }
    }
    for b in &file.build_system {
        for t in b
            .steps
            .iter()
            .flat_map(|s| s.run().iter().chain(s.unless().map(|_| &b.name)))
            .chain(&b.requires)
            .chain(b.env.iter().chain(&b.env_default).flat_map(|(k, v)| [k, v]))
            .chain(&b.host_dirs)
        {
            Template::check(t).map_err(|d| bad(&format!("build system `{}`", b.name), d))?;
        }
        if b.steps.iter().any(|s| s.run().is_empty()) {
            return Err(bad(
                &format!("build system `{}`", b.name),
                "a step has no command".into(),
            ));
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_files_parse_and_every_language_has_strategies() {
        let t = Toolchains::load(None).unwrap();
        for language in Language::ALL {
            assert!(!t.strategies(language).is_empty(), "{language}");
        }
        let names: Vec<_> = t.build_systems.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["cmake", "configure", "autotools", "make", "bare"]);
        assert!(t.tools.contains_key("zig"));
    }

    #[test]
    fn a_user_folder_comes_first_and_replaces_same_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("c.toml"),
            r#"
[[strategy]]
name = "corp-cc"
summary = "the corporate compiler"
requires = ["corp-cc"]
cc = ["corp-cc", "--target={cpu}"]
install = "ask IT"

[[strategy]]
name = "zig"
summary = "zig, our way"
requires = ["zig"]
cc = ["{zig}", "cc"]
install = "x"
"#,
        )
        .unwrap();
        let t = Toolchains::load(Some(dir.path())).unwrap();
        let names: Vec<_> = t
            .strategies(Language::C)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["corp-cc", "zig", "musl-gcc", "gnu-static"]);
        assert_eq!(t.strategies(Language::C)[1].summary, "zig, our way");
    }

    #[test]
    fn toolchain_examples_in_the_readme_parse() {
        let readme = include_str!("../../README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .collect();
        assert!(!blocks.is_empty());
        for block in blocks {
            // Project settings are the config module's; its own test reads them.
            if block.contains("[package.metadata.static-image]") {
                continue;
            }
            if block.contains("[[platform]]") {
                parse_platforms(Path::new("README.md"), block).unwrap();
            } else {
                parse(Path::new("README.md"), block).unwrap();
            }
        }
    }

    #[test]
    fn bad_files_are_named_with_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("go.toml");
        std::fs::write(&file, "[[strategy]]\nname = \"x\"\nsumary = \"typo\"\n").unwrap();
        let err = Toolchains::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("go.toml") && err.contains("sumary"), "{err}");

        std::fs::write(
            &file,
            "[[strategy]]\nname = \"x\"\nsummary = \"s\"\ninstall = \"i\"\nrequires = [\"{nope}\"]\n",
        )
        .unwrap();
        let err = Toolchains::load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("strategy `x`") && err.contains("{nope}"),
            "{err}"
        );

        std::fs::remove_file(&file).unwrap();
        std::fs::write(dir.path().join("java.toml"), "").unwrap();
        let err = Toolchains::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("java.toml"), "{err}");
    }
}
