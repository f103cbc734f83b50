//! Stage `detect`: a path → [`Project`].
//!
//! The language is read from the marker files in the project root, in this order: `Cargo.toml`
//! (Rust), `go.mod` (Go), then the C build systems' markers from `toolchains/c.toml`
//! (`CMakeLists.txt`, `configure`/`configure.ac`, `Makefile`, `*.c`). A path to a `Cargo.toml`
//! or `go.mod` also names its project.

pub mod c;
pub mod go;
pub mod rust;

use std::path::{Path, PathBuf};

pub use c::CProject;
pub use go::GoProject;
pub use rust::{BinTarget, PackageInfo, RustProject, cargo_program, select_bin};

use crate::exec::ExecError;
use crate::toolchain::{Language, Toolchains};
use crate::ui::{Ui, backticked};

/// A project to build.
#[derive(Clone, Debug)]
pub enum Project {
    /// A Cargo project.
    Rust(RustProject),
    /// A Go module.
    Go(GoProject),
    /// A C project.
    C(CProject),
}

impl Project {
    /// Its language.
    pub fn language(&self) -> Language {
        match self {
            Project::Rust(_) => Language::Rust,
            Project::Go(_) => Language::Go,
            Project::C(_) => Language::C,
        }
    }

    /// The directory holding it.
    pub fn root(&self) -> &Path {
        match self {
            Project::Rust(p) => &p.root,
            Project::Go(p) => &p.root,
            Project::C(p) => &p.root,
        }
    }

    /// Where builds and the default image output go: cargo's target directory, and `target/`
    /// in the project root for Go and C (ignored by convention, outside the sources).
    pub fn target_dir(&self) -> PathBuf {
        match self {
            Project::Rust(p) => p.target_dir.clone(),
            Project::Go(_) | Project::C(_) => self.root().join("target"),
        }
    }
}

/// Why no project could be found or described.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The path does not exist.
    #[error("project path `{path}` does not exist")]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// Nothing the tool builds is there.
    #[error(
        "no project in `{path}`: found no `Cargo.toml`, `go.mod`, `CMakeLists.txt`, `configure`, `Makefile` or `*.c`"
    )]
    NoProject {
        /// The directory.
        path: PathBuf,
    },
    /// cargo metadata failed.
    #[error("cannot read the project `{manifest}`")]
    Metadata {
        /// The manifest.
        manifest: PathBuf,
        /// How cargo failed (boxed: errors travel by value).
        #[source]
        source: Box<ExecError>,
    },
    /// cargo metadata printed something we could not parse.
    #[error("cannot understand `cargo metadata` output for `{manifest}`: {detail}")]
    BadMetadata {
        /// The manifest.
        manifest: PathBuf,
        /// The parse error.
        detail: String,
    },
    /// No binary targets.
    #[error("`{manifest}` has no binary target to package")]
    NoBins {
        /// The manifest.
        manifest: PathBuf,
    },
    /// Several binaries and no `--bin`.
    #[error("`{manifest}` has several binary targets: {}", backticked(names))]
    SeveralBins {
        /// The manifest.
        manifest: PathBuf,
        /// Their names.
        names: Vec<String>,
    },
    /// `--bin` names none of them.
    #[error(
        "no binary target `{wanted}` in `{manifest}`; it has: {}",
        backticked(names)
    )]
    UnknownBin {
        /// The name asked for.
        wanted: String,
        /// The manifest.
        manifest: PathBuf,
        /// The names there are.
        names: Vec<String>,
    },
    /// A file that describes the project could not be read.
    /// A Go project from before modules (a `vendor/` and Go files, no `go.mod`).
    #[error(
        "`{root}` is a Go project without `go.mod` (GOPATH era: it has `{marker}`); \
         Go builds here are in module mode"
    )]
    GopathProject {
        /// The project.
        root: PathBuf,
        /// What shows it is one (`vendor/`, `Gopkg.toml`, `vendor.mod`…).
        marker: String,
    },
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `go.mod` has no `module` line.
    #[error("`{path}` has no `module` line")]
    NoModule {
        /// The go.mod.
        path: PathBuf,
    },
    /// No main package at the root or under `cmd/`.
    #[error("`{root}` has no main package at its root or in `cmd/*`")]
    NoMainPackage {
        /// The module root.
        root: PathBuf,
    },
    /// Several `cmd/*` mains and no `--package`.
    #[error("`{root}` has several main packages: {}", backticked(packages))]
    SeveralMainPackages {
        /// The module root.
        root: PathBuf,
        /// `./cmd/…` paths.
        packages: Vec<String>,
    },
    /// A flag that belongs to another language.
    #[error("`{flag}` is for {expected} projects; `{root}` is a {found} project")]
    WrongFlag {
        /// The flag.
        flag: &'static str,
        /// The language it serves.
        expected: &'static str,
        /// The project's language.
        found: Language,
        /// The project.
        root: PathBuf,
    },
}

impl DetectError {
    /// What the user can do about it, when there is something specific to say.
    pub fn help(&self) -> Option<String> {
        match self {
            DetectError::NoProject { .. } => Some(
                "point at a project directory, or package a binary built another way with \
                 `static-image package BIN`"
                    .into(),
            ),
            DetectError::SeveralBins { .. } => Some("pick one with `--bin NAME`".into()),
            DetectError::GopathProject { .. } => Some(
                "make it a module: `go mod init <its import path>`, then `go mod tidy` and \
                 `go mod vendor` where there is a network (commit `go.mod`, `go.sum` and \
                 `vendor/`); or build it with GOPATH and `static-image package` the binary"
                    .into(),
            ),
            DetectError::SeveralMainPackages { packages, .. } => Some(format!(
                "pick one with `--package`, e.g. `--package {}`",
                packages.first().map(String::as_str).unwrap_or("./cmd/NAME")
            )),
            DetectError::Metadata { source, .. } if matches!(**source, ExecError::Spawn { .. }) => Some(
                "install Rust with rustup (https://rustup.rs) so `cargo` is on PATH, or set CARGO"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Finds and describes the project at `path` (a directory, a `Cargo.toml` or a `go.mod`).
pub fn detect(
    path: &Path,
    offline: bool,
    toolchains: &Toolchains,
    ui: &Ui,
) -> Result<Project, DetectError> {
    if !path.exists() {
        return Err(DetectError::NotFound {
            path: path.to_owned(),
        });
    }
    let (dir, file) = if path.is_dir() {
        (path.to_owned(), None)
    } else {
        let dir = path.parent().map(Path::to_owned).unwrap_or_default();
        (
            dir,
            path.file_name().map(|n| n.to_string_lossy().into_owned()),
        )
    };
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    match file.as_deref() {
        None => {}
        Some("go.mod") => return go::detect(&dir).map(Project::Go),
        // Any other file is taken as a Cargo manifest, as cargo's --manifest-path does.
        Some(name) => return rust::detect(&dir.join(name), offline, ui).map(Project::Rust),
    }
    if dir.join("Cargo.toml").is_file() {
        return rust::detect(&dir.join("Cargo.toml"), offline, ui).map(Project::Rust);
    }
    if dir.join("go.mod").is_file() {
        return go::detect(&dir).map(Project::Go);
    }
    // Before C: such a project often has a Makefile too, and would be taken for a C project.
    if let Some(marker) = go::gopath_marker(&dir) {
        return Err(DetectError::GopathProject { root: dir, marker });
    }
    match c::detect(&dir, toolchains)? {
        Some(project) => Ok(Project::C(project)),
        None => Err(DetectError::NoProject { path: dir }),
    }
}
