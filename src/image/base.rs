//! `--base SPEC`: our layers on top of another image (a company's hardened base) instead of
//! scratch.
//!
//! The base is read from an OCI layout (`oci:DIR[:REF]`), an OCI archive
//! (`oci-archive:FILE[:REF]`) or a registry (`docker://…`). For each platform the matching
//! manifest is picked from the base's index; its config and layers are copied into our blob
//! store, every blob checked against its digest and size on the way, so a damaged or hostile
//! base is refused before anything is written. Its configuration is merged under ours.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use super::blob::{Blob, BlobStore};
use super::layer::Layer;
use crate::platform::Platform;
use crate::registry::{Client, Reference, RegistryError, RegistryOptions, Request};
use crate::ui::Ui;

/// The most a JSON document of a base image (index, manifest, config) may be.
const MAX_DOCUMENT: u64 = 4 << 20;

/// Where a base image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseSpec {
    /// `oci:DIR[:REF]`.
    Oci {
        /// The layout directory.
        dir: PathBuf,
        /// The ref name to pick (else the layout's only image).
        reference: Option<String>,
    },
    /// `oci-archive:FILE[:REF]`.
    OciArchive {
        /// The tar file.
        file: PathBuf,
        /// The ref name to pick.
        reference: Option<String>,
    },
    /// `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`, pulled.
    Registry(Reference),
}

impl FromStr for BaseSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<BaseSpec, String> {
        let split = |rest: &str| match rest.split_once(':') {
            Some((path, reference)) if !reference.is_empty() => {
                (PathBuf::from(path), Some(reference.to_string()))
            }
            _ => (PathBuf::from(rest.trim_end_matches(':')), None),
        };
        if let Some(rest) = text.strip_prefix("docker://") {
            return rest.parse().map(BaseSpec::Registry);
        }
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (file, reference) = split(rest);
            return Ok(BaseSpec::OciArchive { file, reference });
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, reference) = split(rest);
            return Ok(BaseSpec::Oci { dir, reference });
        }
        Err(format!(
            "`{text}`: an image is named oci:DIR[:TAG], oci-archive:FILE[:TAG] or \
             docker://HOST/REPO[:TAG|@DIGEST]"
        ))
    }
}

impl fmt::Display for BaseSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with = |f: &mut fmt::Formatter<'_>, kind, path: &Path, r: &Option<String>| match r {
            Some(r) => write!(f, "{kind}:{}:{r}", path.display()),
            None => write!(f, "{kind}:{}", path.display()),
        };
        match self {
            BaseSpec::Oci { dir, reference } => with(f, "oci", dir, reference),
            BaseSpec::OciArchive { file, reference } => with(f, "oci-archive", file, reference),
            BaseSpec::Registry(r) => write!(f, "{r}"),
        }
    }
}

/// A base image for one platform, its blobs in our store.
#[derive(Clone, Debug)]
pub struct BaseImage {
    /// What was asked for (`org.opencontainers.image.base.name`).
    pub name: String,
    /// Its manifest's digest (`org.opencontainers.image.base.digest`).
    pub digest: String,
    /// Its configuration, merged under ours.
    pub config: ImageConfiguration,
    /// Its layers, bottom first.
    pub layers: Vec<Layer>,
}

/// Why a base image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    /// A file of the base could not be read.
    #[error("image `{spec}`: cannot read `{}`", path.display())]
    Read {
        /// The base.
        spec: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The base is not a well-formed image.
    #[error("image `{spec}`: {detail}")]
    Invalid {
        /// The base.
        spec: String,
        /// What is wrong.
        detail: String,
    },
    /// The base has nothing for the platform.
    #[error("image `{spec}` has no image for {platform} (it has: {available})")]
    NoPlatform {
        /// The base.
        spec: String,
        /// The platform wanted.
        platform: Platform,
        /// The platforms it has.
        available: String,
    },
    /// Pulling from a registry failed.
    #[error("image `{spec}` cannot be pulled")]
    Pull {
        /// The base.
        spec: String,
        /// What went wrong (boxed: errors travel by value).
        #[source]
        source: Box<RegistryError>,
    },
}

