//! Unpacking an OCI archive (`oci-archive:FILE`) into a private directory to read as a layout.

use std::fs::{self, File};
use std::io;
use std::path::{Component, Path};

use super::BaseError;

/// Unpacks an OCI archive into a temporary directory, refusing anything but plain files and
/// directories under relative, `..`-free paths.
pub(super) fn unpack_archive(file: &Path, spec: &str) -> Result<tempfile::TempDir, BaseError> {
    let read_error = |source| BaseError::Read {
        spec: spec.to_string(),
        path: file.to_owned(),
        source,
    };
    let invalid = |detail: String| BaseError::Invalid {
        spec: spec.to_string(),
        detail,
    };
    let dir = tempfile::Builder::new()
        .prefix("static-image-base.")
        .tempdir()
        .map_err(read_error)?;
    let mut archive = tar::Archive::new(File::open(file).map_err(read_error)?);
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let path = entry.path().map_err(read_error)?.into_owned();
        let safe = path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !safe {
            return Err(invalid(format!(
                "archive entry `{}` escapes the archive",
                path.display()
            )));
        }
        let target = dir.path().join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&target).map_err(read_error)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(read_error)?;
                }
                let mut out = File::create(&target).map_err(read_error)?;
                io::copy(&mut entry, &mut out).map_err(read_error)?;
            }
            other => {
                return Err(invalid(format!(
                    "archive entry `{}` is a {other:?}, not a file or directory",
                    path.display()
                )));
            }
        }
    }
    Ok(dir)
}
