//! Stage `assemble`: a verified binary + [`ImageSpec`] → [`Image`] (blobs in a [`BlobStore`]).
//!
//! Like go-containerregistry's `empty.Image` + `mutate.Append`: start from nothing, add two
//! layers, set the config, write the manifest.
//!
//! 1. Base layer, byte-identical for every image with the same CA bundle, so registries and
//!    layouts store it once: the CA bundle (0644), `/etc/passwd`, `/etc/group`,
//!    `/etc/nsswitch.conf`, `/etc/hosts`, `/tmp` (1777).
//! 2. App layer: the binary (0755) at the entrypoint path, the image's other programs (0755)
//!    at `/app/<name>`, and the `--add` files.

pub mod blob;
pub mod ca;
pub mod config;
pub mod debug;
pub mod layer;
pub mod pgzip;
pub mod spec;

use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndexBuilder, MediaType, PlatformBuilder};

use crate::cache::layers::LayerCache;
use blob::{Blob, BlobStore, canonical_json};
use layer::{Layer, LayerBuilder, LayerError, Origin, Source};
use spec::{AddEntry, ImageSpec};

use crate::platform::Platform;

/// The annotation naming the image built on (image-spec `annotations.md`).
pub const ANNOTATION_BASE_NAME: &str = "org.opencontainers.image.base.name";
/// The annotation giving the digest of the image built on.
pub const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// The files of the base layer that come from `templates/`.
const TEMPLATES: [(&str, &[u8]); 4] = [
    ("/etc/passwd", include_bytes!("../../templates/passwd")),
    ("/etc/group", include_bytes!("../../templates/group")),
    (
        "/etc/nsswitch.conf",
        include_bytes!("../../templates/nsswitch.conf"),
    ),
    ("/etc/hosts", include_bytes!("../../templates/hosts")),
];

/// An assembled image: every blob is in the store it was assembled into.
#[derive(Clone, Debug)]
pub struct Image {
    /// The platform it runs on.
    pub platform: Platform,
    /// The manifest blob.
    pub manifest: Blob,
    /// The config blob.
    pub config: Blob,
    /// Layers, base first.
    pub layers: Vec<Layer>,
    /// Seconds since the epoch recorded as its creation time.
    pub created: i64,
    /// How each layer came to be (built, or taken from the cache), base first.
    pub origins: Vec<Origin>,
    /// The SBOM as an artifact whose `subject` is this image's manifest.
    pub sbom: Option<Referrer>,
}

/// An artifact that refers to an image (image-spec `manifest.md`, `subject`): found through the
/// registry's referrers API, its fallback tag, or a layout's `index.json`.
#[derive(Clone, Debug)]
pub struct Referrer {
    /// The digest of the manifest (or index) it refers to.
    pub subject: String,
    /// The artifact's manifest.
    pub manifest: Blob,
    /// Its `artifactType`.
    pub artifact_type: String,
    /// Its config: the empty descriptor's `{}`.
    pub config: Blob,
    /// The document, its one layer.
    pub document: Blob,
    /// The manifest's annotations, which indexes of referrers repeat.
    pub annotations: std::collections::HashMap<String, String>,
}

impl Referrer {
    /// The blobs its manifest names: the config, then the document.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        [&self.config, &self.document].into_iter()
    }

    /// The manifest's descriptor with its `artifactType`, as indexes list referrers.
    pub fn descriptor(&self) -> Descriptor {
        let mut descriptor = self.manifest.descriptor();
        descriptor.set_artifact_type(Some(MediaType::Other(self.artifact_type.clone())));
        descriptor.set_annotations(Some(self.annotations.clone()));
        descriptor
    }
}

impl Image {
    /// Every blob the manifest references, then the manifest itself.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.layers
            .iter()
            .map(|l| &l.blob)
            .chain([&self.config, &self.manifest])
    }

    /// Compressed size of everything the image is made of.
    pub fn size(&self) -> u64 {
        self.blobs().map(|b| b.size).sum()
    }
}

impl Image {
    /// The manifest's descriptor with the platform, as an index lists it.
    pub fn descriptor(&self) -> Descriptor {
        let mut descriptor = self.manifest.descriptor();
        let mut platform = PlatformBuilder::default()
            .architecture(config::oci_arch(self.platform))
            .os(oci_spec::image::Os::Linux);
        if let Some(variant) = self.platform.variant() {
            platform = platform.variant(variant);
        }
        descriptor.set_platform(platform.build().ok());
        descriptor
    }
}