/// Reads the base image named by `spec` for each of `platforms`, copying its blobs into `store`.
pub fn load(
    spec: &BaseSpec,
    platforms: &[Platform],
    store: &BlobStore,
    options: &RegistryOptions,
    ui: &Ui,
) -> Result<Vec<BaseImage>, BaseError> {
    let name = spec.to_string();
    let opened = Opened::open(spec, &name, options, ui)?;
    let source = opened.source();
    let root = opened.root(reference_of(spec))?;
    // A pulled base is named as pullers write it, without the transport.
    let base_name = match spec {
        BaseSpec::Registry(r) => match &r.digest {
            Some(d) => r.with_digest(d),
            None => format!(
                "{}/{}:{}",
                r.registry,
                r.repository,
                r.tag.as_deref().unwrap_or("latest")
            ),
        },
        _ => name.clone(),
    };
    platforms
        .iter()
        .map(|p| {
            let mut image = image_at(source, &name, &root, *p, store)?;
            image.name = base_name.clone();
            Ok(image)
        })
        .collect()
}

/// Each platform's image, and the platforms found but not read.
pub type EveryPlatform = (Vec<(Platform, BaseImage)>, Vec<String>);

/// Every platform's image in the image `spec` names, its blobs copied into `store` and each
/// checked against its descriptor: what `verify IMAGE` reads. Platforms the tool has no row
/// for (`linux/s390x`, attestation manifests) are named in the second list, unread.
pub fn load_every_platform(
    spec: &BaseSpec,
    store: &BlobStore,
    options: &RegistryOptions,
    ui: &Ui,
) -> Result<EveryPlatform, BaseError> {
    let name = spec.to_string();
    let opened = Opened::open(spec, &name, options, ui)?;
    let root = opened.root(reference_of(spec))?;
    let mut found = (Vec::new(), Vec::new());
    every_platform(opened.source(), &name, &root, store, &mut found)?;
    Ok(found)
}

/// The ref name a layout or archive spec picks, if any.
fn reference_of(spec: &BaseSpec) -> Option<&str> {
    match spec {
        BaseSpec::Oci { reference, .. } | BaseSpec::OciArchive { reference, .. } => {
            reference.as_deref()
        }
        BaseSpec::Registry(_) => None,
    }
}

/// An image source, opened: a layout (an archive unpacked into a private directory first) or a
/// registry repository, connected.
enum Opened<'a> {
    Layout {
        layout: Layout<'a>,
        /// The unpacked archive, removed when dropped.
        _unpacked: Option<tempfile::TempDir>,
    },
    /// Boxed: a connected client is much larger than a path.
    Remote(Box<Remote<'a>>),
}

impl<'a> Opened<'a> {
    fn open(
        spec: &'a BaseSpec,
        name: &'a str,
        options: &RegistryOptions,
        ui: &Ui,
    ) -> Result<Opened<'a>, BaseError> {
        Ok(match spec {
            BaseSpec::Oci { dir, .. } => Opened::Layout {
                layout: Layout::new(dir.clone(), name),
                _unpacked: None,
            },
            BaseSpec::OciArchive { file, .. } => {
                let unpacked = unpack_archive(file, name)?;
                Opened::Layout {
                    layout: Layout::new(unpacked.path().to_owned(), name),
                    _unpacked: Some(unpacked),
                }
            }
            BaseSpec::Registry(reference) => {
                let scopes = vec![format!("repository:{}:pull", reference.repository)];
                let client = Client::connect(reference, scopes, options, ui).map_err(|source| {
                    BaseError::Pull {
                        spec: name.to_string(),
                        source: Box::new(source),
                    }
                })?;
                Opened::Remote(Box::new(Remote {
                    client,
                    reference,
                    spec: name,
                    root: std::cell::RefCell::new(None),
                }))
            }
        })
    }

    fn source(&self) -> &dyn BlobSource {
        match self {
            Opened::Layout { layout, .. } => layout,
            Opened::Remote(remote) => remote.as_ref(),
        }
    }

    /// What the spec names: the layout's entry under `reference` (or its only one), or the
    /// registry's manifest or index for the tag or digest.
    fn root(&self, reference: Option<&str>) -> Result<Descriptor, BaseError> {
        match self {
            Opened::Layout { layout, .. } => layout.root_entry(reference),
            Opened::Remote(remote) => remote.root(),
        }
    }
}

