//! The back half of the pipeline, shared by `package` and `build`: verify → assemble → write.
//!
//! Input: a binary, the image flags and defaults from the caller (name, labels, default output).
//! Output: [`PackageOutcome`]: the verify report, the image's digests and what was written.
//! Flags are checked before any work; the binary is refused with its verify report if dynamic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::ImageArgs;
use crate::error::Error;
use crate::image::blob::BlobStore;
use crate::image::ca::{CaBundle, CaSource};
use crate::image::cache::LayerCache;
use crate::image::layer::{LayerCompression, Origin};
use crate::image::spec::{ImagePath, ImageSpec, User, expand_adds};
use crate::image::{Image, ImageError, ImageSet, Reuse, assemble};
use crate::platform::Platform;
use crate::replay::Replay;
use crate::sbom::{self, Facts};
use crate::transport::{
    self, BaseImage, ImageRef, Input, OutputError, SinkContext, Written, check_outputs, check_tag,
    sink_for,
};
use crate::ui::Ui;
use crate::verify::{StaticReport, verify_path};

/// What the caller knows about the binary beyond the flags.
#[derive(Clone, Debug, Default)]
pub struct PackageDefaults {
    /// The name when `--name` is not given.
    pub name: String,
    /// Where the default output goes: `<dir>/<name>` as an OCI layout.
    pub output_dir: PathBuf,
    /// The layer cache, unless `STATIC_IMAGE_CACHE_DIR` names another or `--no-cache`.
    pub cache_dir: PathBuf,
    /// `org.opencontainers.image.*` values known from the project (version, licenses…).
    pub metadata: BTreeMap<String, String>,
    /// Outputs written besides those asked for (`--check-reproducible`'s own copy); they are
    /// not reported.
    pub extra_outputs: Vec<ImageRef>,
    /// What the build knows for each platform's SBOM beyond the binary (Cargo's resolved
    /// dependencies, the toolchain's C library).
    pub sbom: BTreeMap<Platform, Facts>,
}

/// A layer as reported in JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerSummary {
    /// Compressed digest.
    pub digest: String,
    /// Compressed size.
    pub size: u64,
    /// Uncompressed digest.
    pub diff_id: String,
    /// Taken from the layer cache rather than compressed in this run.
    pub cached: bool,
    /// A layer of the base image (`--base`).
    pub base: bool,
}

/// The image as reported.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageSummary {
    /// Its platform.
    pub platform: Platform,
    /// Manifest digest: what `skopeo inspect` calls the image's digest.
    pub digest: String,
    /// Config digest (the image ID).
    pub config: String,
    /// Total compressed size of manifest, config and layers.
    pub size: u64,
    /// Layers, base first.
    pub layers: Vec<LayerSummary>,
    /// The SBOM: its path in the image and the digest of the artifact referring to the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<SbomSummary>,
}

/// Where an image's SBOM is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SbomSummary {
    /// Its path in the image.
    pub path: String,
    /// The document's digest.
    pub digest: String,
    /// The referrer artifact's manifest digest.
    pub referrer: String,
}

impl ImageSummary {
    fn of(image: &Image, name: &str) -> ImageSummary {
        ImageSummary {
            platform: image.platform,
            digest: image.manifest.digest.clone(),
            config: image.config.digest.clone(),
            size: image.size(),
            layers: image
                .layers
                .iter()
                .zip(&image.origins)
                .map(|(l, origin)| LayerSummary {
                    digest: l.blob.digest.clone(),
                    size: l.blob.size,
                    diff_id: l.diff_id.clone(),
                    cached: *origin == Origin::Cached,
                    base: *origin == Origin::Base,
                })
                .collect(),
            sbom: image.sbom.as_ref().map(|r| SbomSummary {
                path: sbom::image_path(name),
                digest: r.document.digest.clone(),
                referrer: r.manifest.digest.clone(),
            }),
        }
    }
}

/// The CA bundle as reported.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaSummary {
    /// Where it came from.
    pub source: CaSource,
    /// Files appended.
    pub extra: Vec<PathBuf>,
    /// Number of certificates.
    pub certificates: usize,
}

/// One platform's image and the report on its binary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlatformOutcome {
    /// The image.
    pub image: ImageSummary,
    /// The binary's verify report.
    pub verify: StaticReport,
}

