//! C projects: a directory → [`CProject`], its build system picked by the markers in
//! `toolchains/c.toml` (the first build system with a marker present wins).

use std::fs;
use std::path::{Path, PathBuf};

use super::DetectError;
use crate::toolchain::{BuildSystem, Toolchains};

/// A C project to build.
#[derive(Clone, Debug)]
pub struct CProject {
    /// The project directory.
    pub root: PathBuf,
    /// The directory's name: the program's name for a bare folder of `*.c`.
    pub name: String,
    /// The build system driving it.
    pub build_system: BuildSystem,
    /// The `*.c` files in the root, sorted (what a bare build compiles).
    pub sources: Vec<PathBuf>,
    /// The targets the top-level Makefile names, in its order (none for other build systems):
    /// where to look for the one that builds just the program.
    pub make_targets: Vec<String>,
}

impl CProject {
    /// The program's likely name: the folder's, without a version (`lua5.4-5.4.4` → `lua`) or
    /// the `lib` of a library's source package (`libzstd-1.5.4+dfsg2` → `zstd`).
    pub fn stem(&self) -> String {
        stem(&self.name)
    }
}

/// See [`CProject::stem`].
pub fn stem(name: &str) -> String {
    // A version starts at the first `-` or `_` followed by a digit.
    let cut = name
        .char_indices()
        .find(|&(i, c)| {
            (c == '-' || c == '_') && name[i + 1..].starts_with(|d: char| d.is_ascii_digit())
        })
        .map_or(name, |(i, _)| &name[..i]);
    let cut = cut.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    let cut = cut
        .strip_prefix("lib")
        .filter(|s| !s.is_empty())
        .unwrap_or(cut);
    if cut.is_empty() { name } else { cut }.to_string()
}

/// The rule targets a Makefile names at its top level (`zstd zstd-release:`), each once, not
/// pattern rules, special targets (`.PHONY`) or variable assignments (`CC := …`).
fn makefile_targets(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with(['\t', ' ', '#', '.']) {
            continue;
        }
        let Some((names, rest)) = line.split_once(':') else {
            continue;
        };
        if rest.starts_with('=') || names.contains(['=', '$', '%', '?', '+']) {
            continue;
        }
        for name in names.split_whitespace() {
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// The C project at `root`, if a build system's marker is there.
pub fn detect(root: &Path, toolchains: &Toolchains) -> Result<Option<CProject>, DetectError> {
    let mut files: Vec<String> = fs::read_dir(root)
        .map_err(|source| DetectError::Read {
            path: root.to_owned(),
            source,
        })?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let Some(build_system) = toolchains.build_systems.iter().find(|b| {
        b.markers
            .iter()
            .any(|m| files.iter().any(|f| matches(m, f)))
    }) else {
        return Ok(None);
    };
    let makefile = ["GNUmakefile", "makefile", "Makefile"]
        .iter()
        .find(|m| files.iter().any(|f| f == *m));
    let make_targets = match makefile {
        Some(m) if build_system.name == "make" => fs::read_to_string(root.join(m))
            .map(|text| makefile_targets(&text))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    Ok(Some(CProject {
        root: root.to_owned(),
        name: root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".into()),
        build_system: build_system.clone(),
        sources: files
            .iter()
            .filter(|f| f.ends_with(".c"))
            .map(|f| root.join(f))
            .collect(),
        make_targets,
    }))
}

/// A marker is a file name, or `*.ext` for any file with that extension.
fn matches(marker: &str, file: &str) -> bool {
    match marker.strip_prefix('*') {
        Some(suffix) => file.ends_with(suffix) && file.len() > suffix.len(),
        None => file == marker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_build_system_with_a_marker_wins() {
        let toolchains = Toolchains::load(None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert!(detect(dir.path(), &toolchains).unwrap().is_none());
        fs::write(dir.path().join("main.c"), "int main(){}").unwrap();
        let p = detect(dir.path(), &toolchains).unwrap().unwrap();
        assert_eq!(p.build_system.name, "bare");
        assert_eq!(p.sources, [dir.path().join("main.c")]);
        // Each marker added outranks the ones before it.
        for (marker, system) in [
            ("Makefile", "make"),
            ("configure.ac", "autotools"),
            ("CMakeLists.txt", "cmake"),
        ] {
            fs::write(dir.path().join(marker), "").unwrap();
            let p = detect(dir.path(), &toolchains).unwrap().unwrap();
            assert_eq!(p.build_system.name, system);
        }
    }

    #[test]
    fn a_source_package_folder_names_its_program() {
        assert_eq!(stem("libzstd-1.5.4+dfsg2"), "zstd");
        assert_eq!(stem("lua5.4-5.4.4"), "lua");
        assert_eq!(stem("sqlite3-3.40.1"), "sqlite");
        assert_eq!(stem("redis-7.0.15"), "redis");
        assert_eq!(stem("hello"), "hello");
        assert_eq!(stem("lib"), "lib");
        assert_eq!(stem("2048"), "2048");
    }

    #[test]
    fn makefile_targets_are_rules_not_assignments() {
        let text = "CC := gcc\nPREFIX ?= /usr\n.PHONY: all\ndefault: lib-release zstd-release\n\
                    \tcd lib && $(MAKE)\nzstd zstd-release:\n%.o: %.c\n# x: y\nlib lib-release: x\n";
        assert_eq!(
            makefile_targets(text),
            ["default", "zstd", "zstd-release", "lib", "lib-release"]
        );
    }

    #[test]
    fn globs_match_extensions_only() {
        assert!(matches("*.c", "a.c"));
        assert!(!matches("*.c", ".c"));
        assert!(!matches("*.c", "a.cc"));
        assert!(matches("Makefile", "Makefile"));
    }
}