/// Whether an index entry's platform is `platform`: same architecture, and the same variant
/// when both name one.
fn platform_matches(platform: Platform, arch: &str, variant: Option<&str>) -> bool {
    platform.arch() == arch
        && match (platform.variant(), variant) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        }
}

fn every_platform(
    source: &dyn BlobSource,
    spec: &str,
    root: &Descriptor,
    store: &BlobStore,
    found: &mut EveryPlatform,
) -> Result<(), BaseError> {
    let known = |arch: &str, variant: Option<&str>| {
        Platform::all()
            .into_iter()
            .find(|p| platform_matches(*p, arch, variant))
    };
    if !is_index(root.media_type()) {
        let manifest = parse_manifest(spec, &source.document(root)?)?;
        let config = read_config(source, spec, &manifest)?;
        let arch = config.architecture().to_string();
        match known(&arch, config.variant().as_deref()) {
            Some(platform) => {
                let digest = root.digest().to_string();
                let image = image_of(source, spec, digest, &manifest, config, platform, store)?;
                found.0.push((platform, image));
            }
            None => found.1.push(format!("{}/{arch}", config.os())),
        }
        return Ok(());
    }
    let index: ImageIndex = serde_json::from_slice(&source.document(root)?)
        .map_err(|e| invalid(spec, format!("its image index is not valid: {e}")))?;
    for entry in index.manifests() {
        if entry.artifact_type().is_some() {
            continue;
        }
        if is_index(entry.media_type()) {
            every_platform(source, spec, entry, store, found)?;
            continue;
        }
        let Some(p) = entry.platform() else {
            found.1.push(format!("{} (no platform)", entry.digest()));
            continue;
        };
        let arch = p.architecture().to_string();
        match known(&arch, p.variant().as_deref()).filter(|_| p.os().to_string() == "linux") {
            Some(platform) => found
                .0
                .push((platform, image_at(source, spec, entry, platform, store)?)),
            None => found.1.push(format!("{}/{arch}", p.os())),
        }
    }
    Ok(())
}

/// Pairs a manifest's layer blobs with the config's diff_ids, which must agree in number.
fn pair_layers(
    config: &ImageConfiguration,
    blobs: Vec<Blob>,
    invalid: &dyn Fn(String) -> BaseError,
) -> Result<Vec<Layer>, BaseError> {
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != blobs.len() {
        return Err(invalid(format!(
            "its manifest has {} layers but its config lists {} diff_ids",
            blobs.len(),
            diff_ids.len()
        )));
    }
    Ok(blobs
        .into_iter()
        .zip(diff_ids)
        .map(|(mut blob, diff_id)| {
            blob.media_type = oci_layer_type(&blob.media_type);
            Layer {
                blob,
                diff_id: diff_id.clone(),
            }
        })
        .collect())
}

/// Docker's layer media types, as their OCI equivalents (the bytes are the same).
fn oci_layer_type(media_type: &MediaType) -> MediaType {
    match media_type.to_string().as_str() {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => MediaType::ImageLayerGzip,
        "application/vnd.docker.image.rootfs.diff.tar" => MediaType::ImageLayer,
        _ => media_type.clone(),
    }
}

/// Where a base's blobs come from: a layout on disk or a registry repository. Both check
/// every blob against its descriptor before it is used.
trait BlobSource {
    /// A JSON document (index, manifest, config), at most [`MAX_DOCUMENT`] bytes, checked.
    fn document(&self, descriptor: &Descriptor) -> Result<Vec<u8>, BaseError>;
    /// A layer, copied into `store` and checked as it streams.
    fn copy_blob(&self, descriptor: &Descriptor, store: &BlobStore) -> Result<Blob, BaseError>;
}

fn invalid(spec: &str, detail: impl Into<String>) -> BaseError {
    BaseError::Invalid {
        spec: spec.to_string(),
        detail: detail.into(),
    }
}

