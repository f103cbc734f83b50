//! What an output may touch: existing targets and layouts are read as untrusted, and outputs
//! may not name each other or the run's inputs.
//!
//! Files of an existing layout are opened with `O_NOFOLLOW | O_NONBLOCK` and judged by
//! `fstat` on the open descriptor, so a symlink is never followed and a FIFO never blocks.
//! A blob already in a target layout is trusted only once its size and SHA-256 match.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use super::OutputError;
use crate::cache::layers::LayerCache;
use crate::fsguard::{OpenFailure, kind, open_regular};
use crate::transport::reference::ImageRef;

/// The largest `index.json` or `oci-layout` read from an existing layout; ours are a few KiB.
pub const MAX_LAYOUT_FILE: u64 = 4 << 20;

/// Reads a small regular file of an existing layout (`index.json`, `oci-layout`), refusing a
/// symlink, a device, a FIFO, or one larger than [`MAX_LAYOUT_FILE`].
pub(crate) fn read_layout_file(dir: &Path, name: &str) -> Result<Vec<u8>, OutputError> {
    let bad = |detail: String| OutputError::BadLayout {
        path: dir.to_owned(),
        detail,
    };
    let (file, meta) = match open_regular(&dir.join(name), false) {
        Ok(opened) => opened,
        Err(OpenFailure::Kind(kind)) => {
            return Err(bad(format!("`{name}` is {kind}, not a regular file")));
        }
        Err(OpenFailure::Io(e)) => return Err(bad(format!("cannot read `{name}`: {e}"))),
    };
    if meta.len() > MAX_LAYOUT_FILE {
        return Err(bad(format!(
            "`{name}` is {} bytes, more than the {MAX_LAYOUT_FILE} bytes an index may have",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    // Bounded even if the file grows while it is read.
    file.take(MAX_LAYOUT_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot read `{name}`: {e}")))?;
    if bytes.len() as u64 > MAX_LAYOUT_FILE {
        return Err(bad(format!(
            "`{name}` grew past {MAX_LAYOUT_FILE} bytes while it was read"
        )));
    }
    Ok(bytes)
}

/// Checks that `path` (a layout's `blobs` or `blobs/sha256`) is a real directory if it exists,
/// so nothing is written through a symlink.
pub(crate) fn check_layout_dir(layout: &Path, path: &Path) -> Result<(), OutputError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(meta) => Err(OutputError::BadLayout {
            path: layout.to_owned(),
            detail: format!(
                "`{}` is {}, not a directory",
                path.strip_prefix(layout).unwrap_or(path).display(),
                kind(&meta.file_type())
            ),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(OutputError::Write {
            path: path.to_owned(),
            source: e,
        }),
    }
}

/// What a blob file found in a target layout is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BlobState {
    /// Nothing there.
    Missing,
    /// A regular file with the right size and digest.
    Whole,
    /// Something else that may be replaced by ours: why it is wrong.
    Wrong(String),
    /// A directory: it cannot be replaced without deleting what it holds.
    Directory,
}

/// Blobs already checked whole in this run: (device, inode, size, mtime, ctime, digest).
type Checked = (u64, u64, u64, i64, i64, String);
static CHECKED: Mutex<Option<HashSet<Checked>>> = Mutex::new(None);

/// Judges the file at `path` as blob `digest` of `size` bytes (when known), hashing it (once
/// per run and file).
pub(crate) fn check_blob(
    path: &Path,
    digest: &str,
    size: Option<u64>,
    memo: Option<&LayerCache>,
) -> BlobState {
    let (file, meta) = match open_regular(path, false) {
        Ok(opened) => opened,
        Err(OpenFailure::Kind("a directory")) => return BlobState::Directory,
        Err(OpenFailure::Kind(kind)) => return BlobState::Wrong(format!("it was {kind}")),
        Err(OpenFailure::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            return BlobState::Missing;
        }
        Err(OpenFailure::Io(e)) => return BlobState::Wrong(format!("it could not be read: {e}")),
    };
    if let Some(size) = size.filter(|s| *s != meta.len()) {
        return BlobState::Wrong(format!("it was {} bytes, not {size}", meta.len()));
    }
    let key: Checked = (
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
        meta.ctime_nsec() + meta.ctime() * 1_000_000_000,
        digest.to_string(),
    );
    let checked = |f: &dyn Fn(&mut HashSet<Checked>) -> bool| {
        let mut guard = CHECKED.lock().unwrap_or_else(|p| p.into_inner());
        f(guard.get_or_insert_with(HashSet::new))
    };
    if checked(&|set| set.contains(&key)) {
        return BlobState::Whole;
    }
    // A blob unchanged (by its stat stamp) since an earlier run hashed it is not read again:
    // the layer cache's file memo, under the same freshness rule as the binaries'.
    let found = match memo {
        Some(memo) => memo.file_digest(path),
        None => crate::image::blob::sha256_of(file),
    };
    match found {
        Ok(found) if found == digest => {
            checked(&|set| set.insert(key.clone()));
            BlobState::Whole
        }
        Ok(found) => BlobState::Wrong(format!("its content hashes to {found}")),
        Err(e) => BlobState::Wrong(format!("it could not be read: {e}")),
    }
}

/// Refuses an output target that is a symlink, a device, a FIFO or a socket, and (for
/// archives) a directory. `Ok(None)` when nothing is there.
pub(crate) fn check_target(path: &Path, want_dir: bool) -> Result<Option<Metadata>, OutputError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(OutputError::Write {
                path: path.to_owned(),
                source: e,
            });
        }
    };
    let t = meta.file_type();
    let expected = match (want_dir, t.is_dir(), t.is_file()) {
        (true, true, _) | (false, _, true) => return Ok(Some(meta)),
        (true, _, true) => "an OCI image layout (it is a file)",
        (false, true, _) => "a file (it is a directory)",
        _ => match (want_dir, kind(&meta.file_type())) {
            (true, "a symbolic link") => {
                "an OCI image layout (it is a symbolic link; name the directory it points to)"
            }
            (false, "a symbolic link") => {
                "a regular file (it is a symbolic link, which is never written through)"
            }
            (_, "a FIFO") => "a place for an image (it is a FIFO)",
            (_, "a socket") => "a place for an image (it is a socket)",
            (_, "a block device") => "a place for an image (it is a block device)",
            _ => "a place for an image (it is a character device)",
        },
    };
    Err(OutputError::NotOurs {
        path: path.to_owned(),
        expected,
    })
}

/// What is at an `oci:` target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayoutTarget {
    /// Nothing, or an empty directory: a new layout goes there.
    New,
    /// An OCI layout: the image is merged into it.
    Existing,
}

