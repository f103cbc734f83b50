//! Reading an OCI image layout on disk (`oci:DIR`, and an unpacked `oci-archive:`).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex};

use super::check::{check_document_size, checked_document, copy_checked, sha256_hex};
use super::{BaseError, BlobSource, MAX_DOCUMENT, invalid};
use crate::image::blob::{Blob, BlobStore};

/// An OCI layout on disk, read defensively: every blob is named by a well-formed digest and
/// checked against it.
pub(super) struct Layout<'a> {
    root: PathBuf,
    spec: &'a str,
}

impl<'a> Layout<'a> {
    pub(super) fn new(root: PathBuf, spec: &'a str) -> Layout<'a> {
        Layout { root, spec }
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
    pub(super) fn root_entry(&self, reference: Option<&str>) -> Result<Descriptor, BaseError> {
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
        let digest = descriptor.digest().to_string();
        let hex = sha256_hex(self.spec, &digest)?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    fn json_file<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<T, BaseError> {
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|f| f.take(MAX_DOCUMENT).read_to_end(&mut bytes))
            .map_err(self.read_error(path))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.invalid(format!("`{}` is not valid: {e}", path.display())))
    }
}

impl BlobSource for Layout<'_> {
    fn document(&self, descriptor: &Descriptor) -> Result<Vec<u8>, BaseError> {
        let path = self.blob_path(descriptor)?;
        check_document_size(self.spec, descriptor)?;
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|f| f.take(MAX_DOCUMENT + 1).read_to_end(&mut bytes))
            .map_err(self.read_error(&path))?;
        checked_document(self.spec, descriptor, bytes)
    }

    fn copy_blob(&self, descriptor: &Descriptor, store: &BlobStore) -> Result<Blob, BaseError> {
        let path = self.blob_path(descriptor)?;
        let mut file = File::open(&path).map_err(self.read_error(&path))?;
        copy_checked(
            self.spec,
            descriptor,
            &mut file,
            store,
            &self.read_error(&path),
        )
    }
}
