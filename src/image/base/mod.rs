//! `--base SPEC`: our layers on top of another image (a company's hardened base) instead of
//! scratch.
//!
//! The base is read from an OCI layout (`oci:DIR[:REF]`), an OCI archive
//! (`oci-archive:FILE[:REF]`) or a registry (`docker://…`). For each platform the matching
//! manifest is picked from the base's index; its config and layers are copied into our blob
//! store, every blob checked against its digest and size on the way, so a damaged or hostile
//! base is refused before anything is written. Its configuration is merged under ours.

mod archive;
mod check;
mod layout;
pub mod limits;
mod remote;
mod walk;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest, MediaType};

use super::blob::{Blob, BlobStore};
use super::layer::Layer;
use crate::platform::{Platform, Platforms};
use crate::registry::{Client, Reference, RegistryError, RegistryOptions};
use crate::ui::Ui;
use archive::unpack_archive;
use layout::Layout;
pub use limits::MaxBlobSize;
use remote::Remote;
use walk::{Budgeted, every_platform, manifest_for};

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
    /// A blob (or an archive entry) claims more than the limit: refused before it is read.
    #[error(
        "image `{spec}`: `{blob}` claims {claimed} bytes, more than the limit of {limit}; if \
         the image is trusted, raise it with `--max-blob-size` or STATIC_IMAGE_MAX_BLOB_SIZE"
    )]
    TooLarge {
        /// The image.
        spec: String,
        /// The blob's digest, or the archive entry's path.
        blob: String,
        /// The size it claims.
        claimed: u64,
        /// The limit.
        limit: MaxBlobSize,
    },
    /// A layer's uncompressed bytes are not those its config's diff_id names.
    #[error(
        "image `{spec}`: layer `{layer}` does not match its config: its uncompressed digest is \
         {found}, the config's diff_id is {expected}"
    )]
    DiffId {
        /// The image.
        spec: String,
        /// The layer's (compressed) digest.
        layer: String,
        /// The config's diff_id for it.
        expected: String,
        /// The digest of its uncompressed bytes.
        found: String,
    },
    /// A layer decompresses to more than the limit (a decompression bomb, or a huge layer).
    #[error(
        "image `{spec}`: layer `{layer}` expands to more than {} bytes when decompressed \
         ({}x the blob limit of {max}); if the image is trusted, raise the limit with \
         `--max-blob-size` or STATIC_IMAGE_MAX_BLOB_SIZE",
        max.uncompressed(),
        limits::EXPANSION
    )]
    Expands {
        /// The image.
        spec: String,
        /// The layer's digest.
        layer: String,
        /// The blob limit it is derived from.
        max: MaxBlobSize,
    },
    /// A layer is not the compressed tar its media type says.
    #[error("image `{spec}`: layer `{layer}` cannot be decompressed as `{media_type}`")]
    Decompress {
        /// The image.
        spec: String,
        /// The layer's digest.
        layer: String,
        /// Its media type.
        media_type: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An index names itself, directly or through other indexes.
    #[error(
        "image `{spec}`: index `{index}` names itself{}",
        if through.is_empty() { String::new() } else {
            format!(" through `{}`", through.join("` -> `"))
        }
    )]
    IndexCycle {
        /// The image.
        spec: String,
        /// The index named again.
        index: String,
        /// The indexes between it and the entry naming it, outermost first.
        through: Vec<String>,
    },
    /// Indexes nested deeper than [`limits::MAX_INDEX_DEPTH`].
    #[error("image `{spec}`: index `{index}` is nested more than {limit} indexes deep")]
    TooDeep {
        /// The image.
        spec: String,
        /// The index past the limit.
        index: String,
        /// The limit.
        limit: usize,
    },
    /// More of something than a real image holds.
    #[error("image `{spec}` holds more than {limit} {what}; it is refused")]
    TooMany {
        /// The image.
        spec: String,
        /// What there are too many of.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A file of a layout, or an archive, that is not a regular file.
    #[error("image `{spec}`: `{}` is {kind}, not a regular file", path.display())]
    NotRegular {
        /// The image.
        spec: String,
        /// The file.
        path: PathBuf,
        /// What it is (`a FIFO`, `a symbolic link`).
        kind: &'static str,
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
    let source = &Budgeted::new(opened.source(), &name);
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
    platforms: &Platforms,
    options: &RegistryOptions,
    ui: &Ui,
) -> Result<EveryPlatform, BaseError> {
    let name = spec.to_string();
    let opened = Opened::open(spec, &name, options, ui)?;
    let root = opened.root(reference_of(spec))?;
    let mut found = (Vec::new(), Vec::new());
    let source = Budgeted::new(opened.source(), &name);
    every_platform(&source, &name, &root, store, platforms, &mut found)?;
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
        _unpacked: Option<crate::staging::Staged>,
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
                layout: Layout::new(dir.clone(), name, options.max_blob_size),
                _unpacked: None,
            },
            BaseSpec::OciArchive { file, .. } => {
                let unpacked = unpack_archive(file, name, options.max_blob_size)?;
                Opened::Layout {
                    layout: Layout::new(unpacked.path().to_owned(), name, options.max_blob_size),
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
                    max: options.max_blob_size,
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

/// Copies a manifest's layers into `store`, each checked against its descriptor and, once
/// decompressed, against the config's diff_id for it; the two lists must agree in number,
/// which is checked before anything is copied.
fn copy_layers(
    source: &dyn BlobSource,
    spec: &str,
    manifest: &ImageManifest,
    config: &ImageConfiguration,
    store: &BlobStore,
) -> Result<Vec<Layer>, BaseError> {
    let diff_ids = config.rootfs().diff_ids();
    let layers = manifest.layers();
    if diff_ids.len() != layers.len() {
        return Err(invalid(
            spec,
            format!(
                "its manifest has {} layers but its config lists {} diff_ids",
                layers.len(),
                diff_ids.len()
            ),
        ));
    }
    layers
        .iter()
        .zip(diff_ids)
        .map(|(descriptor, diff_id)| {
            let mut blob = source.copy_blob(descriptor, diff_id, store)?;
            blob.media_type = oci_layer_type(&blob.media_type);
            Ok(Layer {
                blob,
                diff_id: diff_id.clone(),
            })
        })
        .collect()
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
pub(super) trait BlobSource {
    /// A JSON document (index, manifest, config), at most [`MAX_DOCUMENT`] bytes, checked.
    fn document(&self, descriptor: &Descriptor) -> Result<Vec<u8>, BaseError>;
    /// A layer, copied into `store` and checked as it streams: its size and digest against
    /// `descriptor`, its uncompressed digest against `diff_id`. A descriptor claiming more
    /// than the blob limit is refused before anything is opened or asked for.
    fn copy_blob(
        &self,
        descriptor: &Descriptor,
        diff_id: &str,
        store: &BlobStore,
    ) -> Result<Blob, BaseError>;
}

pub(super) fn invalid(spec: &str, detail: impl Into<String>) -> BaseError {
    BaseError::Invalid {
        spec: spec.to_string(),
        detail: detail.into(),
    }
}

/// The base image for `platform` under the index or manifest `entry`.
pub(super) fn image_at(
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

pub(super) fn parse_manifest(spec: &str, bytes: &[u8]) -> Result<ImageManifest, BaseError> {
    serde_json::from_slice(bytes)
        .map_err(|e| invalid(spec, format!("its manifest is not valid: {e}")))
}

pub(super) fn read_config(
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
pub(super) fn image_of(
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
    let layers = copy_layers(source, spec, manifest, &config, store)?;
    Ok(BaseImage {
        name: spec.to_string(),
        digest,
        config,
        layers,
    })
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