/// What an output holds: one image, or one per platform under an image index. The images
/// share one blob store, so the base layer, identical for every platform, is stored once.
#[derive(Clone, Debug)]
pub struct ImageSet {
    /// The images, in platform order; never empty.
    images: Vec<Image>,
    /// The image index, when there are several.
    index: Option<Blob>,
    /// Artifacts attached after assembly (signatures, provenance), each naming its subject.
    attached: Vec<Referrer>,
}

impl ImageSet {
    /// One image, no index: the output is byte-identical to a single-platform build.
    pub fn single(image: Image) -> ImageSet {
        ImageSet {
            images: vec![image],
            index: None,
            attached: Vec::new(),
        }
    }

    /// Several images under an index (one image stays single).
    pub fn of(mut images: Vec<Image>, store: &BlobStore) -> Result<ImageSet, ImageError> {
        images.sort_by_key(|i| i.platform);
        if images.is_empty() {
            return Err(ImageError::NoImages);
        }
        if images.len() == 1 {
            return Ok(ImageSet {
                images,
                index: None,
                attached: Vec::new(),
            });
        }
        let document = |source| ImageError::Document {
            what: "index",
            source,
        };
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(images.iter().map(Image::descriptor).collect::<Vec<_>>())
            .build()
            .map_err(document)?;
        let index = store_json(store, &index, MediaType::ImageIndex, "index")?;
        Ok(ImageSet {
            images,
            index: Some(index),
            attached: Vec::new(),
        })
    }

    /// The images, in platform order.
    pub fn images(&self) -> &[Image] {
        &self.images
    }

    /// The image index, when there are several images.
    pub fn index(&self) -> Option<&Blob> {
        self.index.as_ref()
    }

    /// The digest a reference names: the index's, or the one manifest's.
    pub fn digest(&self) -> &str {
        match &self.index {
            Some(index) => &index.digest,
            None => &self.images[0].manifest.digest,
        }
    }

    /// What `index.json` lists for it: the index, or the manifest with its platform.
    pub fn descriptor(&self) -> Descriptor {
        match &self.index {
            Some(index) => index.descriptor(),
            None => self.images[0].descriptor(),
        }
    }

    /// Every blob, each image's then the index (duplicates included; writers skip them).
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.images.iter().flat_map(Image::blobs).chain(&self.index)
    }

    /// Every blob a layout holds of the set: the images', then their referrers' (manifests
    /// included; a layout lists them in `index.json`, where tools look for referrers).
    pub fn blobs_with_referrers(&self) -> impl Iterator<Item = &Blob> {
        self.blobs().chain(
            self.referrers()
                .flat_map(|r| r.blobs().chain([&r.manifest])),
        )
    }

    /// The artifacts referring to the images: their SBOMs in platform order, then what was
    /// attached (signatures, provenance) in the order attached.
    pub fn referrers(&self) -> impl Iterator<Item = &Referrer> {
        self.images
            .iter()
            .filter_map(|i| i.sbom.as_ref())
            .chain(&self.attached)
    }

    /// Whether signatures were attached.
    pub fn is_signed(&self) -> bool {
        !self.attached.is_empty()
    }

    /// Attaches an artifact whose blobs are in the set's store.
    pub fn attach(&mut self, referrer: Referrer) {
        self.attached.push(referrer);
    }

    /// The creation time recorded (the same for every image).
    pub fn created(&self) -> i64 {
        self.images[0].created
    }
}

