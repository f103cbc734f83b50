//! A debug variant of an assembled image: the same layers plus one holding a static busybox at
//! `/busybox/busybox` and a link per applet beside it, `PATH` extended with `/busybox`; the
//! entrypoint, user and everything else as they were. The production image is read, never
//! changed, so it stays byte-identical whether or not a variant is made.

use std::path::Path;

use oci_spec::image::{ImageConfiguration, ImageManifest, MediaType};

use super::layer::{LayerBuilder, LayerError, Source};
use super::{Image, ImageError, Reuse, referrer, store_json};
use crate::image::blob::BlobStore;
use crate::image::layer::LayerCompression;

/// Where the shell and its applet links go.
pub const SHELL_DIR: &str = "/busybox";

/// The shell a variant adds.
pub struct ShellLayer<'a> {
    /// The static busybox.
    pub binary: &'a Path,
    /// Its size when verified.
    pub size: u64,
    /// Its applets; each becomes `/busybox/<applet>`, a link to `busybox`.
    pub applets: &'a [String],
    /// What the history line says it is (`busybox 1.35.0`).
    pub describe: String,
    /// An SBOM document of the shell alone, put in the layer at this path.
    pub sbom: Option<(String, Vec<u8>)>,
}

/// How the variant is written.
pub struct VariantSpec<'a> {
    /// The application's name (the SBOM artifact's title).
    pub name: &'a str,
    /// The images' timestamp.
    pub created: i64,
    /// How the layer is compressed (as the production image's).
    pub compression: LayerCompression,
    /// The whole variant's SBOM (the production's with the shell), for its referrer.
    pub document: Option<Vec<u8>>,
    /// The standard the document follows.
    pub sbom_format: crate::sbom::Format,
}

/// The shell's layer entries.
pub fn shell_layer(shell: &ShellLayer<'_>) -> Result<LayerBuilder, LayerError> {
    let mut layer = LayerBuilder::new();
    layer.add_dir(SHELL_DIR, 0o755)?;
    let source = Source::File {
        path: shell.binary.to_owned(),
        size: shell.size,
    };
    layer.add_file(&format!("{SHELL_DIR}/busybox"), source, 0o755)?;
    for applet in shell.applets.iter().filter(|a| *a != "busybox") {
        layer.add_symlink(&format!("{SHELL_DIR}/{applet}"), "busybox")?;
    }
    if let Some((path, document)) = &shell.sbom {
        layer.add_file(path, Source::Bytes(document.clone()), 0o644)?;
    }
    Ok(layer)
}

/// `production` with the shell's layer on top, its config's `PATH` ending in `/busybox`.
pub fn variant(
    production: &Image,
    shell: &ShellLayer<'_>,
    spec: &VariantSpec<'_>,
    store: &BlobStore,
    reuse: Reuse<'_>,
) -> Result<Image, ImageError> {
    let layer_error = |source| ImageError::Layer {
        which: "debug shell",
        source,
    };
    let mtime = u64::try_from(spec.created).unwrap_or(0);
    let (layer, origin) = shell_layer(shell)
        .map_err(layer_error)?
        .write_cached(store, mtime, spec.compression, reuse)
        .map_err(layer_error)?;
    let read = |blob: &super::blob::Blob, what| {
        std::fs::read(&blob.path).map_err(|source| ImageError::Store { what, source })
    };
    let parse_error = |what| {
        move |e: serde_json::Error| ImageError::Store {
            what,
            source: e.into(),
        }
    };
    let mut config: ImageConfiguration =
        serde_json::from_slice(&read(&production.config, "config")?)
            .map_err(parse_error("config"))?;
    let mut settings = config.config().clone().unwrap_or_default();
    let mut env = settings.env().clone().unwrap_or_default();
    match env.iter_mut().find(|e| e.starts_with("PATH=")) {
        Some(path) if path == "PATH=" => *path = format!("PATH={SHELL_DIR}"),
        Some(path) => path.push_str(&format!(":{SHELL_DIR}")),
        None => env.push(format!("PATH={SHELL_DIR}")),
    }
    settings.set_env(Some(env));
    config.set_config(Some(settings));
    config
        .rootfs_mut()
        .diff_ids_mut()
        .push(layer.diff_id.clone());
    let mut history = config.history().clone().unwrap_or_default();
    history.push(
        oci_spec::image::HistoryBuilder::default()
            .created(super::config::rfc3339(spec.created))
            .created_by(format!(
                "static-image: debug shell: {SHELL_DIR}/busybox ({}) and {} applet links",
                shell.describe,
                shell.applets.iter().filter(|a| *a != "busybox").count()
            ))
            .build()
            .map_err(|source| ImageError::Document {
                what: "config",
                source,
            })?,
    );
    config.set_history(Some(history));
    let config = store_json(store, &config, MediaType::ImageConfig, "config")?;

    let mut manifest: ImageManifest =
        serde_json::from_slice(&read(&production.manifest, "manifest")?)
            .map_err(parse_error("manifest"))?;
    manifest.set_config(config.descriptor());
    manifest.layers_mut().push(layer.blob.descriptor());
    let manifest = store_json(store, &manifest, MediaType::ImageManifest, "manifest")?;

    let mut layers = production.layers.clone();
    layers.push(layer);
    let mut origins = production.origins.clone();
    origins.push(origin);
    let mut image = Image {
        platform: production.platform,
        manifest,
        config,
        layers,
        created: production.created,
        origins,
        sbom: None,
    };
    if let Some(document) = &spec.document {
        image.sbom = Some(referrer(
            store,
            &image,
            document,
            spec.sbom_format,
            spec.name,
            spec.created,
        )?);
    }
    Ok(image)
}
