//! What a packaging run produced, as reported (`--json`), recorded for replay and compared by
//! `--check-reproducible`; and how a run's lines are shown again when it is replayed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::image::Image;
use crate::image::ca::CaSource;
use crate::image::layer::Origin;
use crate::platform::Platform;
use crate::sbom;
use crate::transport::Written;
use crate::ui::Ui;
use crate::verify::StaticReport;

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
    /// The summary of an assembled image whose application is `name`.
    pub fn of(image: &Image, name: &str) -> ImageSummary {
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
                path: sbom::Format::of_media_type(&r.artifact_type)
                    .unwrap_or_default()
                    .image_path(name),
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

/// The library closure of a `--closure` image, as reported.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClosureSummary {
    /// Files copied: the interpreter, the libraries and what glibc loads without a DT_NEEDED.
    pub files: usize,
    /// Soname links.
    pub links: usize,
    /// The Debian packages owning the files, as package URLs.
    pub packages: Vec<String>,
}

/// One platform's image and the report on its binary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlatformOutcome {
    /// The image.
    pub image: ImageSummary,
    /// The binary's verify report (the entrypoint's, when the image holds several programs).
    pub verify: StaticReport,
    /// The verify reports of the image's other programs, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<StaticReport>,
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
    /// The debug variant, with `--debug-variant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<super::debug::DebugOutcome>,
    /// The library closure, with `--closure` (the verify report still describes the program
    /// alone, dynamic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closure: Option<ClosureSummary>,
}

/// Shows what the run a replayed outcome stands for showed: each binary verified with its
/// hazards, the other warnings, the images and the outputs.
pub(super) fn show_replayed(outcome: &PackageOutcome, name: &str, ui: &Ui) {
    let mut shown = Vec::new();
    for platform in &outcome.platforms {
        for report in std::iter::once(&platform.verify).chain(&platform.others) {
            show_verified(report, ui, &mut |message| {
                ui.warn(&message);
                shown.push(message);
            });
        }
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
pub(super) fn show_verified(report: &StaticReport, ui: &Ui, warn: &mut dyn FnMut(String)) {
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
