//! What refers to an image: for the index and each platform manifest, the artifacts whose
//! `subject` it is (SBOMs, signature and provenance bundles), read with their one document,
//! and the artifacts referring to those in turn (an SBOM's signature). `verify --key` checks
//! them; everything read is untrusted and goes through the run's document budget.

use oci_spec::image::{Descriptor, ImageManifest};

use super::walk::{is_index, parse_index};
use super::{BaseError, BlobSource, invalid, parse_manifest, read_config};
use crate::platform::{Platform, Platforms};

/// The most artifacts one subject may have read: a few per kind is what any tool attaches.
pub const MAX_REFERRERS: usize = 64;

/// A manifest or index and what refers to it.
#[derive(Clone, Debug)]
pub struct Subject {
    /// Its digest, `sha256:<hex>`.
    pub digest: String,
    /// Its bytes, which a signature covers.
    pub bytes: Vec<u8>,
    /// The platform of a manifest; `None` for an index.
    pub platform: Option<Platform>,
    /// The artifacts referring to it.
    pub referrers: Vec<Attached>,
}

/// An artifact referring to a subject.
#[derive(Clone, Debug)]
pub struct Attached {
    /// The artifact manifest's digest.
    pub digest: String,
    /// Its `artifactType`.
    pub artifact_type: String,
    /// Its manifest's annotations.
    pub annotations: std::collections::HashMap<String, String>,
    /// Its manifest's bytes (what a signature of the artifact covers).
    pub manifest: Vec<u8>,
    /// Its first layer, the document (a bundle, an SBOM).
    pub document: Option<Vec<u8>>,
    /// Artifacts referring to this one (one level: an SBOM's signature).
    pub referrers: Vec<Attached>,
}

/// The index (if the root is one) and every platform manifest it lists directly, each with
/// what refers to it. Platforms the table has no row for are skipped, as `verify` skips them.
pub(crate) fn subjects(
    source: &dyn BlobSource,
    spec: &str,
    root: &Descriptor,
    platforms: &Platforms,
) -> Result<Vec<Subject>, BaseError> {
    // A layout lists every artifact for every subject: each is read once.
    let source = &Memo {
        inner: source,
        documents: Default::default(),
    };
    let mut out = Vec::new();
    let bytes = source.document(root)?;
    if is_index(root.media_type()) {
        let index = parse_index(spec, &bytes)?;
        out.push(subject(source, spec, root, bytes, None, 1)?);
        for entry in index.manifests() {
            if entry.artifact_type().is_some() || is_index(entry.media_type()) {
                continue;
            }
            let platform = entry.platform().as_ref().and_then(|p| {
                platforms.from_oci(&p.architecture().to_string(), p.variant().as_deref())
            });
            let Some(platform) = platform else { continue };
            let bytes = source.document(entry)?;
            out.push(subject(source, spec, entry, bytes, Some(platform), 1)?);
        }
    } else {
        let manifest = parse_manifest(spec, &bytes)?;
        let config = read_config(source, spec, &manifest)?;
        let platform = platforms.from_oci(
            &config.architecture().to_string(),
            config.variant().as_deref(),
        );
        out.push(subject(source, spec, root, bytes, platform, 1)?);
    }
    Ok(out)
}

/// Documents read once per run: a layout offers each artifact to every subject.
struct Memo<'a> {
    inner: &'a dyn BlobSource,
    documents: std::cell::RefCell<std::collections::HashMap<String, Vec<u8>>>,
}

impl BlobSource for Memo<'_> {
    fn document(&self, descriptor: &Descriptor) -> Result<Vec<u8>, BaseError> {
        let digest = descriptor.digest().to_string();
        if let Some(bytes) = self.documents.borrow().get(&digest) {
            // Same digest, same bytes; the size is the descriptor's to claim.
            if bytes.len() as u64 == descriptor.size() {
                return Ok(bytes.clone());
            }
        }
        let bytes = self.inner.document(descriptor)?;
        self.documents.borrow_mut().insert(digest, bytes.clone());
        Ok(bytes)
    }

    fn copy_blob(
        &self,
        descriptor: &Descriptor,
        diff_id: &str,
        store: &crate::image::blob::BlobStore,
    ) -> Result<crate::image::blob::Blob, BaseError> {
        self.inner.copy_blob(descriptor, diff_id, store)
    }

    fn referrer_candidates(&self, subject: &Descriptor) -> Result<Vec<Descriptor>, BaseError> {
        self.inner.referrer_candidates(subject)
    }
}

fn subject(
    source: &dyn BlobSource,
    spec: &str,
    descriptor: &Descriptor,
    bytes: Vec<u8>,
    platform: Option<Platform>,
    depth: u8,
) -> Result<Subject, BaseError> {
    Ok(Subject {
        digest: descriptor.digest().to_string(),
        bytes,
        platform,
        referrers: referrers(source, spec, descriptor, depth)?,
    })
}

/// The artifacts whose subject is `descriptor`; `depth` levels of referrers of referrers.
fn referrers(
    source: &dyn BlobSource,
    spec: &str,
    descriptor: &Descriptor,
    depth: u8,
) -> Result<Vec<Attached>, BaseError> {
    let digest = descriptor.digest().to_string();
    let mut out = Vec::new();
    for candidate in source.referrer_candidates(descriptor)? {
        let manifest_bytes = source.document(&candidate)?;
        let manifest: ImageManifest = parse_manifest(spec, &manifest_bytes)?;
        // A registry's list, or a layout's entry, may name an artifact of another subject:
        // only the manifest's own `subject` says.
        if manifest.subject().as_ref().map(|s| s.digest().to_string()) != Some(digest.clone()) {
            continue;
        }
        if out.len() == MAX_REFERRERS {
            return Err(invalid(
                spec,
                format!("`{digest}` has more than {MAX_REFERRERS} artifacts referring to it"),
            ));
        }
        let document = match manifest.layers().first() {
            Some(layer) => Some(source.document(layer)?),
            None => None,
        };
        let nested = if depth > 0 {
            referrers(source, spec, &candidate, depth - 1)?
        } else {
            Vec::new()
        };
        out.push(Attached {
            digest: candidate.digest().to_string(),
            artifact_type: manifest
                .artifact_type()
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_default(),
            annotations: manifest.annotations().clone().unwrap_or_default(),
            manifest: manifest_bytes,
            document,
            referrers: nested,
        });
    }
    Ok(out)
}
