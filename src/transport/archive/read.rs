//! Unpacking an OCI archive (`oci-archive:FILE`) into a private directory to read as a layout.

use crate::staging::{Staged, private_dir};
use std::fs::{self, File};
use std::io;
use std::path::{Component, Path};

use crate::transport::layout::read::open_regular;
use crate::transport::read::limits::MAX_ARCHIVE_ENTRIES;
use crate::transport::read::{BaseError, MaxBlobSize};

/// Unpacks an OCI archive into a temporary directory, refusing anything but plain files and
/// directories under relative, `..`-free paths.
///
/// What is written is bounded by the archive itself: only regular files are unpacked, and
/// their bytes come from the archive (a sparse entry, which could expand holes to any size,
/// and a hard link, which could name any file, are refused). An entry larger than `max`
/// and an archive of more than [`MAX_ARCHIVE_ENTRIES`] entries are refused too.
pub(crate) fn unpack_archive(
    file: &Path,
    spec: &str,
    max: MaxBlobSize,
) -> Result<Staged, BaseError> {
    let read_error = |source| BaseError::Read {
        spec: spec.to_string(),
        path: file.to_owned(),
        source,
    };
    let invalid = |detail: String| BaseError::Invalid {
        spec: spec.to_string(),
        detail,
    };
    let dir = private_dir("static-image-base").map_err(read_error)?;
    // The archive is a path the user named: a link to it is followed, a FIFO is not waited on.
    let (opened, _) = open_regular(spec, file, true)?;
    let mut archive = tar::Archive::new(io::BufReader::new(opened));
    for (count, entry) in archive.entries().map_err(read_error)?.enumerate() {
        if count >= MAX_ARCHIVE_ENTRIES {
            return Err(BaseError::TooMany {
                spec: spec.to_string(),
                what: "archive entries",
                limit: MAX_ARCHIVE_ENTRIES as u64,
            });
        }
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
                if entry.size() > max.bytes() {
                    return Err(BaseError::TooLarge {
                        spec: spec.to_string(),
                        blob: path.display().to_string(),
                        claimed: entry.size(),
                        limit: max,
                    });
                }
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(read_error)?;
                }
                let mut out = File::create(&target).map_err(read_error)?;
                io::copy(&mut entry, &mut out).map_err(read_error)?;
            }
            other => {
                let kind = match other {
                    tar::EntryType::Link => "hard link".to_string(),
                    tar::EntryType::Symlink => "symbolic link".to_string(),
                    tar::EntryType::GNUSparse => "sparse file".to_string(),
                    other => format!("{other:?}"),
                };
                return Err(invalid(format!(
                    "archive entry `{}` is a {kind}, not a file or directory",
                    path.display()
                )));
            }
        }
    }
    Ok(dir)
}