/// Why an image could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// An image set needs at least one image.
    #[error("no image to write")]
    NoImages,
    /// A layer's entries clash or a source could not be read.
    #[error("cannot make the {which} layer")]
    Layer {
        /// `base` or `app`.
        which: &'static str,
        /// What went wrong.
        #[source]
        source: LayerError,
    },
    /// oci-spec refused a document (a builder's required field).
    #[error("cannot build the image {what}")]
    Document {
        /// `config` or `manifest`.
        what: &'static str,
        /// oci-spec's error.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// Serialising or storing a document failed.
    #[error("cannot store the image {what}")]
    Store {
        /// `config` or `manifest`.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The base layer's entries for a CA bundle.
pub fn base_layer(ca_pem: &[u8]) -> LayerBuilder {
    let mut layer = LayerBuilder::new();
    let mut add = |path: &str, bytes: &[u8]| {
        layer
            .add_file(path, Source::Bytes(bytes.to_vec()), 0o644)
            .unwrap_or_else(|e| unreachable!("fixed base layer paths cannot clash: {e}"));
    };
    for (path, bytes) in TEMPLATES {
        add(path, bytes);
    }
    add(config::CA_BUNDLE_PATH, ca_pem);
    layer
        .add_dir("/tmp", 0o1777)
        .unwrap_or_else(|e| unreachable!("fixed base layer paths cannot clash: {e}"));
    layer
}

/// The app layer's entries: the binary and the added files.
pub fn app_layer(binary: &Path, size: u64, spec: &ImageSpec) -> Result<LayerBuilder, LayerError> {
    let mut layer = LayerBuilder::new();
    let source = Source::File {
        path: binary.to_owned(),
        size,
    };
    layer.add_file(spec.entrypoint.as_str(), source, 0o755)?;
    for (path, source) in &spec.programs {
        layer.add_file(path.as_str(), source.clone(), 0o755)?;
    }
    for entry in &spec.adds {
        match entry {
            AddEntry::Dir(path) => layer.add_dir(path.as_str(), 0o755)?,
            AddEntry::File { dest, source, mode } => {
                layer.add_file(dest.as_str(), source.clone(), *mode)?
            }
            AddEntry::Link { dest, target } => layer.add_symlink(dest.as_str(), target)?,
        }
    }
    if let Some(documents) = &spec.sbom {
        let path = spec.sbom_format.image_path(&spec.name);
        layer.add_file(&path, Source::Bytes(documents.document.clone()), 0o644)?;
        let path = crate::sbom::scanner_copy_path(&spec.name);
        layer.add_file(&path, Source::Bytes(documents.scanner_copy.clone()), 0o644)?;
    }
    Ok(layer)
}

/// Where layers may come from instead of being compressed again.
#[derive(Clone, Copy)]
pub struct Reuse<'a> {
    /// The layer cache, if one is used.
    pub cache: Option<&'a LayerCache>,
    /// Whether some output still needs a blob's bytes (then a cached one is verified first).
    pub needed: &'a (dyn Fn(&str) -> bool + Sync),
    /// Told of every uncompressed byte compressed (for a progress bar).
    pub on_bytes: &'a (dyn Fn(u64) + Sync),
}

/// Assembles the image for a verified binary of `size` bytes.
pub fn assemble(
    binary: &Path,
    size: u64,
    spec: &ImageSpec,
    store: &BlobStore,
    reuse: Reuse<'_>,
) -> Result<Image, ImageError> {
    let mtime = u64::try_from(spec.created).unwrap_or(0);
    let app_error = |source| ImageError::Layer {
        which: "app",
        source,
    };
    let mut layers = Vec::new();
    let mut origins = Vec::new();
    let mut history = Vec::new();
    match &spec.base {
        // A base brings its own system files: ours would replace its /etc/passwd.
        Some(base) => {
            layers.extend(base.layers.iter().cloned());
            origins.extend(base.layers.iter().map(|_| Origin::Base));
        }
        None => {
            let (base, origin) = base_layer(&spec.ca.pem)
                .write_cached(store, mtime, spec.compression, reuse)
                .map_err(|source| ImageError::Layer {
                    which: "base",
                    source,
                })?;
            layers.push(base);
            origins.push(origin);
            history.push(format!(
                "static-image: base: {} CA certificates, /etc/passwd, /etc/group, \
                 /etc/nsswitch.conf, /etc/hosts, /tmp",
                spec.ca.count
            ));
        }
    }
    let mut app_entries = app_layer(binary, size, spec).map_err(app_error)?;
    if spec.base.is_some() && spec.ca_in_app {
        app_entries
            .add_file(
                config::CA_BUNDLE_PATH,
                Source::Bytes(spec.ca.pem.clone()),
                0o644,
            )
            .map_err(app_error)?;
    }
    let (app, app_origin) = app_entries
        .write_cached(store, mtime, spec.compression, reuse)
        .map_err(app_error)?;
    let mut programs = spec.entrypoint.to_string();
    for (path, _) in &spec.programs {
        programs.push_str(&format!(", {path}"));
    }
    history.push(match spec.adds.len() {
        0 => format!("static-image: app: {programs}"),
        n => format!("static-image: app: {programs} and {n} added entries"),
    });
    layers.push(app);
    origins.push(app_origin);

    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let document = |what, source| ImageError::Document { what, source };
    let config =
        config::configuration(spec, &diff_ids, &history).map_err(|e| document("config", e))?;
    let config = store_json(store, &config, MediaType::ImageConfig, "config")?;

    let mut annotations = spec.annotations.clone();
    if let Some(base) = &spec.base {
        annotations.insert(ANNOTATION_BASE_NAME.into(), base.name.clone());
        annotations.insert(ANNOTATION_BASE_DIGEST.into(), base.digest.clone());
    }
    let manifest = config::manifest(
        config.descriptor(),
        layers.iter().map(|l| l.blob.descriptor()).collect(),
        &annotations,
        spec.created,
    )
    .map_err(|e| document("manifest", e))?;
    let manifest = store_json(store, &manifest, MediaType::ImageManifest, "manifest")?;
    Ok(Image {
        platform: spec.platform,
        manifest,
        config,
        layers,
        created: spec.created,
        origins,
        sbom: None,
    })
    .and_then(|image| match &spec.sbom {
        Some(documents) => {
            let sbom = referrer(
                store,
                &image,
                &documents.document,
                spec.sbom_format,
                &spec.name,
                spec.created,
            )?;
            Ok(Image {
                sbom: Some(sbom),
                ..image
            })
        }
        None => Ok(image),
    })
}

/// The SBOM `document` as an OCI artifact whose `subject` is `image`.
fn referrer(
    store: &BlobStore,
    image: &Image,
    document: &[u8],
    format: crate::sbom::Format,
    name: &str,
    created: i64,
) -> Result<Referrer, ImageError> {
    artifact(
        store,
        &image.manifest,
        Artifact {
            artifact_type: format.media_type(),
            what: "SBOM",
            document,
            title: &format.file_name(name),
            annotations: Vec::new(),
        },
        created,
    )
}

/// What an artifact holds: its type, its one document and the document's file name.
pub struct Artifact<'a> {
    /// The `artifactType`, also the document's media type.
    pub artifact_type: &'a str,
    /// What it is, in errors (`SBOM`, `signature`).
    pub what: &'static str,
    /// The document.
    pub document: &'a [u8],
    /// The document's `org.opencontainers.image.title`.
    pub title: &'a str,
    /// Annotations of the artifact's manifest besides `created` (repeated in indexes).
    pub annotations: Vec<(&'static str, String)>,
}

/// `artifact` as an OCI artifact (image-spec's "guidelines for artifact usage": an image
/// manifest with `artifactType`, the empty config and the document as its one layer) whose
/// `subject` is the manifest or index `subject`.
pub fn artifact(
    store: &BlobStore,
    subject: &Blob,
    artifact: Artifact<'_>,
    created: i64,
) -> Result<Referrer, ImageError> {
    let store_error = |what| move |source| ImageError::Store { what, source };
    let media_type = MediaType::Other(artifact.artifact_type.to_string());
    let empty = store
        .put(b"{}", MediaType::EmptyJSON)
        .map_err(store_error(artifact.what))?;
    let document = store
        .put(artifact.document, media_type.clone())
        .map_err(store_error(artifact.what))?;
    let mut layer = document.descriptor();
    layer.set_annotations(Some(
        [(
            oci_spec::image::ANNOTATION_TITLE.to_string(),
            artifact.title.to_string(),
        )]
        .into(),
    ));
    // The subject descriptor names the manifest alone (no platform, as the spec's examples).
    let subject_descriptor = subject.descriptor();
    let mut annotations: std::collections::HashMap<String, String> = [(
        oci_spec::image::ANNOTATION_CREATED.to_string(),
        config::rfc3339(created),
    )]
    .into();
    annotations.extend(
        artifact
            .annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone())),
    );
    let manifest = oci_spec::image::ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .artifact_type(media_type)
        .config(empty.descriptor())
        .layers(vec![layer])
        .subject(subject_descriptor)
        .annotations(annotations.clone())
        .build()
        .map_err(|source| ImageError::Document {
            what: artifact.what,
            source,
        })?;
    let manifest = store_json(store, &manifest, MediaType::ImageManifest, artifact.what)?;
    Ok(Referrer {
        subject: subject.digest.clone(),
        manifest,
        artifact_type: artifact.artifact_type.to_string(),
        config: empty,
        document,
        annotations,
    })
}

fn store_json<T: serde::Serialize>(
    store: &BlobStore,
    value: &T,
    media_type: MediaType,
    what: &'static str,
) -> Result<Blob, ImageError> {
    let store_error = |source| ImageError::Store { what, source };
    let bytes = canonical_json(value).map_err(|e| store_error(e.into()))?;
    store.put(&bytes, media_type).map_err(store_error)
}