/// Judges an `oci:` target; anything but nothing, an empty directory or a layout is in the way,
/// and so is a symlink, a device, a FIFO or a socket (never replaced, never written through).
pub(crate) fn layout_target(dir: &Path) -> Result<LayoutTarget, OutputError> {
    if check_target(dir, true)?.is_none() {
        return Ok(LayoutTarget::New);
    }
    match fs::symlink_metadata(dir.join("oci-layout")) {
        Ok(meta) if meta.is_file() => return Ok(LayoutTarget::Existing),
        Ok(meta) => {
            return Err(OutputError::BadLayout {
                path: dir.to_owned(),
                detail: format!(
                    "`oci-layout` is {}, not a regular file",
                    kind(&meta.file_type())
                ),
            });
        }
        Err(_) => {}
    }
    if fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()) {
        return Ok(LayoutTarget::New);
    }
    Err(OutputError::NotOurs {
        path: dir.to_owned(),
        expected: "an OCI image layout (it has no `oci-layout` file)",
    })
}

/// Judges an archive target: a regular file is replaced; a directory, a symlink, a device,
/// a FIFO or a socket is in the way.
pub(crate) fn archive_target(file: &Path) -> Result<(), OutputError> {
    check_target(file, false).map(|_| ())
}

/// One path a run reads, for [`check_outputs`].
#[derive(Clone, Debug)]
pub struct Input<'a> {
    /// What it is, for the message ("the binary", "the `--add` source").
    pub role: &'static str,
    /// The path as given.
    pub path: &'a Path,
}

/// Refuses, before any work, outputs that name the same file or directory (or one inside
/// another), and outputs that are, hold or lie inside one of `inputs`. Paths are compared
/// after resolving symlinks and `..` in the part that exists.
pub fn check_outputs(outputs: &[ImageRef], inputs: &[Input<'_>]) -> Result<(), OutputError> {
    let mut seen: Vec<(PathBuf, &Path)> = Vec::new();
    for output in outputs {
        let given = match output {
            ImageRef::Oci { dir, .. } => dir.as_path(),
            ImageRef::OciArchive { file, .. } | ImageRef::DockerArchive { file, .. } => {
                file.as_path()
            }
            ImageRef::Registry(_) => continue,
        };
        let resolved = resolve(given);
        for (other, other_given) in &seen {
            if overlaps(&resolved, other) {
                return Err(OutputError::Overlap {
                    path: given.to_owned(),
                    other: other_given.to_path_buf(),
                    role: "another output",
                });
            }
        }
        for input in inputs {
            if overlaps(&resolved, &resolve(input.path)) {
                return Err(OutputError::Overlap {
                    path: given.to_owned(),
                    other: input.path.to_owned(),
                    role: input.role,
                });
            }
        }
        seen.push((resolved, given));
    }
    Ok(())
}

/// One path is the other or lies inside it.
fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// `path` made absolute, with its longest existing ancestor canonicalised and the rest
/// normalised (`.` dropped, `..` taking one component off).
pub(crate) fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut existing = absolute.as_path();
    let mut rest: Vec<Component<'_>> = Vec::new();
    let base = loop {
        if let Ok(real) = fs::canonicalize(existing) {
            break real;
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                existing = parent;
            }
            _ => break PathBuf::from("/"),
        }
    };
    let mut out = base;
    for component in rest.into_iter().rev() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_file_under_two_spellings_is_one_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(root.join("x")).unwrap();
        std::os::unix::fs::symlink(root.join("x"), root.join("link")).unwrap();
        assert_eq!(resolve(&root.join("x/../a.tar")), root.join("a.tar"));
        assert_eq!(resolve(&root.join("link/a.tar")), root.join("x/a.tar"));
        assert_eq!(resolve(&root.join("new/./b/../c")), root.join("new/c"));
    }

    #[test]
    fn a_blob_is_whole_only_with_its_size_and_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        fs::write(&path, b"hello").unwrap();
        let digest = crate::image::blob::sha256_of(&b"hello"[..]).unwrap();
        assert_eq!(check_blob(&path, &digest, Some(5), None), BlobState::Whole);
        assert_eq!(
            check_blob(&path, &digest, Some(6), None),
            BlobState::Wrong("it was 5 bytes, not 6".into())
        );
        fs::write(&path, b"jello").unwrap();
        assert!(matches!(
            check_blob(&path, &digest, Some(5), None),
            BlobState::Wrong(_)
        ));
        fs::remove_file(&path).unwrap();
        assert_eq!(
            check_blob(&path, &digest, Some(5), None),
            BlobState::Missing
        );
        std::os::unix::fs::symlink("/etc/hostname", &path).unwrap();
        assert_eq!(
            check_blob(&path, &digest, Some(5), None),
            BlobState::Wrong("it was a symbolic link".into())
        );
    }
}
