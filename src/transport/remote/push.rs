//! `docker://HOST[:PORT]/REPO[:TAG]`: pushes an image (or an image index) to a registry with the
//! OCI distribution API (distribution-spec `spec.md`, "Push").
//!
//! Order matters for safety: every blob first (`HEAD` to skip what the registry has, a
//! cross-repository mount when another repository of the registry is known to hold it,
//! else `POST` + `PUT` of the whole blob), then each platform's manifest by digest, then the
//! index or manifest under each tag. A push that fails midway leaves no tag pointing at a
//! partial image, and nothing is reported as pushed.
//!
//! The base layer is identical for every image, so it is uploaded once per registry: once in a
//! repository (HEAD finds it again), then mounted into others. Which repositories hold which
//! blobs is remembered in the layer cache (`registry-blobs.json`), as containers/image keeps
//! its blob-info cache; a stale entry only costs a failed mount, which falls back to upload.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::transport::write::{ImageSink, OutputError, Pushed, SinkContext, Written, unique};
use oci_spec::image::{ImageIndex, ImageIndexBuilder, MediaType};

use crate::image::blob::{Blob, canonical_json};
use crate::image::{ImageSet, Referrer};
use crate::registry::{Body, Client, RegistryError, Request, percent_encode};
use crate::transport::name::RegistryRef;

/// How often a blob upload is begun again after a failed `PUT`.
const UPLOAD_ATTEMPTS: u32 = 3;

/// Pushes images to a registry repository.
pub struct RegistrySink {
    /// The repository (and the tag, if the spec named one).
    pub reference: RegistryRef,
    /// The tags to set.
    pub tags: Vec<String>,
    /// Settings and where known blobs are remembered.
    pub context: SinkContext,
}

impl ImageSink for RegistrySink {
    fn write(&self, set: &ImageSet) -> Result<Written, OutputError> {
        let target = match self.tags.first() {
            Some(tag) => format!(
                "docker://{}/{}:{tag}",
                self.reference.registry, self.reference.repository
            ),
            None => self.reference.to_string(),
        };
        let pushed = self.push(set).map_err(|source| OutputError::Push {
            target: target.clone(),
            source: Box::new(source),
        })?;
        self.context
            .ui
            .status("Pushed", format_args!("`{}`", pushed.reference));
        Ok(Written {
            output: target,
            digest: set.digest().to_string(),
            references: self.tags.clone(),
            pushed: Some(pushed),
        })
    }
}

impl RegistrySink {
    fn push(&self, set: &ImageSet) -> Result<Pushed, RegistryError> {
        let registry = &self.reference.registry;
        let repository = &self.reference.repository;
        let ui = &self.context.ui;
        // Layers and configs (and the SBOMs' blobs); manifests go up after them, by their own
        // route.
        let blobs = unique(
            set.images()
                .iter()
                .flat_map(|image| image.layers.iter().map(|l| &l.blob).chain([&image.config]))
                .chain(set.referrers().flat_map(Referrer::blobs)),
        );
        let known = self
            .context
            .known_blobs
            .as_deref()
            .map(KnownBlobs::load)
            .unwrap_or_default();
        let sources: BTreeSet<&str> = blobs
            .iter()
            .filter_map(|b| known.holder(registry, &b.digest, repository))
            .collect();
        let mut scopes = vec![format!("repository:{repository}:pull,push")];
        scopes.extend(sources.iter().map(|s| format!("repository:{s}:pull")));
        ui.status("Pushing", format_args!("to `{}`", self.reference));
        let client = Client::connect(&self.reference, scopes, &self.context.registry, ui)?;

        let mut pushed = Pushed {
            reference: self.reference.with_digest(set.digest()),
            ..Pushed::default()
        };
        let total = blobs.iter().map(|b| b.size).sum();
        let progress = ui.progress("Uploading", &format!("`{repository}`"), total);
        for blob in &blobs {
            let blob_path = format!("/v2/{repository}/blobs/{}", blob.digest);
            let head = client.send(&Request::new("HEAD", &blob_path))?;
            match head.status().as_u16() {
                200 => {
                    progress.add(blob.size);
                    pushed.existing.push(blob.digest.clone());
                    continue;
                }
                404 => {}
                status => {
                    return Err(RegistryError::Status {
                        registry: registry.clone(),
                        method: "HEAD".into(),
                        path: blob_path,
                        status,
                        detail: String::new(),
                    });
                }
            }
            let source = known.holder(registry, &blob.digest, repository);
            let mut location = None;
            if let Some(from) = source {
                match mount(&client, repository, blob, from)? {
                    Mount::Done => {
                        progress.add(blob.size);
                        ui.verbose(format_args!("mounted {} from `{from}`", blob.digest));
                        pushed.mounted.push(blob.digest.clone());
                        continue;
                    }
                    Mount::Upload(at) => location = Some(at),
                }
            }
            upload(&client, repository, blob, location, &|n| progress.add(n))?;
            pushed.uploaded.push(blob.digest.clone());
        }
        progress.finish();

        // Each platform's manifest by digest, so the index's references resolve.
        if set.index().is_some() {
            for image in set.images() {
                put_manifest(&client, repository, &image.manifest, &image.manifest.digest)?;
            }
        }
        let top = set.index().unwrap_or(&set.images()[0].manifest);
        if self.tags.is_empty() {
            put_manifest(&client, repository, top, &top.digest)?;
        }
        for tag in &self.tags {
            put_manifest(&client, repository, top, tag)?;
        }
        // The referrers (SBOMs, signatures, provenance) go last, and a registry that refuses
        // them (some reject artifact manifests or the empty config) costs a warning, not the
        // push: each image carries its SBOM as a file too. A referrer whose subject is another
        // referrer (an SBOM's signature) follows that subject, which was attached before it.
        for referrer in set.referrers() {
            match attach(&client, repository, &referrer.subject, referrer) {
                Ok(()) => pushed.referrers.push(referrer.manifest.digest.clone()),
                Err(e) => ui.warn(format_args!(
                    "the image is pushed, but its {} `{}` could not be attached to it: {}",
                    describe(&referrer.artifact_type),
                    referrer.manifest.digest,
                    one_line(&e)
                )),
            }
        }

        if let Some(file) = &self.context.known_blobs {
            let mut known = known;
            known.record(
                registry,
                repository,
                blobs.iter().map(|b| b.digest.as_str()),
            );
            // A hint for later pushes; failing to keep it costs only a later upload.
            if let Err(e) = known.save(file) {
                ui.verbose(format_args!(
                    "cannot remember pushed blobs in `{}`: {e}",
                    file.display()
                ));
            }
        }
        ui.verbose(format_args!(
            "{} blobs uploaded, {} mounted, {} already there",
            pushed.uploaded.len(),
            pushed.mounted.len(),
            pushed.existing.len()
        ));
        Ok(pushed)
    }
}

