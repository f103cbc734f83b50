//! Go modules: a `go.mod` → [`GoProject`].
//!
//! Read from the files, without running `go` (detection must work before any toolchain is
//! chosen): the module path and Go version from `go.mod`, whether a `vendor/` folder holds the
//! dependencies, and the main packages: the module root when it is `package main`, else each
//! `cmd/*` directory that is.

use std::fs;
use std::path::{Path, PathBuf};

use super::DetectError;

/// A Go module to build.
#[derive(Clone, Debug)]
pub struct GoProject {
    /// The directory holding `go.mod`.
    pub root: PathBuf,
    /// The module path (`example.com/app`).
    pub module: String,
    /// The `go` line, if any.
    pub go_version: Option<String>,
    /// `vendor/modules.txt` exists: build with `-mod=vendor`.
    pub vendor: bool,
    /// Main packages as `go build` takes them: `.` or `./cmd/name`.
    pub mains: Vec<String>,
}

impl GoProject {
    /// The package to build: `wanted`, the root's main, or the only `cmd/*` main.
    pub fn select_package(&self, wanted: Option<&str>) -> Result<String, DetectError> {
        if let Some(w) = wanted {
            return Ok(w.to_string());
        }
        match self.mains.as_slice() {
            [] => Err(DetectError::NoMainPackage {
                root: self.root.clone(),
            }),
            [only] => Ok(only.clone()),
            several if several.iter().any(|m| m == ".") => Ok(".".into()),
            several => Err(DetectError::SeveralMainPackages {
                root: self.root.clone(),
                packages: several.to_vec(),
            }),
        }
    }

    /// The program's name for a package: its last path element, or the module's for `.`.
    pub fn program_name(&self, package: &str) -> String {
        let path = package.trim_end_matches(['/', '.']);
        let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
        if path.is_empty() || package == "." {
            // A major-version suffix (`example.com/app/v2`) is not the program's name.
            let module = self.module.trim_end_matches(|c: char| c.is_ascii_digit());
            let module = module.strip_suffix("/v").unwrap_or(&self.module);
            last(module)
        } else {
            last(path)
        }
    }
}

/// Describes the module rooted at `root`.
pub fn detect(root: &Path) -> Result<GoProject, DetectError> {
    let go_mod = root.join("go.mod");
    let text = fs::read_to_string(&go_mod).map_err(|source| DetectError::Read {
        path: go_mod.clone(),
        source,
    })?;
    let (module, go_version) = parse_go_mod(&text);
    let module = module.ok_or(DetectError::NoModule { path: go_mod })?;
    let mut mains = Vec::new();
    if is_main_package(root) {
        mains.push(".".to_string());
    }
    if let Ok(entries) = fs::read_dir(root.join("cmd")) {
        let mut cmds: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir() && is_main_package(&e.path()))
            .map(|e| format!("./cmd/{}", e.file_name().to_string_lossy()))
            .collect();
        cmds.sort();
        mains.extend(cmds);
    }
    Ok(GoProject {
        root: root.to_owned(),
        module,
        go_version,
        vendor: root.join("vendor/modules.txt").is_file(),
        mains,
    })
}

/// The `module` and `go` directives of a go.mod.
fn parse_go_mod(text: &str) -> (Option<String>, Option<String>) {
    let mut module = None;
    let mut go = None;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("module"), Some(m)) => module = Some(m.trim_matches('"').to_string()),
            (Some("go"), Some(v)) => go = Some(v.to_string()),
            _ => {}
        }
    }
    (module, go)
}

/// Whether a directory's non-test Go files declare `package main`.
fn is_main_package(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.ends_with(".go")
            && !name.ends_with("_test.go")
            && fs::read_to_string(e.path()).is_ok_and(|src| package_clause(&src) == Some("main"))
    })
}

