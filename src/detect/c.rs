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
    fn globs_match_extensions_only() {
        assert!(matches("*.c", "a.c"));
        assert!(!matches("*.c", ".c"));
        assert!(!matches("*.c", "a.cc"));
        assert!(matches("Makefile", "Makefile"));
    }
}
