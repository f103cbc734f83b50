//! Rust projects: a `Cargo.toml` → [`RustProject`].
//!
//! Described by `cargo metadata --no-deps` (which needs no network): its binary targets, target
//! directory, and the package fields that become image labels (version, description, license,
//! repository).

use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand, Package, TargetKind};
use serde::{Deserialize, Serialize};

use super::DetectError;
use crate::exec::Cmd;
use crate::ui::Ui;

/// A Cargo project to build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RustProject {
    /// The directory holding the manifest.
    pub root: PathBuf,
    /// `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// Cargo's target directory (where builds and our default output go).
    pub target_dir: PathBuf,
    /// Binary targets, in the order cargo lists them.
    pub bins: Vec<BinTarget>,
    /// The manifests of the packages those targets belong to (this one, or a virtual
    /// workspace's members): what a later build checks to trust these answers again.
    #[serde(default)]
    pub manifests: Vec<PathBuf>,
}

/// A binary target and the package it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinTarget {
    /// The target's name (the executable's name).
    pub name: String,
    /// The package's metadata.
    pub package: PackageInfo,
}

/// Package fields that describe the image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageInfo {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// `description`.
    pub description: Option<String>,
    /// `license` (an SPDX expression).
    pub license: Option<String>,
    /// `repository`.
    pub repository: Option<String>,
    /// `homepage`.
    pub homepage: Option<String>,
    /// `authors`, joined.
    pub authors: Option<String>,
}

/// The cargo to run: the one that invoked us (`cargo static-image`, `cargo test`), else PATH's.
pub fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Describes the Rust project whose manifest is `manifest`.
pub fn detect(manifest: &Path, offline: bool, ui: &Ui) -> Result<RustProject, DetectError> {
    let manifest = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_owned());
    let root = manifest.parent().map(Path::to_owned).unwrap_or_default();
    let mut cmd = Cmd::new("cargo metadata", cargo_program())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&manifest)
        .cwd(&root);
    if offline {
        cmd = cmd.arg("--offline");
    }
    let json = cmd.capture(ui).map_err(|source| DetectError::Metadata {
        manifest: manifest.clone(),
        source: Box::new(source),
    })?;
    let metadata = MetadataCommand::parse(json).map_err(|e| DetectError::BadMetadata {
        manifest: manifest.clone(),
        detail: e.to_string(),
    })?;
    Ok(describe(&metadata, &manifest, root))
}

fn describe(metadata: &Metadata, manifest: &Path, root: PathBuf) -> RustProject {
    // The package this manifest defines; a virtual workspace manifest defines none, and then
    // every member's binaries are candidates.
    let own = metadata
        .packages
        .iter()
        .find(|p| p.manifest_path.as_std_path() == manifest);
    let packages: Vec<&Package> = match own {
        Some(p) => vec![p],
        None => metadata.workspace_packages(),
    };
    let bins = packages
        .iter()
        .flat_map(|p| {
            p.targets
                .iter()
                .filter(|t| t.kind.contains(&TargetKind::Bin))
                .map(move |t| BinTarget {
                    name: t.name.clone(),
                    package: package_info(p),
                })
        })
        .collect();
    RustProject {
        root,
        manifest_path: manifest.to_owned(),
        target_dir: metadata.target_directory.clone().into_std_path_buf(),
        bins,
        manifests: packages
            .iter()
            .map(|p| p.manifest_path.clone().into_std_path_buf())
            .collect(),
    }
}

fn package_info(p: &Package) -> PackageInfo {
    PackageInfo {
        name: p.name.to_string(),
        version: p.version.to_string(),
        description: p.description.clone(),
        license: p.license.clone(),
        repository: p.repository.clone(),
        homepage: p.homepage.clone(),
        authors: (!p.authors.is_empty()).then(|| p.authors.join(", ")),
    }
}

/// Picks the binary to build: `--bin`, or the only one.
pub fn select_bin<'a>(
    project: &'a RustProject,
    wanted: Option<&str>,
) -> Result<&'a BinTarget, DetectError> {
    let names = || project.bins.iter().map(|b| b.name.clone()).collect();
    match (wanted, project.bins.as_slice()) {
        (_, []) => Err(DetectError::NoBins {
            manifest: project.manifest_path.clone(),
        }),
        (Some(w), bins) => {
            bins.iter()
                .find(|b| b.name == w)
                .ok_or_else(|| DetectError::UnknownBin {
                    wanted: w.to_string(),
                    manifest: project.manifest_path.clone(),
                    names: names(),
                })
        }
        (None, [only]) => Ok(only),
        (None, _) => Err(DetectError::SeveralBins {
            manifest: project.manifest_path.clone(),
            names: names(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(names: &[&str]) -> RustProject {
        RustProject {
            root: "/p".into(),
            manifest_path: "/p/Cargo.toml".into(),
            target_dir: "/p/target".into(),
            manifests: Vec::new(),
            bins: names
                .iter()
                .map(|n| BinTarget {
                    name: n.to_string(),
                    package: PackageInfo::default(),
                })
                .collect(),
        }
    }

    #[test]
    fn picks_the_only_bin_or_the_named_one() {
        assert_eq!(select_bin(&project(&["a"]), None).unwrap().name, "a");
        assert_eq!(
            select_bin(&project(&["a", "b"]), Some("b")).unwrap().name,
            "b"
        );
    }

    #[test]
    fn several_bins_without_bin_lists_them() {
        let err = select_bin(&project(&["server", "cli"]), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`/p/Cargo.toml` has several binary targets: `server`, `cli`"
        );
        let err = select_bin(&project(&["server"]), Some("x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no binary target `x` in `/p/Cargo.toml`; it has: `server`"
        );
        assert!(matches!(
            select_bin(&project(&[]), None),
            Err(DetectError::NoBins { .. })
        ));
    }
}