/// The package name of a Go source file: the first `package` clause outside comments.
fn package_clause(src: &str) -> Option<&str> {
    let mut in_block = false;
    for line in src.lines() {
        let mut line = line.trim();
        if in_block {
            match line.find("*/") {
                Some(end) => {
                    in_block = false;
                    line = line[end + 2..].trim();
                }
                None => continue,
            }
        }
        if let Some(start) = line.strip_prefix("/*") {
            if !start.contains("*/") {
                in_block = true;
            }
            continue;
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        return line
            .strip_prefix("package ")
            .map(|rest| rest.split_whitespace().next().unwrap_or(""));
    }
    None
}

/// What marks `dir` as a Go project from before modules: Go files (at the root or in
/// `cmd/*`) with no `go.mod`, beside a dependency folder or manifest of that era (`vendor/`,
/// dep's `Gopkg.toml`, glide's `glide.yaml`, `vendor.conf`, docker/cli's `vendor.mod`).
pub fn gopath_marker(dir: &Path) -> Option<String> {
    if dir.join("go.mod").exists() {
        return None;
    }
    let has_go = |d: &Path| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().is_file() && e.file_name().to_string_lossy().ends_with(".go"))
    };
    let in_cmd = std::fs::read_dir(dir.join("cmd"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().is_dir() && has_go(&e.path()));
    if !(has_go(dir) || in_cmd) {
        return None;
    }
    [
        "vendor.mod",
        "Gopkg.toml",
        "glide.yaml",
        "vendor.conf",
        "vendor",
    ]
    .into_iter()
    .find(|m| dir.join(m).exists())
    .map(|m| {
        if m == "vendor" {
            "vendor/".into()
        } else {
            m.to_string()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_module_and_go_lines() {
        let (m, g) =
            parse_go_mod("// c\nmodule example.com/app // x\n\ngo 1.22\n\nrequire (\n a v1\n)\n");
        assert_eq!(m.as_deref(), Some("example.com/app"));
        assert_eq!(g.as_deref(), Some("1.22"));
    }

    #[test]
    fn finds_the_package_clause_after_comments() {
        assert_eq!(
            package_clause(
                "// Copyright\n/* block\n package nope */\n//go:build linux\n\npackage main\n"
            ),
            Some("main")
        );
        assert_eq!(package_clause("package lib // a lib"), Some("lib"));
        assert_eq!(package_clause("// only comments"), None);
    }

    #[test]
    fn picks_root_or_only_cmd_and_lists_several() {
        let project = |mains: &[&str]| GoProject {
            root: "/m".into(),
            module: "example.com/tool/v2".into(),
            go_version: None,
            vendor: false,
            mains: mains.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            project(&[".", "./cmd/a"]).select_package(None).unwrap(),
            "."
        );
        assert_eq!(
            project(&["./cmd/a"]).select_package(None).unwrap(),
            "./cmd/a"
        );
        let err = project(&["./cmd/a", "./cmd/b"])
            .select_package(None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`/m` has several main packages: `./cmd/a`, `./cmd/b`"
        );
        assert!(project(&[]).select_package(None).is_err());
        assert_eq!(project(&[]).select_package(Some("./x")).unwrap(), "./x");
        assert_eq!(project(&[]).program_name("."), "tool");
        assert_eq!(project(&[]).program_name("./cmd/server/"), "server");
    }

    #[test]
    fn a_vendored_go_tree_without_go_mod_is_gopath_era() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("cmd/docker")).unwrap();
        std::fs::write(root.join("Makefile"), "all:\n").unwrap();
        assert_eq!(gopath_marker(root), None);
        std::fs::write(root.join("cmd/docker/docker.go"), "package main\n").unwrap();
        assert_eq!(gopath_marker(root), None);
        std::fs::create_dir(root.join("vendor")).unwrap();
        assert_eq!(gopath_marker(root).as_deref(), Some("vendor/"));
        std::fs::write(root.join("vendor.mod"), "module x\n").unwrap();
        assert_eq!(gopath_marker(root).as_deref(), Some("vendor.mod"));
        std::fs::write(root.join("go.mod"), "module x\n").unwrap();
        assert_eq!(gopath_marker(root), None);
    }
}
