//! Reading an OCI image layout on disk (`oci:DIR`, and an unpacked `oci-archive:`).

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex};

use crate::fsguard::OpenFailure;
use crate::image::blob::{Blob, BlobStore};
use crate::transport::read::check::{
    check_blob_size, check_document_size, checked_document, copy_checked, sha256_of,
};
use crate::transport::read::{BaseError, BlobSource, MAX_DOCUMENT, MaxBlobSize, invalid};

/// An OCI layout on disk, read defensively: every blob is named by a well-formed digest and
/// checked against it.
pub(crate) struct Layout<'a> {
    root: PathBuf,
    spec: &'a str,
    max: MaxBlobSize,
}

impl<'a> Layout<'a> {
    pub(crate) fn new(root: PathBuf, spec: &'a str, max: MaxBlobSize) -> Layout<'a> {
        Layout { root, spec, max }
    }

    fn invalid(&self, detail: impl Into<String>) -> BaseError {
        invalid(self.spec, detail)
    }

    fn read_error(&self, path: &Path) -> impl Fn(io::Error) -> BaseError + '_ {
        let path = path.to_owned();
        move |source| BaseError::Read {
            spec: self.spec.to_string(),
            path: path.clone(),
            source,
        }
    }

    /// The `index.json` entry under `reference`, or the layout's only entry.
    pub(crate) fn root_entry(&self, reference: Option<&str>) -> Result<Descriptor, BaseError> {
        // `oci-layout` is not read, but a layout whose marker is a FIFO or a link is no
        // layout this tool wrote or any other would.
        let marker = self.root.join("oci-layout");
        if let Ok(meta) = fs::symlink_metadata(&marker)
            && !meta.is_file()
        {
            return Err(BaseError::NotRegular {
                spec: self.spec.to_string(),
                path: marker,
                kind: crate::fsguard::kind(&meta.file_type()),
            });
        }
        let index_path = self.root.join("index.json");
        let index: ImageIndex = self.json_file(&index_path)?;
        fn named(d: &Descriptor) -> Option<&str> {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(oci_spec::image::ANNOTATION_REF_NAME))
                .map(String::as_str)
        }
        let entry = match reference {
            Some(r) => index
                .manifests()
                .iter()
                .find(|d| named(d) == Some(r))
                .ok_or_else(|| {
                    let names: Vec<_> = index.manifests().iter().filter_map(named).collect();
                    self.invalid(format!(
                        "no image tagged `{r}` (tags: {})",
                        if names.is_empty() {
                            "none".into()
                        } else {
                            names.join(", ")
                        }
                    ))
                })?,
            // Artifacts listed beside the image (its SBOM) are not images to pick.
            None => match index
                .manifests()
                .iter()
                .filter(|d| d.artifact_type().is_none())
                .collect::<Vec<_>>()
                .as_slice()
            {
                [only] => *only,
                [] => return Err(self.invalid("its index.json lists no image")),
                _ => {
                    return Err(
                        self.invalid("its index.json lists several images; name one with `:TAG`")
                    );
                }
            },
        };
        Ok(entry.clone())
    }

    fn blob_path(&self, descriptor: &Descriptor) -> Result<PathBuf, BaseError> {
        let digest = sha256_of(self.spec, descriptor)?;
        Ok(crate::image::blob::blob_path_of(&self.root, &digest))
    }

    fn json_file<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<T, BaseError> {
        let (file, size) = open_regular(self.spec, path, false)?;
        if size > MAX_DOCUMENT {
            return Err(self.invalid(format!(
                "`{}` is {size} bytes, more than the {MAX_DOCUMENT} a JSON document of an \
                 image may be",
                path.display()
            )));
        }
        let mut bytes = Vec::new();
        file.take(MAX_DOCUMENT)
            .read_to_end(&mut bytes)
            .map_err(self.read_error(path))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.invalid(format!("`{}` is not valid: {e}", path.display())))
    }
}

impl BlobSource for Layout<'_> {
    fn document(&self, descriptor: &Descriptor) -> Result<Vec<u8>, BaseError> {
        let path = self.blob_path(descriptor)?;
        check_document_size(self.spec, descriptor)?;
        let (file, _) = open_regular(self.spec, &path, false)?;
        let mut bytes = Vec::new();
        file.take(MAX_DOCUMENT + 1)
            .read_to_end(&mut bytes)
            .map_err(self.read_error(&path))?;
        checked_document(self.spec, descriptor, bytes)
    }

    fn copy_blob(
        &self,
        descriptor: &Descriptor,
        diff_id: &str,
        store: &BlobStore,
    ) -> Result<Blob, BaseError> {
        let path = self.blob_path(descriptor)?;
        check_blob_size(self.spec, descriptor, self.max)?;
        let (mut file, _) = open_regular(self.spec, &path, false)?;
        copy_checked(
            self.spec,
            descriptor,
            Some(diff_id),
            self.max,
            &mut file,
            store,
            &self.read_error(&path),
        )
    }

    fn referrer_candidates(&self, _subject: &Descriptor) -> Result<Vec<Descriptor>, BaseError> {
        // A layout lists its artifacts in index.json beside the images (as ours are written);
        // which image each refers to is in its manifest, read by the caller.
        let index: ImageIndex = self.json_file(&self.root.join("index.json"))?;
        Ok(index
            .manifests()
            .iter()
            .filter(|d| d.artifact_type().is_some())
            .cloned()
            .collect())
    }
}

/// Opens `path` for reading, and its size, refusing anything but a regular file: a FIFO would
/// block forever, a device (`/dev/zero`) never ends, and a link (unless `follow`ed, for a
/// path the user named) points outside what is being read. The open itself neither follows
/// a final link nor waits for a FIFO's writer; the type is then checked on the open file.
pub(crate) fn open_regular(
    spec: &str,
    path: &Path,
    follow: bool,
) -> Result<(File, u64), BaseError> {
    let read_error = |source| BaseError::Read {
        spec: spec.to_string(),
        path: path.to_owned(),
        source,
    };
    let refuse = |kind| BaseError::NotRegular {
        spec: spec.to_string(),
        path: path.to_owned(),
        kind,
    };
    match crate::fsguard::open_regular(path, follow) {
        Ok((file, meta)) => Ok((file, meta.len())),
        Err(OpenFailure::Kind(kind)) => Err(refuse(kind)),
        Err(OpenFailure::Io(e)) => Err(read_error(e)),
    }
}
