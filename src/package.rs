//! The back half of the pipeline, shared by `package` and `build`: verify → assemble → write.
//!
//! Input: a binary, the image flags and defaults from the caller (name, labels, default output).
//! Output: [`PackageOutcome`]: the verify report, the image's digests and what was written.
//! Flags are checked before any work; the binary is refused with its verify report if dynamic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::ImageArgs;
use crate::error::Error;
use crate::image::blob::BlobStore;
use crate::image::ca::{CaBundle, CaSource};
use crate::image::spec::{ImagePath, ImageSpec, User, expand_adds};
use crate::image::{Image, assemble};
use crate::output::{OutputSpec, Written, check_tag, sink_for};
use crate::platform::Platform;
use crate::ui::Ui;
use crate::verify::{StaticReport, verify_path};

/// What the caller knows about the binary beyond the flags.
#[derive(Clone, Debug, Default)]
pub struct PackageDefaults {
    /// The name when `--name` is not given.
    pub name: String,
    /// Where the default output goes: `<dir>/<name>` as an OCI layout.
    pub output_dir: PathBuf,
    /// `org.opencontainers.image.*` values known from the project (version, licenses…).
    pub metadata: BTreeMap<String, String>,
}

/// A layer as reported in JSON.
#[derive(Clone, Debug, Serialize)]
pub struct LayerSummary {
    /// Compressed digest.
    pub digest: String,
    /// Compressed size.
    pub size: u64,
    /// Uncompressed digest.
    pub diff_id: String,
}

/// The image as reported.
#[derive(Clone, Debug, Serialize)]
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
}

impl ImageSummary {
    fn of(image: &Image) -> ImageSummary {
        ImageSummary {
            platform: image.platform,
            digest: image.manifest.digest.clone(),
            config: image.config.digest.clone(),
            size: image.size(),
            layers: image
                .layers
                .iter()
                .map(|l| LayerSummary {
                    digest: l.blob.digest.clone(),
                    size: l.blob.size,
                    diff_id: l.diff_id.clone(),
                })
                .collect(),
        }
    }
}

/// The CA bundle as reported.
#[derive(Clone, Debug, Serialize)]
pub struct CaSummary {
    /// Where it came from.
    pub source: CaSource,
    /// Files appended.
    pub extra: Vec<PathBuf>,
    /// Number of certificates.
    pub certificates: usize,
}

/// Everything a packaging run produced.
#[derive(Clone, Debug, Serialize)]
pub struct PackageOutcome {
    /// The image.
    pub image: ImageSummary,
    /// The outputs written.
    pub outputs: Vec<Written>,
    /// The binary's verify report.
    pub verify: StaticReport,
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

/// Checks the flags that can only be judged together, before any slow work.
pub fn check_args(args: &ImageArgs, name: &str) -> Result<(), Error> {
    check_name(name)?;
    for tag in &args.tag {
        check_tag(tag).map_err(Error::Usage)?;
    }
    for output in &args.output {
        output.preflight()?;
    }
    Ok(())
}

/// Verifies `binary`, assembles its image and writes every output.
pub fn package(
    binary: &Path,
    platform: Option<Platform>,
    args: &ImageArgs,
    defaults: &PackageDefaults,
    ui: &Ui,
) -> Result<PackageOutcome, Error> {
    let name = args.name.clone().unwrap_or_else(|| defaults.name.clone());
    check_args(args, &name)?;
    let created = source_date_epoch()?;
    let mut warnings = Vec::new();
    let mut warn = |message: String| {
        ui.warn(&message);
        warnings.push(message);
    };

    let report = verify_path(binary, platform)?;
    if !report.ok {
        return Err(Error::NotStatic(Box::new(report)));
    }
    ui.status(
        "Verified",
        format_args!(
            "`{}`: {}, {}",
            binary.display(),
            report.linkage.as_str(),
            report.machine.name
        ),
    );
    for hazard in &report.hazards {
        warn(format!("`{}`: {}", binary.display(), hazard.message));
    }
    let platform = match platform.or(report.machine.platform) {
        Some(p) => p,
        None => {
            return Err(Error::NoPlatform {
                path: binary.to_owned(),
                machine: format!("{}, {}-bit", report.machine.name, report.machine.bits),
            });
        }
    };

    let adds = expand_adds(&args.add)?;
    let ca = CaBundle::load(args.ca_bundle.as_deref(), &args.extra_ca, &mut warn)?;
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
        platform,
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
    };

    let size = std::fs::metadata(binary)
        .map_err(|source| crate::verify::VerifyError::Read {
            path: binary.to_owned(),
            source,
        })?
        .len();
    let store = BlobStore::new().map_err(Error::Staging)?;
    ui.status("Packaging", format_args!("`{name}` for {platform}"));
    let image = assemble(binary, size, &spec, &store)?;

    let outputs = if args.output.is_empty() {
        vec![OutputSpec::Oci {
            dir: defaults.output_dir.join(&name),
            reference: None,
        }]
    } else {
        args.output.clone()
    };
    let tags = if args.tag.is_empty() {
        vec!["latest".to_string()]
    } else {
        args.tag.clone()
    };
    let mut written = Vec::new();
    for output in &outputs {
        let result = sink_for(output, &tags, &name).write(&image)?;
        ui.status("Wrote", &result.output);
        written.push(result);
    }
    Ok(PackageOutcome {
        image: ImageSummary::of(&image),
        outputs: written,
        verify: report,
        ca_bundle: CaSummary {
            source: spec.ca.source.clone(),
            extra: spec.ca.extras.clone(),
            certificates: spec.ca.count,
        },
        warnings,
    })
}
