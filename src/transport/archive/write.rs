//! Writing `oci-archive:FILE[:REF]` and `docker-archive:FILE[:REPO:TAG]`: an image in one tar
//! file, an OCI layout in a tar (`oci-layout`, `index.json`, `blobs/sha256/…`); a docker
//! archive adds what [`crate::transport::docker_archive`] makes. Layers stay as compressed
//! as they are; `docker load` and skopeo decompress them.
//!
//! The tar is deterministic (sorted entries, fixed mtime, uid/gid 0), written to a temporary
//! file beside the target, fsynced, and renamed over it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::image::ImageSet;
use crate::image::layer::tar_header;
use crate::staging::{Staged, sweep};
use crate::transport::docker_archive;
use crate::transport::layout::marker;
use crate::transport::name::DockerRef;
use crate::transport::write::{
    ImageSink, OutputError, Written, archive_target, create_dirs, index_document, index_entries,
    parent_of, remove_created, sync_dir, write_error,
};

/// Writes an image as a tar archive.
pub struct ArchiveSink {
    /// The archive file.
    pub file: PathBuf,
    /// Reference names for `index.json`.
    pub references: Vec<String>,
    /// For a docker archive: the repository:tag pairs for `manifest.json`.
    pub docker: Option<Vec<DockerRef>>,
}

impl ImageSink for ArchiveSink {
    fn write(&self, image: &ImageSet) -> Result<Written, OutputError> {
        let parent = parent_of(&self.file);
        archive_target(&self.file)?;
        // What killed runs left beside the archive.
        sweep(&parent);
        if self.docker.is_some() && image.index().is_some() {
            return Err(OutputError::OnePlatform {
                path: self.file.clone(),
            });
        }
        let created = create_dirs(&parent)?;
        let result = self.write_in(&parent, image);
        if result.is_err() {
            remove_created(&created);
        }
        result?;
        let (transport, reference) = match &self.docker {
            Some(refs) => ("docker-archive", refs.first().map(|r| r.to_string())),
            None => ("oci-archive", self.references.first().cloned()),
        };
        let mut output = format!("{transport}:{}", self.file.display());
        if let Some(r) = reference {
            output = format!("{output}:{r}");
        }
        Ok(Written {
            output,
            digest: image.digest().to_string(),
            references: match &self.docker {
                Some(refs) => refs.iter().map(|r| r.to_string()).collect(),
                None => self.references.clone(),
            },
            pushed: None,
        })
    }
}

impl ArchiveSink {
    fn write_in(&self, parent: &Path, image: &ImageSet) -> Result<(), OutputError> {
        let fail = write_error(&self.file);
        // Removed on drop (and on SIGINT/SIGTERM), so any error below leaves nothing behind;
        // created 0644, as an image archive is for others to load too.
        let staged = Staged::file(parent, &self.file).map_err(write_error(parent))?;
        let mtime = u64::try_from(image.created()).unwrap_or(0);
        let mut tar = tar::Builder::new(BufWriter::new(staged.file_handle()));
        let add_dir = |tar: &mut tar::Builder<_>, path: &str| {
            tar.append_data(&mut tar_header(true, 0o755, 0, mtime), path, io::empty())
        };
        let add_file =
            |tar: &mut tar::Builder<_>, path: &str, size: u64, data: &mut dyn io::Read| {
                tar.append_data(&mut tar_header(false, 0o644, size, mtime), path, data)
            };
        let add_bytes = |tar: &mut tar::Builder<_>, path: &str, bytes: &[u8]| {
            add_file(tar, path, bytes.len() as u64, &mut &bytes[..])
        };

        add_bytes(&mut tar, "oci-layout", &marker().map_err(&fail)?).map_err(&fail)?;
        add_bytes(&mut tar, "index.json", &self.index(image)?).map_err(&fail)?;
        if let Some(refs) = &self.docker {
            let manifest = docker_archive::manifest(&image.images()[0], refs).map_err(&fail)?;
            add_bytes(&mut tar, "manifest.json", &manifest).map_err(&fail)?;
        }
        add_dir(&mut tar, "blobs/").map_err(&fail)?;
        add_dir(&mut tar, "blobs/sha256/").map_err(&fail)?;
        let mut blobs: Vec<_> = if self.carries_referrers(image) {
            image.blobs_with_referrers().collect()
        } else {
            image.blobs().collect()
        };
        blobs.sort_by(|a, b| a.digest.cmp(&b.digest));
        blobs.dedup_by(|a, b| a.digest == b.digest);
        for blob in blobs {
            let path = format!("blobs/sha256/{}", blob.hex());
            append_blob(&mut tar, &path, blob, mtime).map_err(&fail)?;
        }
        let buffered = tar.into_inner().map_err(&fail)?;
        let file = buffered.into_inner().map_err(|e| fail(e.into_error()))?;
        file.sync_all().map_err(&fail)?;
        // The target is checked again just before the rename, which replaces only its name.
        archive_target(&self.file)?;
        staged.persist(&self.file).map_err(&fail)?;
        sync_dir(parent).map_err(write_error(parent))
    }

    /// `index.json`: for a docker archive one entry per repository:tag, named as containerd
    /// names images; otherwise one per reference name.
    fn index(&self, image: &ImageSet) -> Result<Vec<u8>, OutputError> {
        let mut entries = match &self.docker {
            Some(refs) => docker_archive::index_entries(image, refs),
            None => index_entries(image, &self.references),
        };
        if self.carries_referrers(image) {
            entries.extend(image.referrers().map(crate::image::Referrer::descriptor));
        }
        index_document(entries, &self.file)
    }

    /// A signed image's oci-archive carries its referrers (SBOMs, signatures, provenance) as a
    /// layout does, so `verify --key` can check the archive itself. An unsigned one keeps the
    /// images alone in `index.json`, as it always has: loaders that take the only entry
    /// (`podman load`) then need no tag. A docker-archive never does: `docker load` knows no
    /// artifacts.
    fn carries_referrers(&self, image: &ImageSet) -> bool {
        self.docker.is_none() && image.is_signed()
    }
}

/// Appends a blob as a tar entry, its bytes moved file to file by the kernel
/// (`copy_file_range`, which `io::copy` uses between files) rather than through a buffer.
fn append_blob(
    tar: &mut tar::Builder<BufWriter<&File>>,
    path: &str,
    blob: &crate::image::blob::Blob,
    mtime: u64,
) -> io::Result<()> {
    let mut header = tar_header(false, 0o644, blob.size, mtime);
    header.set_path(path)?;
    header.set_cksum();
    let out = tar.get_mut();
    out.write_all(header.as_bytes())?;
    out.flush()?;
    let mut file: &File = out.get_ref();
    let copied = io::copy(&mut File::open(&blob.path)?, &mut file)?;
    if copied != blob.size {
        return Err(io::Error::other(format!(
            "blob {} is {copied} bytes, not {}",
            blob.digest, blob.size
        )));
    }
    // Entries fill whole 512-byte records.
    let padding = (512 - blob.size % 512) % 512;
    out.write_all(&[0; 512][..padding as usize])
}