/// The base image for `platform` under the index or manifest `entry`.
fn image_at(
    source: &dyn BlobSource,
    spec: &str,
    entry: &Descriptor,
    platform: Platform,
    store: &BlobStore,
) -> Result<BaseImage, BaseError> {
    let (digest, manifest) = manifest_for(source, spec, entry, platform)?;
    let config = read_config(source, spec, &manifest)?;
    image_of(source, spec, digest, &manifest, config, platform, store)
}

fn parse_manifest(spec: &str, bytes: &[u8]) -> Result<ImageManifest, BaseError> {
    serde_json::from_slice(bytes)
        .map_err(|e| invalid(spec, format!("its manifest is not valid: {e}")))
}

fn read_config(
    source: &dyn BlobSource,
    spec: &str,
    manifest: &ImageManifest,
) -> Result<ImageConfiguration, BaseError> {
    serde_json::from_slice(&source.document(manifest.config())?).map_err(|e| {
        invalid(
            spec,
            format!("its config is not an image configuration: {e}"),
        )
    })
}

/// The base image of a manifest and config already read: its layers copied and checked.
fn image_of(
    source: &dyn BlobSource,
    spec: &str,
    digest: String,
    manifest: &ImageManifest,
    config: ImageConfiguration,
    platform: Platform,
    store: &BlobStore,
) -> Result<BaseImage, BaseError> {
    let arch = crate::image::config::oci_arch(platform);
    if *config.architecture() != arch {
        return Err(BaseError::NoPlatform {
            spec: spec.to_string(),
            platform,
            available: format!("{}/{}", config.os(), config.architecture()),
        });
    }
    let blobs = manifest
        .layers()
        .iter()
        .map(|d| source.copy_blob(d, store))
        .collect::<Result<Vec<_>, _>>()?;
    let layers = pair_layers(&config, blobs, &|d| invalid(spec, d))?;
    Ok(BaseImage {
        name: spec.to_string(),
        digest,
        config,
        layers,
    })
}

