//! A Cargo package's linked dependencies: `cargo metadata --filter-platform TRIPLE`, walked
//! from the binary's package along normal dependencies only. Build and dev dependencies, and
//! proc-macros with everything only they use, run at build time and are not in the binary.
//!
//! The answer depends only on `Cargo.lock` and the manifests of the local packages (registry
//! packages are immutable per version), so it is kept in the layer cache with their stamps and
//! reused under the cache's freshness rule (`cache::stamp`): a build with nothing to do asks
//! cargo nothing more.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, PackageId, TargetKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Component, Facts, Role, purl};
use crate::cache::stamp::Stamps;
use crate::cache::write_atomic;
use crate::detect::PackageInfo;
use crate::detect::rust::cargo_program;
use crate::exec::Cmd;
use crate::image::blob::to_hex;
use crate::ui::Ui;

/// Which binary, for which target, with which features.
pub struct Query<'a> {
    /// The manifest the build used.
    pub manifest: &'a Path,
    /// The package the binary belongs to.
    pub package: &'a PackageInfo,
    /// The target triple built for.
    pub triple: &'a str,
    /// The feature flags given to cargo (`--features`, `--all-features`, …).
    pub features: Vec<String>,
    /// `--offline`.
    pub offline: bool,
}

/// The feature flags among cargo's arguments: they change which optional dependencies link.
pub fn feature_flags(build_args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = build_args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--all-features" | "--no-default-features" => out.push(arg.clone()),
            "--features" | "-F" => {
                if let Some(value) = args.next() {
                    out.push(format!("--features={value}"));
                }
            }
            _ if arg.starts_with("--features=") => out.push(arg.clone()),
            _ if arg.starts_with("-F") => out.push(format!("--features={}", &arg[2..])),
            _ => {}
        }
    }
    out
}

/// What is remembered of an answer.
#[derive(Serialize, Deserialize)]
struct Remembered {
    version: String,
    /// The stamps of `Cargo.lock` and of every local package's manifest when cargo answered.
    stamps: Stamps,
    facts: Facts,
}

/// The binary's package and what links into it; a failure to ask cargo is a gap, not an error
/// (the image is still made, its SBOM says what is missing).
pub fn facts(query: &Query<'_>, cache: Option<&Path>, ui: &Ui) -> Facts {
    let record = cache.map(|dir| {
        let mut key = Sha256::new();
        // The package too: two programs of one workspace link different crates.
        for part in [
            query.manifest.as_os_str().as_encoded_bytes(),
            query.triple.as_bytes(),
            super::vendored::CRATES.as_bytes(),
            query.package.name.as_bytes(),
        ] {
            key.update(part);
            key.update([0]);
        }
        for flag in &query.features {
            key.update(flag.as_bytes());
            key.update([0]);
        }
        dir.join("sbom")
            .join(format!("{}.json", to_hex(&key.finalize())))
    });
    if let Some(record) = &record
        && let Ok(text) = std::fs::read(record)
        && let Ok(old) = serde_json::from_slice::<Remembered>(&text)
        && old.version == env!("CARGO_PKG_VERSION")
        && old.stamps.hold()
    {
        ui.verbose(
            "the dependencies are those of the last build (Cargo.lock and manifests unchanged)",
        );
        return old.facts;
    }
    let began = std::time::SystemTime::now();
    match ask(query, ui) {
        Ok((facts, watched)) => {
            let stamps = Stamps::of(&watched);
            // A file cargo read just after it changed may change again unseen (the freshness
            // rule, `cache::stamp`): then the answer is not kept.
            if let Some(record) = &record
                && stamps.settled_before(began)
            {
                let remembered = Remembered {
                    version: env!("CARGO_PKG_VERSION").into(),
                    stamps,
                    facts: facts.clone(),
                };
                // Remembering only saves the next build a cargo call.
                if let Ok(bytes) = serde_json::to_vec(&remembered) {
                    let _ = write_atomic(record, &bytes);
                }
            }
            facts
        }
        Err(why) => Facts {
            app: Some(app(query.package)),
            parts: Vec::new(),
            gaps: vec![format!(
                "The Rust dependencies are not listed: `cargo metadata` failed ({why})."
            )],
        },
    }
}

fn ask(query: &Query<'_>, ui: &Ui) -> Result<(Facts, Vec<PathBuf>), String> {
    let root = query.manifest.parent().unwrap_or(Path::new("."));
    let mut cmd = Cmd::new("cargo metadata", cargo_program())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            query.triple,
        ])
        .arg("--manifest-path")
        .arg(query.manifest)
        .args(&query.features)
        .cwd(root);
    if query.offline {
        cmd = cmd.arg("--offline");
    }
    let json = cmd.capture(ui).map_err(|e| one_line(&e.to_string()))?;
    let metadata = MetadataCommand::parse(json).map_err(|e| e.to_string())?;
    let facts = linked(&metadata, query.package)?;
    let mut watched = vec![
        metadata
            .workspace_root
            .join("Cargo.lock")
            .into_std_path_buf(),
    ];
    watched.extend(
        metadata
            .packages
            .iter()
            .filter(|p| p.source.is_none())
            .map(|p| p.manifest_path.clone().into_std_path_buf()),
    );
    Ok((facts, watched))
}

fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

/// Walks the resolve graph from `package` along normal dependencies, skipping proc-macros.
fn linked(metadata: &Metadata, package: &PackageInfo) -> Result<Facts, String> {
    let packages: BTreeMap<&PackageId, &cargo_metadata::Package> =
        metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let resolve = metadata
        .resolve
        .as_ref()
        .ok_or("cargo gave no dependency graph")?;
    let nodes: BTreeMap<&PackageId, &cargo_metadata::Node> =
        resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let root = metadata
        .workspace_packages()
        .into_iter()
        .find(|p| p.name.as_str() == package.name && p.version.to_string() == package.version)
        .ok_or_else(|| format!("package `{}` is not in the workspace", package.name))?;
    let proc_macro = |id: &PackageId| {
        packages.get(id).is_some_and(|p| {
            p.targets
                .iter()
                .any(|t| t.kind.contains(&TargetKind::ProcMacro))
        })
    };
    let mut seen: BTreeSet<&PackageId> = BTreeSet::new();
    let mut todo = vec![&root.id];
    while let Some(id) = todo.pop() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in &node.deps {
            let normal = dep
                .dep_kinds
                .iter()
                .any(|k| k.kind == DependencyKind::Normal);
            if normal && !proc_macro(&dep.pkg) && seen.insert(&dep.pkg) {
                todo.push(&dep.pkg);
            }
        }
    }
    let vendored = vendored_libraries(&seen, &packages, &nodes);
    let parts = seen
        .into_iter()
        .filter_map(|id| packages.get(id))
        .map(|p| {
            let version = p.version.to_string();
            let (purl, download, comment) = match &p.source {
                Some(s) if s.is_crates_io() => (
                    Some(purl("cargo", &p.name, Some(&version))),
                    Some(format!(
                        "https://crates.io/api/v1/crates/{}/{version}/download",
                        p.name
                    )),
                    None,
                ),
                Some(s) => (
                    Some(purl("cargo", &p.name, Some(&version))),
                    None,
                    Some(format!("from `{s}`")),
                ),
                None => (None, None, Some("a local package (path dependency)".into())),
            };
            Component {
                purl,
                license: p.license.clone(),
                download,
                comment,
                ..Component::new(Role::Library, p.name.to_string(), Some(version))
            }
        })
        .chain(vendored)
        .collect();
    Ok(Facts {
        app: Some(app(package)),
        parts,
        gaps: Vec::new(),
    })
}

/// The C libraries compiled from crates' own sources into the binary: by the linked crates,
/// or by a build-dependency of one (openssl-src builds OpenSSL for openssl-sys).
fn vendored_libraries(
    linked: &BTreeSet<&PackageId>,
    packages: &BTreeMap<&PackageId, &cargo_metadata::Package>,
    nodes: &BTreeMap<&PackageId, &cargo_metadata::Node>,
) -> Vec<Component> {
    let mut ids: BTreeSet<&PackageId> = linked.clone();
    for id in linked {
        let Some(node) = nodes.get(id) else { continue };
        ids.extend(
            node.deps
                .iter()
                .filter(|d| d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Build))
                .map(|d| &d.pkg),
        );
    }
    let found: Vec<(&cargo_metadata::Package, Vec<String>, String)> = ids
        .into_iter()
        .filter_map(|id| {
            let p = packages.get(id)?;
            let features = nodes
                .get(id)
                .map(|n| n.features.iter().map(|f| f.to_string()).collect())
                .unwrap_or_default();
            Some((*p, features, p.version.to_string()))
        })
        .collect();
    let candidates: Vec<super::vendored::Candidate<'_>> = found
        .iter()
        .map(|(p, features, version)| super::vendored::Candidate {
            name: p.name.as_str(),
            version,
            features,
            dir: p
                .manifest_path
                .parent()
                .map_or(Path::new("."), |d| d.as_std_path()),
        })
        .collect();
    super::vendored::libraries(&candidates)
}

/// The binary's own package.
fn app(package: &PackageInfo) -> Component {
    Component {
        purl: Some(purl("cargo", &package.name, Some(&package.version))),
        license: package.license.clone(),
        download: package.repository.clone(),
        ..Component::new(
            Role::Application,
            &package.name,
            Some(package.version.clone()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_flags_are_picked_from_cargo_arguments() {
        let args: Vec<String> = [
            "--features",
            "tls",
            "-Fjson",
            "--locked",
            "--no-default-features",
            "--features=a,b",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            feature_flags(&args),
            [
                "--features=tls",
                "--features=json",
                "--no-default-features",
                "--features=a,b"
            ]
        );
    }
}
