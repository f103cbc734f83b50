//! What every reader shares (`--base`, `verify IMAGE`, `sbom IMAGE`): an image read is
//! untrusted input.
//!
//! A transport's reader implements [`BlobSource`]. For each platform the matching manifest is
//! picked from the image's index ([`walk`]); its config and layers are copied into our blob
//! store, every blob checked against its digest and size on the way ([`check`]) and within
//! the [`limits`], so a damaged or hostile image is refused before anything is written.

pub mod attached;
pub(crate) mod check;
pub mod limits;
pub(crate) mod walk;

use std::io;
use std::path::PathBuf;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest, MediaType};

use crate::image::blob::{Blob, BlobStore};
use crate::image::layer::Layer;
use crate::image::spec::BaseImage;
use crate::platform::Platform;
use crate::registry::RegistryError;
pub use limits::MaxBlobSize;
use walk::manifest_for;

/// The most a JSON document of a base image (index, manifest, config) may be.
pub(crate) const MAX_DOCUMENT: u64 = 4 << 20;

/// Each platform's image, and the platforms found but not read.
pub type EveryPlatform = (Vec<(Platform, BaseImage)>, Vec<String>);

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

impl BaseError {
    /// What the user can do about it, when there is something specific to say.
    pub fn help(&self) -> Option<String> {
        match self {
            BaseError::NoPlatform { .. } => Some(
                "build for a platform the base has (`--platform`), or pick a base that has it"
                    .into(),
            ),
            BaseError::Pull { source, .. } => source.help(),
            _ => None,
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
pub(crate) trait BlobSource {
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
    /// The artifacts that may refer to `subject` (listed with an `artifactType`), unread: a
    /// registry's referrers list (or its fallback tag's), a layout's artifact entries. The
    /// caller reads each and keeps those whose `subject` is really `subject`.
    fn referrer_candidates(&self, subject: &Descriptor) -> Result<Vec<Descriptor>, BaseError>;
}

pub(crate) fn invalid(spec: &str, detail: impl Into<String>) -> BaseError {
    BaseError::Invalid {
        spec: spec.to_string(),
        detail: detail.into(),
    }
}

/// The base image for `platform` under the index or manifest `entry`.
pub(crate) fn image_at(
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

pub(crate) fn parse_manifest(spec: &str, bytes: &[u8]) -> Result<ImageManifest, BaseError> {
    serde_json::from_slice(bytes)
        .map_err(|e| invalid(spec, format!("its manifest is not valid: {e}")))
}

pub(crate) fn read_config(
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
pub(crate) fn image_of(
    source: &dyn BlobSource,
    spec: &str,
    digest: String,
    manifest: &ImageManifest,
    config: ImageConfiguration,
    platform: Platform,
    store: &BlobStore,
) -> Result<BaseImage, BaseError> {
    let arch = oci_spec::image::Arch::from(platform.arch());
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