/// A referrer's kind in words, for a warning.
fn describe(artifact_type: &str) -> &'static str {
    match artifact_type {
        crate::sbom::MEDIA_TYPE | crate::sbom::CYCLONEDX_MEDIA_TYPE => "SBOM",
        crate::sign::bundle::MEDIA_TYPE => "signature bundle",
        _ => "artifact",
    }
}

/// How a mount request ended.
enum Mount {
    /// The registry linked the blob into the repository.
    Done,
    /// It did not, but opened an upload session at this location instead.
    Upload(String),
}

/// Asks the registry to link `blob` from repository `from` (spec: "Mounting a blob from another
/// repository").
fn mount(
    client: &Client,
    repository: &str,
    blob: &Blob,
    from: &str,
) -> Result<Mount, RegistryError> {
    let target = format!(
        "/v2/{repository}/blobs/uploads/?mount={}&from={}",
        percent_encode(&blob.digest),
        percent_encode(from)
    );
    let response = client.expect(&Request::new("POST", target), &[201, 202])?;
    if response.status().as_u16() == 201 {
        return Ok(Mount::Done);
    }
    Ok(Mount::Upload(location(client, &response)?))
}

/// Uploads one blob whole: `POST` for a session (unless one is open), then `PUT` with the
/// bytes and the digest. A failed `PUT` starts a new session rather than resending into one
/// that may hold part of the bytes.
fn upload(
    client: &Client,
    repository: &str,
    blob: &Blob,
    mut session: Option<String>,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<(), RegistryError> {
    let mut attempt = 1;
    loop {
        let at = match session.take() {
            Some(at) => at,
            None => {
                let start = Request::new("POST", format!("/v2/{repository}/blobs/uploads/"));
                let response = client.expect(&start, &[202])?;
                location(client, &response)?
            }
        };
        let separator = if at.contains('?') { '&' } else { '?' };
        let mut put = Request::new(
            "PUT",
            format!("{at}{separator}digest={}", percent_encode(&blob.digest)),
        )
        .header("Content-Type", "application/octet-stream")
        .body(Body::File {
            path: &blob.path,
            size: blob.size,
            on_bytes,
        });
        put.retry = false;
        match client.expect(&put, &[201]) {
            Ok(_) => return Ok(()),
            Err(e) if attempt < UPLOAD_ATTEMPTS && retriable(&e) => {
                std::thread::sleep(crate::registry::backoff(attempt));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn retriable(error: &RegistryError) -> bool {
    match error {
        RegistryError::Unreachable { .. } => true,
        RegistryError::Status { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

/// The upload session's `Location` (absolute, or a path on the registry).
fn location(
    client: &Client,
    response: &crate::registry::Response,
) -> Result<String, RegistryError> {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| RegistryError::Protocol {
            registry: client.registry().to_string(),
            detail: "an upload session was opened without a `Location`".into(),
        })
}

/// Pushes an artifact whose `subject` is the image manifest with digest `subject`
/// (distribution-spec "Pushing Manifests with Subject"). A registry that answers with `OCI-Subject` indexes it for the
/// referrers API itself; for one that does not (distribution 2.x), the client keeps the
/// fallback: an image index of referrers under the tag `sha256-<subject hex>`, fetched,
/// extended and put back.
fn attach(
    client: &Client,
    repository: &str,
    subject: &str,
    referrer: &Referrer,
) -> Result<(), RegistryError> {
    let response = put_manifest(
        client,
        repository,
        &referrer.manifest,
        &referrer.manifest.digest,
    )?;
    if response.headers().contains_key("oci-subject") {
        return Ok(());
    }
    let tag = subject.replacen(':', "-", 1);
    let path = format!("/v2/{repository}/manifests/{tag}");
    let get = Request::new("GET", &path).header("Accept", MediaType::ImageIndex.to_string());
    let response = client.expect(&get, &[200, 404])?;
    let mut manifests = if response.status().as_u16() == 200 {
        let bytes = client.read_document(response)?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                registry: client.registry().to_string(),
                detail: format!("the referrers tag `{tag}` holds no image index: {e}"),
            })?;
        index.manifests().clone()
    } else {
        Vec::new()
    };
    let descriptor = referrer.descriptor();
    if manifests.iter().any(|d| d.digest() == descriptor.digest()) {
        return Ok(());
    }
    manifests.push(descriptor);
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|e| RegistryError::Protocol {
            registry: client.registry().to_string(),
            detail: format!("cannot make the referrers index: {e}"),
        })?;
    let bytes = canonical_json(&index).unwrap_or_default();
    let request = Request::new("PUT", path)
        .header("Content-Type", MediaType::ImageIndex.to_string())
        .body(Body::Bytes(&bytes));
    client.expect(&request, &[201])?;
    Ok(())
}

/// `PUT /v2/<repo>/manifests/<reference>` with the manifest's bytes and media type; the
/// digest the registry computes must be ours.
fn put_manifest(
    client: &Client,
    repository: &str,
    manifest: &Blob,
    reference: &str,
) -> Result<crate::registry::Response, RegistryError> {
    let mut bytes = Vec::new();
    fs::File::open(&manifest.path)
        .and_then(|f| f.take(manifest.size).read_to_end(&mut bytes))
        .map_err(|source| RegistryError::ReadBlob {
            path: manifest.path.clone(),
            source,
        })?;
    let request = Request::new("PUT", format!("/v2/{repository}/manifests/{reference}"))
        .header("Content-Type", manifest.media_type.to_string())
        .body(Body::Bytes(&bytes));
    let response = client.expect(&request, &[201])?;
    let answered = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok());
    if let Some(digest) = answered.filter(|d| *d != manifest.digest) {
        return Err(RegistryError::Protocol {
            registry: client.registry().to_string(),
            detail: format!(
                "it stored manifest `{}` under digest `{digest}`",
                manifest.digest
            ),
        });
    }
    Ok(response)
}

/// Which repositories of which registries hold which blobs, as far as our pushes know.
#[derive(Debug, Default, serde::Deserialize, Serialize)]
struct KnownBlobs(BTreeMap<String, BTreeMap<String, BTreeSet<String>>>);

impl KnownBlobs {
    /// Reads the file; a missing or damaged one is an empty record (it is only a hint).
    fn load(file: &Path) -> KnownBlobs {
        fs::read(file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Another repository of `registry` known to hold `digest`.
    fn holder<'a>(&'a self, registry: &str, digest: &str, not: &str) -> Option<&'a str> {
        self.0
            .get(registry)?
            .get(digest)?
            .iter()
            .map(String::as_str)
            .find(|r| *r != not)
    }

    fn record<'a>(
        &mut self,
        registry: &str,
        repository: &str,
        digests: impl Iterator<Item = &'a str>,
    ) {
        let blobs = self.0.entry(registry.to_string()).or_default();
        for digest in digests {
            blobs
                .entry(digest.to_string())
                .or_default()
                .insert(repository.to_string());
        }
    }

    /// Writes the record by atomic replace, so concurrent pushes never see half a file.
    fn save(&self, file: &Path) -> std::io::Result<()> {
        crate::cache::write_atomic(file, &serde_json::to_vec(self)?)
    }
}

/// An error and its causes on one line, `: `-joined, for a warning. (The top-level error
/// renders chains too; a transport does not reach up to it.)
fn one_line(error: &dyn std::error::Error) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_blobs_name_another_repository() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known.json");
        let mut known = KnownBlobs::load(&file);
        known.record("r:1", "app1", ["sha256:a", "sha256:b"].into_iter());
        known.save(&file).unwrap();
        let known = KnownBlobs::load(&file);
        assert_eq!(known.holder("r:1", "sha256:a", "app2"), Some("app1"));
        assert_eq!(known.holder("r:1", "sha256:a", "app1"), None);
        assert_eq!(known.holder("other:1", "sha256:a", "app2"), None);
        fs::write(&file, "{broken").unwrap();
        assert!(KnownBlobs::load(&file).0.is_empty());
    }
}
