//! Where a crate sits in the binary's dependency graph for the target: `cargo metadata
//! --filter-platform TRIPLE`, walked from the binary's package along normal dependencies (what
//! links), with the features each crate was resolved with and the path that pulls it in.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, PackageId};

use crate::detect::PackageInfo;
use crate::detect::rust::cargo_program;
use crate::exec::Cmd;
use crate::ui::Ui;

/// A crate found in the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its features, as resolved.
    pub features: Vec<String>,
    /// The crates from the binary's package to it, both included, each with its version.
    pub chain: Vec<(String, String)>,
}

/// The linked graph of the binary's package.
pub struct Graph {
    metadata: Metadata,
    root: PackageId,
}

/// What the graph is asked with.
pub struct Query<'a> {
    /// The project's manifest.
    pub manifest: &'a Path,
    /// The binary's package.
    pub package: &'a PackageInfo,
    /// The target triple.
    pub triple: &'a str,
    /// Feature flags given to cargo.
    pub features: &'a [String],
    /// `--offline`.
    pub offline: bool,
}

impl Graph {
    /// Asks cargo. The error is cargo's first line, for a message.
    pub fn ask(query: &Query<'_>, ui: &Ui) -> Result<Graph, String> {
        let root_dir = query.manifest.parent().unwrap_or(Path::new("."));
        let mut cmd = Cmd::new("cargo metadata", cargo_program())
            .args([
                "metadata",
                "--format-version",
                "1",
                "--filter-platform",
                query.triple,
                "--manifest-path",
            ])
            .arg(query.manifest)
            .args(query.features)
            .cwd(root_dir);
        if query.offline {
            cmd = cmd.arg("--offline");
        }
        let json = cmd
            .capture(ui)
            .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string())?;
        let metadata = MetadataCommand::parse(json).map_err(|e| e.to_string())?;
        let root = metadata
            .workspace_packages()
            .into_iter()
            .find(|p| {
                p.name.as_str() == query.package.name
                    && p.version.to_string() == query.package.version
            })
            .map(|p| p.id.clone())
            .ok_or_else(|| format!("package `{}` is not in the workspace", query.package.name))?;
        Ok(Graph { metadata, root })
    }

    /// `name` among the crates that link into the binary (a breadth-first walk, so the chain
    /// is a shortest one), if it is there.
    pub fn find(&self, name: &str) -> Option<Found> {
        let resolve = self.metadata.resolve.as_ref()?;
        let nodes: BTreeMap<&PackageId, &cargo_metadata::Node> =
            resolve.nodes.iter().map(|n| (&n.id, n)).collect();
        let packages: BTreeMap<&PackageId, &cargo_metadata::Package> =
            self.metadata.packages.iter().map(|p| (&p.id, p)).collect();
        let mut parent: BTreeMap<&PackageId, &PackageId> = BTreeMap::new();
        let mut todo = VecDeque::from([&self.root]);
        while let Some(id) = todo.pop_front() {
            let package = packages.get(id)?;
            if package.name.as_str() == name {
                let mut chain = Vec::new();
                let mut at = id;
                loop {
                    let p = packages.get(at)?;
                    chain.push((p.name.to_string(), p.version.to_string()));
                    match parent.get(at) {
                        Some(up) => at = up,
                        None => break,
                    }
                }
                chain.reverse();
                let features = nodes
                    .get(id)
                    .map(|n| n.features.iter().map(|f| f.to_string()).collect())
                    .unwrap_or_default();
                return Some(Found { features, chain });
            }
            let Some(node) = nodes.get(id) else { continue };
            for dep in &node.deps {
                let normal = dep
                    .dep_kinds
                    .iter()
                    .any(|k| k.kind == DependencyKind::Normal);
                if normal && dep.pkg != self.root && !parent.contains_key(&dep.pkg) {
                    parent.insert(&dep.pkg, id);
                    todo.push_back(&dep.pkg);
                }
            }
        }
        None
    }
}