/// Everything a packaging run produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PackageOutcome {
    /// What the outputs' references name: the image index's digest for several platforms,
    /// else the manifest's.
    pub digest: String,
    /// The image index's digest, for several platforms.
    pub index: Option<String>,
    /// The (first) platform's image: the only one of a single-platform build.
    pub image: ImageSummary,
    /// The outputs written.
    pub outputs: Vec<Written>,
    /// The (first) platform's verify report.
    pub verify: StaticReport,
    /// Every platform's image and report, in platform order.
    pub platforms: Vec<PlatformOutcome>,
    /// The CA bundle shipped.
    pub ca_bundle: CaSummary,
    /// Every warning shown.
    pub warnings: Vec<String>,
}

/// Seconds since the epoch for image timestamps: `SOURCE_DATE_EPOCH` if set, else 0.
pub fn source_date_epoch() -> Result<i64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(0),
        Ok(v) if v.trim().is_empty() => Ok(0),
        Ok(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            // RFC 3339 stops at year 9999; past it a timestamp cannot be written faithfully.
            .filter(|s| (0..=253_402_300_799).contains(s))
            .ok_or(Error::SourceDateEpoch(v)),
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Error::Usage(format!(
            "`{}` cannot be an application name: it becomes a file name in the image (give --name)",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// The layer compression the flags ask for.
fn layer_compression(args: &ImageArgs) -> Result<LayerCompression, Error> {
    LayerCompression::from_args(args.compression, args.compression_level).map_err(Error::Usage)
}

/// Checks the flags that can only be judged together, before any slow work.
pub fn check_args(args: &ImageArgs, name: &str) -> Result<(), Error> {
    check_name(name)?;
    let compression = layer_compression(args)?;
    if let LayerCompression::Zstd(_) = compression {
        for output in &args.output {
            if let ImageRef::DockerArchive { file, .. } = output {
                return Err(Error::Usage(format!(
                    "`docker-archive:{}` takes gzip or uncompressed layers (`docker load` reads \
                     no zstd); use `--compression gzip` or `none`, or an `oci-archive:`",
                    file.display()
                )));
            }
        }
    }
    for tag in &args.tag {
        check_tag(tag).map_err(|e| Error::Usage(e.to_string()))?;
    }
    for output in &args.output {
        output.preflight()?;
    }
    check_paths(args, &args.output, &[])
}

/// Refuses outputs that name one another or one of the run's inputs: the binaries, the
/// `--add` sources, the CA files and a local `--base`.
fn check_paths(args: &ImageArgs, outputs: &[ImageRef], binaries: &[&Path]) -> Result<(), Error> {
    let base = args
        .base
        .as_deref()
        .and_then(|b| b.parse::<ImageRef>().ok());
    let mut inputs: Vec<Input<'_>> = binaries
        .iter()
        .map(|path| Input {
            role: "the binary",
            path,
        })
        .collect();
    inputs.extend(args.add.iter().map(|add| Input {
        role: "the `--add` source",
        path: &add.source,
    }));
    // `builtin` names the compiled-in roots, not a file.
    let ca = args.ca_bundle.iter().filter(|p| p.as_os_str() != "builtin");
    inputs.extend(ca.chain(&args.extra_ca).map(|path| Input {
        role: "the CA file",
        path,
    }));
    match &base {
        Some(
            ImageRef::Oci { dir: path, .. }
            | ImageRef::OciArchive { file: path, .. }
            | ImageRef::DockerArchive { file: path, .. },
        ) => {
            inputs.push(Input {
                role: "the `--base` image",
                path,
            });
        }
        Some(ImageRef::Registry(_)) | None => {}
    }
    Ok(check_outputs(outputs, &inputs)?)
}

/// Refuses outputs that cannot hold `platforms` platforms (a docker-archive holds one).
pub fn check_platform_count(args: &ImageArgs, platforms: usize) -> Result<(), Error> {
    if platforms > 1 {
        for output in &args.output {
            if let ImageRef::DockerArchive { file, .. } = output {
                return Err(OutputError::OnePlatform { path: file.clone() }.into());
            }
        }
    }
    Ok(())
}

/// The layer cache to use: none with `--no-cache`, else `STATIC_IMAGE_CACHE_DIR` or `default`.
pub fn cache_dir(args: &ImageArgs, default: &Path) -> Option<PathBuf> {
    (!args.no_cache).then(|| {
        std::env::var_os("STATIC_IMAGE_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| default.to_owned())
    })
}

/// Verifies `binary`, assembles its image and writes every output.
pub fn package(
    binary: &Path,
    platform: Option<Platform>,
    args: &ImageArgs,
    defaults: &PackageDefaults,
    ui: &Ui,
) -> Result<PackageOutcome, Error> {
    package_many(&[(binary.to_owned(), platform)], args, defaults, ui)
}

/// Verifies each binary against its platform, assembles one image per platform into one blob
/// store, puts them under an image index when there are several, and writes every output.
pub fn package_many(
    inputs: &[(PathBuf, Option<Platform>)],
    args: &ImageArgs,
    defaults: &PackageDefaults,
    ui: &Ui,
) -> Result<PackageOutcome, Error> {
    let name = args.name.clone().unwrap_or_else(|| defaults.name.clone());
    check_args(args, &name)?;
    check_platform_count(args, inputs.len())?;
    let mut outputs = if args.output.is_empty() {
        vec![ImageRef::Oci {
            dir: defaults.output_dir.join(&name),
            reference: None,
        }]
    } else {
        args.output.clone()
    };
    let reported = outputs.len();
    outputs.extend(defaults.extra_outputs.iter().cloned());
    let binaries: Vec<&Path> = inputs.iter().map(|(b, _)| b.as_path()).collect();
    check_paths(args, &outputs, &binaries)?;
    let created = source_date_epoch()?;
    let cache_dir = cache_dir(args, &defaults.cache_dir);
    let cache = cache_dir.as_deref().map(LayerCache::new);
    let replay = cache_dir
        .as_deref()
        .and_then(|dir| Replay::prepare(dir, inputs, args, defaults, created));
    if let Some(outcome) = replay
        .as_ref()
        .zip(cache.as_ref())
        .and_then(|(replay, cache)| replay.outcome(cache))
    {
        ui.verbose(
            "nothing this run reads or writes has changed since the last one; its outcome stands",
        );
        show_replayed(&outcome, &name, ui);
        return Ok(outcome);
    }
    let mut warnings = Vec::new();
    let mut warn = |message: String| {
        ui.warn(&message);
        warnings.push(message);
    };

    let mut verified: Vec<(&Path, Platform, StaticReport, u64)> = Vec::new();
    for (binary, platform) in inputs {
        let (platform, report, size) = verify_binary(binary, *platform, ui, &mut warn)?;
        if let Some((other, ..)) = verified.iter().find(|v| v.1 == platform) {
            return Err(Error::Usage(format!(
                "`{}` and `{}` are both for {platform}; an image holds one binary per platform",
                other.display(),
                binary.display()
            )));
        }
        verified.push((binary, platform, report, size));
    }

    let adds = expand_adds(&args.add)?;
    let ca = match &cache_dir {
        Some(dir) => {
            CaBundle::load_remembered(args.ca_bundle.as_deref(), &args.extra_ca, &mut warn, dir)?
        }
        None => CaBundle::load(args.ca_bundle.as_deref(), &args.extra_ca, &mut warn)?,
    };
    let entrypoint = match &args.entrypoint_path {
        Some(p) => p.clone(),
        // The name holds no `/` and is not `.`/`..` (checked above), so this parses.
        None => format!("/app/{name}")
            .parse::<ImagePath>()
            .map_err(Error::Usage)?,
    };
    let mut metadata = defaults.metadata.clone();
    metadata
        .entry(oci_spec::image::ANNOTATION_TITLE.into())
        .or_insert_with(|| name.clone());
    let mut labels = metadata.clone();
    for kv in &args.label {
        labels.insert(kv.key.clone(), kv.value.clone());
    }
    let spec = ImageSpec {
        name: name.clone(),
        platform: verified[0].1,
        entrypoint,
        args: args.args.clone(),
        env: args.env.clone(),
        ports: args.port.clone(),
        labels,
        annotations: metadata,
        user: args.user.clone().unwrap_or_else(User::nonroot),
        workdir: args.workdir.clone(),
        adds,
        ca,
        created,
        compression: layer_compression(args)?,
        base: None,
        ca_in_app: args.ca_bundle.is_some() || !args.extra_ca.is_empty(),
        sbom: None,
    };

    // A cached blob's bytes are read (and so verified) only for outputs that lack it.
    let needed = |digest: &str| outputs.iter().any(|o| o.needs_blob(digest, cache.as_ref()));
    let needed: &(dyn Fn(&str) -> bool + Sync) = &needed;

    // Staged inside the cache when there is one, so storing a layer there is a hard link.
    let store = match &cache {
        Some(cache) => BlobStore::new_in(cache.dir()).or_else(|_| BlobStore::new()),
        None => BlobStore::new(),
    }
    .map_err(Error::Staging)?;
    let registry = args.registry.options();
    let bases = match &args.base {
        Some(text) => {
            let base: ImageRef = text
                .parse()
                .map_err(|e: transport::RefError| Error::Usage(e.to_string()))?;
            ui.status("Reading", format_args!("base image `{base}`"));
            let platforms: Vec<Platform> = verified.iter().map(|v| v.1).collect();
            transport::load(&base, &platforms, &store, &registry, ui)?
        }
        None => Vec::new(),
    };
    // Each binary's SHA-256, for its SBOM and the run record (the layer key reads it again
    // from the cache's memo).
    let mut digests = Vec::new();
    if !args.no_sbom || replay.is_some() {
        for (binary, ..) in &verified {
            let digest = match &cache {
                Some(cache) => cache.file_digest(binary),
                None => crate::image::cache::hash_file(binary),
            }
            .map_err(|source| crate::verify::VerifyError::Read {
                path: binary.to_path_buf(),
                source,
            })?;
            digests.push(digest);
        }
    }
    let mut documents = BTreeMap::new();
    if !args.no_sbom {
        for ((_, platform, report, _), digest) in verified.iter().zip(&digests) {
            let facts = defaults.sbom.get(platform).cloned().unwrap_or_default();
            for gap in &facts.gaps {
                warn(format!("SBOM for {platform}: {gap}"));
            }
            let inputs = sbom::Inputs {
                name: &name,
                sha256: digest.trim_start_matches("sha256:"),
                report,
                facts: &facts,
                declared: &args.sbom_package,
                created,
            };
            documents.insert(*platform, sbom::document(&inputs));
        }
    }
    for (_, platform, _, _) in &verified {
        ui.status("Packaging", format_args!("`{name}` for {platform}"));
    }
    let progress = ui.progress(
        "Compressing",
        &format!("`{name}`"),
        verified.iter().map(|v| v.3).sum(),
    );
    let on_bytes = |n| progress.add(n);
    let reuse = Reuse {
        cache: cache.as_ref(),
        needed,
        on_bytes: &on_bytes,
    };
    // Platforms are independent: compress them side by side (the cores are otherwise idle).
    let assembled: Vec<Result<Image, ImageError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = verified
            .iter()
            .enumerate()
            .map(|(i, (binary, platform, _, size))| {
                let base = bases.get(i).cloned();
                // Without `--user`, a base's user stands (else ours, nonroot).
                let user = match (&args.user, base.as_ref().and_then(base_user)) {
                    (None, Some(user)) => user,
                    _ => spec.user.clone(),
                };
                let spec = ImageSpec {
                    platform: *platform,
                    base,
                    user,
                    sbom: documents.get(platform).cloned(),
                    ..spec.clone()
                };
                let store = &store;
                scope.spawn(move || assemble(binary, *size, &spec, store, reuse))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    progress.finish();
    let mut images = Vec::new();
    // A run that found a damaged cache entry is not replayed: its warning would not hold.
    let mut replayable = true;
    for image in assembled {
        let image = image?;
        // The stacked layers must start what the config names: a base may shadow our path.
        // Our own layers cannot (their entries are checked for clashes as they are laid out),
        // so an image on scratch is not read back.
        let on_base = image.origins.contains(&Origin::Base);
        if on_base && let Some(problem) = crate::verify::image::check_assembled(&name, &image)? {
            return Err(Error::EntrypointUnfit {
                platform: image.platform,
                problem,
            });
        }
        for (layer, origin) in image.layers.iter().zip(&image.origins) {
            match origin {
                Origin::Cached => ui.verbose(format_args!(
                    "reused cached layer {} ({} bytes)",
                    layer.blob.digest, layer.blob.size
                )),
                Origin::Rebuilt { digest } => {
                    replayable = false;
                    warn(format!(
                        "the cached layer `{digest}` was damaged; it was removed from the cache and \
                     the layer compressed again"
                    ))
                }
                Origin::Built | Origin::Base => {}
            }
        }
        images.push(image);
    }
    let set = ImageSet::of(images, &store)?;
    let tags = if args.tag.is_empty() {
        vec!["latest".to_string()]
    } else {
        args.tag.clone()
    };
    let context = SinkContext {
        ui: ui.clone(),
        registry,
        known_blobs: cache.as_ref().map(|c| c.dir().join("registry-blobs.json")),
        cache_dir: cache.as_ref().map(|c| c.dir().to_owned()),
    };
    let mut written = Vec::new();
    for (i, output) in outputs.iter().enumerate() {
        let result = sink_for(output, &tags, &name, &context).write(&set)?;
        if i < reported {
            ui.status("Wrote", &result.output);
            written.push(result);
        }
    }
    let written_files = replay
        .as_ref()
        .map(|_| Replay::written_files(&set, &outputs));
    let mut platforms: Vec<PlatformOutcome> = set
        .images()
        .iter()
        .filter_map(|image| {
            let report = verified.iter().find(|v| v.1 == image.platform)?.2.clone();
            Some(PlatformOutcome {
                image: ImageSummary::of(image, &name),
                verify: report,
            })
        })
        .collect();
    // Several platforms are listed in platform order; the first also fills the single fields.
    let first = platforms.remove(0);
    let outcome = PackageOutcome {
        digest: set.digest().to_string(),
        index: set.index().map(|b| b.digest.clone()),
        image: first.image.clone(),
        outputs: written,
        verify: first.verify.clone(),
        platforms: std::iter::once(first).chain(platforms).collect(),
        ca_bundle: CaSummary {
            source: spec.ca.source.clone(),
            extra: spec.ca.extras.clone(),
            certificates: spec.ca.count,
        },
        warnings,
    };
    // Stamped once the staging folder is gone: removing its links to blobs the outputs share
    // changes their status time.
    drop(set);
    drop(store);
    if let (Some(replay), Some(written), true) = (replay, written_files, replayable) {
        replay.record(&outcome, digests, &written);
    }
    Ok(outcome)
}

/// Shows what the run a replayed outcome stands for showed: each binary verified with its
/// hazards, the other warnings, the images and the outputs.
fn show_replayed(outcome: &PackageOutcome, name: &str, ui: &Ui) {
    let mut shown = Vec::new();
    for platform in &outcome.platforms {
        show_verified(&platform.verify, ui, &mut |message| {
            ui.warn(&message);
            shown.push(message);
        });
    }
    for warning in outcome.warnings.iter().filter(|w| !shown.contains(w)) {
        ui.warn(warning);
    }
    for platform in &outcome.platforms {
        ui.status(
            "Packaging",
            format_args!("`{name}` for {}", platform.image.platform),
        );
    }
    for written in &outcome.outputs {
        ui.status("Wrote", &written.output);
    }
}

/// Says a binary was verified, and warns of its hazards.
fn show_verified(report: &StaticReport, ui: &Ui, warn: &mut dyn FnMut(String)) {
    ui.status(
        "Verified",
        format_args!(
            "`{}`: {}, {}",
            report.path.display(),
            report.linkage.as_str(),
            report.machine.name
        ),
    );
    for hazard in &report.hazards {
        warn(format!("`{}`: {}", report.path.display(), hazard.message));
    }
}

/// Verifies one binary (refusing a dynamic one or one for another platform), warns about its
/// hazards, and returns its platform, report and size.
fn verify_binary(
    binary: &Path,
    platform: Option<Platform>,
    ui: &Ui,
    warn: &mut dyn FnMut(String),
) -> Result<(Platform, StaticReport, u64), Error> {
    let report = verify_path(binary, platform)?;
    if !report.ok {
        return Err(Error::NotStatic(Box::new(report)));
    }
    show_verified(&report, ui, warn);
    let Some(platform) = platform.or(report.machine.platform) else {
        return Err(Error::NoPlatform {
            path: binary.to_owned(),
            machine: format!("{}, {}-bit", report.machine.name, report.machine.bits),
            supported: Platform::all()
                .iter()
                .map(Platform::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let size = std::fs::metadata(binary)
        .map_err(|source| crate::verify::VerifyError::Read {
            path: binary.to_owned(),
            source,
        })?
        .len();
    Ok((platform, report, size))
}

/// The user a base image runs as, if it names one.
fn base_user(base: &BaseImage) -> Option<User> {
    let user = base.config.config().as_ref()?.user().clone()?;
    (!user.is_empty()).then(|| User::of_base(&user))
}