/// Whether a media type is an image index (OCI) or a manifest list (Docker).
fn is_index(media_type: &MediaType) -> bool {
    let media = media_type.to_string();
    media == MediaType::ImageIndex.to_string()
        || media == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// Follows an index entry to the manifest for `platform` (through a nested index).
fn manifest_for(
    source: &dyn BlobSource,
    spec: &str,
    entry: &Descriptor,
    platform: Platform,
) -> Result<(String, ImageManifest), BaseError> {
    let bytes = source.document(entry)?;
    if !is_index(entry.media_type()) {
        return Ok((entry.digest().to_string(), parse_manifest(spec, &bytes)?));
    }
    let index: ImageIndex = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(spec, format!("its image index is not valid: {e}")))?;
    let found = index.manifests().iter().find(|d| {
        d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == "linux"
                && platform_matches(
                    platform,
                    &p.architecture().to_string(),
                    p.variant().as_deref(),
                )
        })
    });
    match found {
        Some(d) => manifest_for(source, spec, d, platform),
        None => Err(BaseError::NoPlatform {
            spec: spec.to_string(),
            platform,
            available: index
                .manifests()
                .iter()
                .filter_map(|d| d.platform().as_ref())
                .map(|p| format!("{}/{}", p.os(), p.architecture()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Refuses a descriptor too big for a JSON document, before anything is read.
fn check_document_size(spec: &str, descriptor: &Descriptor) -> Result<(), BaseError> {
    if descriptor.size() > MAX_DOCUMENT {
        return Err(invalid(
            spec,
            format!(
                "`{}` claims {} bytes, too big for a JSON document",
                descriptor.digest(),
                descriptor.size()
            ),
        ));
    }
    Ok(())
}

/// A document's bytes, checked against their descriptor.
fn checked_document(
    spec: &str,
    descriptor: &Descriptor,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, BaseError> {
    let digest = crate::image::blob::sha256_digest(&bytes);
    check(spec, descriptor, bytes.len() as u64, &digest)?;
    Ok(bytes)
}

/// Checks bytes against their descriptor.
fn check(spec: &str, descriptor: &Descriptor, size: u64, digest: &str) -> Result<(), BaseError> {
    if size != descriptor.size() || digest != descriptor.digest().to_string() {
        return Err(invalid(
            spec,
            format!(
                "blob `{}` does not match its descriptor: {size} bytes with digest {digest}, \
                 expected {} bytes",
                descriptor.digest(),
                descriptor.size()
            ),
        ));
    }
    Ok(())
}

/// The 64 hex digits of a descriptor's digest, refusing anything but well-formed sha256 (so
/// a digest can never name a path outside `blobs/sha256`, nor a URL outside the repository).
fn sha256_hex<'d>(spec: &str, digest: &'d str) -> Result<&'d str, BaseError> {
    super::blob::sha256_hex(digest)
        .ok_or_else(|| invalid(spec, format!("`{digest}` is not a sha256 digest")))
}

/// Streams `reader` into the store, at most `descriptor.size() + 1` bytes, and checks it.
fn copy_checked(
    spec: &str,
    descriptor: &Descriptor,
    reader: &mut dyn Read,
    store: &BlobStore,
    read_error: &dyn Fn(io::Error) -> BaseError,
) -> Result<Blob, BaseError> {
    let mut writer = store.writer().map_err(read_error)?;
    io::copy(&mut reader.take(descriptor.size() + 1), &mut writer).map_err(read_error)?;
    let blob = writer
        .finish(descriptor.media_type().clone())
        .map_err(read_error)?;
    if let Err(e) = check(spec, descriptor, blob.size, &blob.digest) {
        let _ = fs::remove_file(&blob.path);
        return Err(e);
    }
    Ok(blob)
}

/// An OCI layout on disk, read defensively: every blob is named by a well-formed digest and
/// checked against it.
struct Layout<'a> {
    root: PathBuf,
    spec: &'a str,
}

impl<'a> Layout<'a> {
    fn new(root: PathBuf, spec: &'a str) -> Layout<'a> {
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
    fn root_entry(&self, reference: Option<&str>) -> Result<Descriptor, BaseError> {
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

/// What a registry is asked to send for a manifest: every kind of manifest and index we read.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// A repository in a registry.
struct Remote<'a> {
    client: Client,
    reference: &'a Reference,
    spec: &'a str,
    /// The root document once fetched, with its digest.
    root: std::cell::RefCell<Option<(String, Vec<u8>)>>,
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
    fn root(&self) -> Result<Descriptor, BaseError> {
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
            && *wanted != digest
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
        let digest = descriptor.digest().to_string();
        sha256_hex(self.spec, &digest)?;
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

    fn copy_blob(&self, descriptor: &Descriptor, store: &BlobStore) -> Result<Blob, BaseError> {
        let response = self.get(descriptor, false)?;
        let mut body = response.into_body().into_reader();
        let read_error = |e: io::Error| self.pull_error(self.client.dropped(e));
        copy_checked(self.spec, descriptor, &mut body, store, &read_error)
    }
}

/// Unpacks an OCI archive into a temporary directory, refusing anything but plain files and
/// directories under relative, `..`-free paths.
fn unpack_archive(file: &Path, spec: &str) -> Result<tempfile::TempDir, BaseError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_like_outputs() {
        assert_eq!(
            "oci:base:v1".parse::<BaseSpec>().unwrap(),
            BaseSpec::Oci {
                dir: "base".into(),
                reference: Some("v1".into())
            }
        );
        assert_eq!(
            "oci-archive:/b.tar".parse::<BaseSpec>().unwrap(),
            BaseSpec::OciArchive {
                file: "/b.tar".into(),
                reference: None
            }
        );
        assert_eq!(
            "docker://127.0.0.1:5000/base:1"
                .parse::<BaseSpec>()
                .unwrap(),
            BaseSpec::Registry("127.0.0.1:5000/base:1".parse().unwrap())
        );
        assert!("docker-archive:x.tar".parse::<BaseSpec>().is_err());
        assert!("base".parse::<BaseSpec>().is_err());
    }
}
