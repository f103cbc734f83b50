//! Reading an image from a registry repository (`docker://`).

use std::io;

use oci_spec::image::{Descriptor, Digest, MediaType};

use crate::image::blob::{Blob, BlobStore};
use crate::registry::{Client, RegistryError, Request};
use crate::transport::name::RegistryRef;
use crate::transport::read::check::{
    check_blob_size, check_document_size, checked_document, copy_checked, sha256_of,
};
use crate::transport::read::walk::is_index;
use crate::transport::read::{BaseError, BlobSource, MaxBlobSize, invalid};

/// What a registry is asked to send for a manifest: every kind of manifest and index we read.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// A repository in a registry.
pub(crate) struct Remote<'a> {
    pub(crate) client: Client,
    pub(crate) reference: &'a RegistryRef,
    pub(crate) spec: &'a str,
    /// The largest blob it may send.
    pub(crate) max: MaxBlobSize,
    /// The root document once fetched, with its digest.
    pub(crate) root: std::cell::RefCell<Option<(String, Vec<u8>)>>,
}

impl Remote<'_> {
    fn pull_error(&self, source: RegistryError) -> BaseError {
        BaseError::Pull {
            spec: self.spec.to_string(),
            source: Box::new(source),
        }
    }

    /// The descriptor of what the reference names (a manifest or an index), from the
    /// registry's answer; a digest reference must match the bytes.
    pub(crate) fn root(&self) -> Result<Descriptor, BaseError> {
        let target = format!(
            "/v2/{}/manifests/{}",
            self.reference.repository,
            self.reference.manifest_ref()
        );
        let request = Request::new("GET", target).header("Accept", MANIFEST_ACCEPT);
        let response = self
            .client
            .expect(&request, &[200])
            .map_err(|e| self.pull_error(e))?;
        let media_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
            .unwrap_or_default();
        let bytes = self
            .client
            .read_document(response)
            .map_err(|e| self.pull_error(e))?;
        // The body's own mediaType when the header is vague (some registries send JSON).
        let media_type = if media_type.contains("vnd.") {
            media_type
        } else {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
                .ok_or_else(|| invalid(self.spec, "its manifest names no media type"))?
        };
        let digest = crate::image::blob::sha256_digest(&bytes);
        if let Some(wanted) = &self.reference.digest
            && wanted.as_ref() != digest
        {
            return Err(invalid(
                self.spec,
                format!("the registry sent a manifest with digest {digest}"),
            ));
        }
        let parsed: oci_spec::image::Digest = digest
            .parse()
            .map_err(|_| invalid(self.spec, "cannot name its manifest's digest"))?;
        let descriptor = Descriptor::new(
            MediaType::from(media_type.as_str()),
            bytes.len() as u64,
            parsed,
        );
        *self.root.borrow_mut() = Some((digest, bytes));
        Ok(descriptor)
    }

    fn get(
        &self,
        descriptor: &Descriptor,
        document: bool,
    ) -> Result<crate::registry::Response, BaseError> {
        let digest = Digest::from(sha256_of(self.spec, descriptor)?);
        let kind = descriptor.media_type().to_string();
        let is_manifest = is_index(descriptor.media_type())
            || kind == MediaType::ImageManifest.to_string()
            || kind == "application/vnd.docker.distribution.manifest.v2+json";
        let (path, accept) = if document && is_manifest {
            ("manifests", kind.as_str())
        } else {
            ("blobs", "*/*")
        };
        let target = format!("/v2/{}/{path}/{digest}", self.reference.repository);
        let request = Request::new("GET", target).header("Accept", accept);
        self.client
            .expect(&request, &[200])
            .map_err(|e| self.pull_error(e))
    }
}

impl BlobSource for Remote<'_> {
    fn document(&self, descriptor: &Descriptor) -> Result<Vec<u8>, BaseError> {
        check_document_size(self.spec, descriptor)?;
        // The root was fetched to learn its digest: it is not asked for twice.
        if let Some((digest, bytes)) = self.root.borrow().as_ref()
            && *digest == descriptor.digest().to_string()
        {
            return checked_document(self.spec, descriptor, bytes.clone());
        }
        let response = self.get(descriptor, true)?;
        let bytes = self
            .client
            .read_document(response)
            .map_err(|e| self.pull_error(e))?;
        checked_document(self.spec, descriptor, bytes)
    }

    fn copy_blob(
        &self,
        descriptor: &Descriptor,
        diff_id: &str,
        store: &BlobStore,
    ) -> Result<Blob, BaseError> {
        check_blob_size(self.spec, descriptor, self.max)?;
        let response = self.get(descriptor, false)?;
        let mut body = response.into_body().into_reader();
        let read_error = |e: io::Error| self.pull_error(self.client.dropped(e));
        copy_checked(
            self.spec,
            descriptor,
            Some(diff_id),
            self.max,
            &mut body,
            store,
            &read_error,
        )
    }

    fn referrer_candidates(&self, subject: &Descriptor) -> Result<Vec<Descriptor>, BaseError> {
        // The referrers API (distribution-spec "Listing Referrers"), then the tag schema a
        // registry without it is given by pushers: `sha256-<hex>` holding an index.
        // Checked well-formed before it is put in a path.
        let hex = sha256_of(self.spec, subject)?.to_string();
        let repository = &self.reference.repository;
        let accept = MediaType::ImageIndex.to_string();
        let api = format!("/v2/{repository}/referrers/sha256:{hex}");
        let tag = format!("/v2/{repository}/manifests/sha256-{hex}");
        for target in [api, tag] {
            let request = Request::new("GET", target).header("Accept", accept.as_str());
            let response = self
                .client
                .expect(&request, &[200, 404])
                .map_err(|e| self.pull_error(e))?;
            if response.status().as_u16() == 404 {
                continue;
            }
            let bytes = self
                .client
                .read_document(response)
                .map_err(|e| self.pull_error(e))?;
            let index: oci_spec::image::ImageIndex =
                serde_json::from_slice(&bytes).map_err(|e| {
                    invalid(
                        self.spec,
                        format!("its referrers list is not an index: {e}"),
                    )
                })?;
            return Ok(index
                .manifests()
                .iter()
                .filter(|d| d.artifact_type().is_some())
                .cloned()
                .collect());
        }
        Ok(Vec::new())
    }
}
