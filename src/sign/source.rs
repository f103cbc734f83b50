//! What a build read, for its provenance: the source (a git commit with a dirty flag, else a
//! digest of the tree) and the lockfiles, each named relative to the project so the statement
//! does not change with where the checkout lives.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::key::hex;
use super::provenance::Resource;
use crate::exec::Cmd;
use crate::ui::Ui;

/// Lockfiles that pin what a build fetches, by the name each ecosystem gives it.
const LOCKFILES: [&str; 3] = ["Cargo.lock", "go.sum", "vendor/modules.txt"];

/// A tree with more entries than this is not hashed (the provenance says so instead): the
/// walk must stay bounded in a folder that is not a project's.
const MAX_TREE_ENTRIES: usize = 200_000;

/// The source the build read: `root`'s git commit (and whether the work tree differs from it),
/// else the SHA-256 of its files (see [`tree_digest`]).
pub fn source(root: &Path, ui: &Ui) -> Resource {
    let git = |args: &[&str]| {
        Cmd::new("read the project's git commit", "git")
            .args(args)
            .cwd(root)
            .capture(ui)
            .ok()
    };
    // Only a checkout whose top is the project (or above it) counts; `git` finds one upward.
    if let Some(commit) = git(&["rev-parse", "--verify", "HEAD"]) {
        let commit = commit.trim().to_string();
        let dirty = git(&[
            "status",
            "--porcelain",
            "--untracked-files=normal",
            "--",
            ".",
        ])
        .is_none_or(|s| !s.trim().is_empty());
        let mut resource = Resource::with_digest("source", "gitCommit", &commit);
        resource
            .annotations
            .insert("dirty".into(), dirty.to_string());
        return resource;
    }
    match tree_digest(root) {
        Some(digest) => Resource::with_digest("source", "sha256", &digest),
        None => Resource {
            name: Some("source".into()),
            annotations: [(
                "digest".into(),
                format!("not computed: more than {MAX_TREE_ENTRIES} entries"),
            )]
            .into(),
            ..Resource::default()
        },
    }
}

/// Each lockfile the project has, with its SHA-256.
pub fn lockfiles(root: &Path) -> Vec<Resource> {
    LOCKFILES
        .iter()
        .filter_map(|name| {
            let bytes = std::fs::read(root.join(name)).ok()?;
            Some(Resource::with_digest(
                name,
                "sha256",
                &hex(&Sha256::digest(&bytes)),
            ))
        })
        .collect()
}

/// The SHA-256 over every entry under `root` in path order: its relative path, its kind and
/// its content's digest (a link's target). `.git`, `target` and folders marked with
/// `CACHEDIR.TAG` are left out, as they hold no source. Links are not followed.
pub fn tree_digest(root: &Path) -> Option<String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("CACHEDIR.TAG").exists() {
            continue;
        }
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read.flatten() {
            if entries.len() + stack.len() > MAX_TREE_ENTRIES {
                return None;
            }
            let path = entry.path();
            let name = entry.file_name();
            if dir == root && (name == ".git" || name == "target") {
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap_or_default();
                entries.push((relative, format!("link {}", target.to_string_lossy())));
            } else if kind.is_file() {
                let digest = std::fs::read(&path)
                    .map(|b| hex(&Sha256::digest(&b)))
                    .unwrap_or_default();
                entries.push((relative, format!("file {digest}")));
            }
        }
    }
    entries.sort();
    let mut hash = Sha256::new();
    for (path, what) in entries {
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update(what.as_bytes());
        hash.update([b'\n']);
    }
    Some(hex(&hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_digest_follows_content_and_names_not_the_folder_or_outputs() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            std::fs::create_dir_all(dir.join("src")).unwrap();
            std::fs::write(dir.join("src/main.c"), "int main(){}").unwrap();
        }
        std::fs::create_dir_all(b.path().join("target")).unwrap();
        std::fs::write(b.path().join("target/app"), "built").unwrap();
        assert_eq!(tree_digest(a.path()), tree_digest(b.path()));
        std::fs::write(b.path().join("src/main.c"), "int main(){return 1;}").unwrap();
        assert_ne!(tree_digest(a.path()), tree_digest(b.path()));
    }
}
