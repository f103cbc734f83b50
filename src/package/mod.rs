//! The back half of the pipeline, shared by `package` and `build`: verify → assemble → write.
//!
//! Input: a binary per platform, the image flags and defaults from the caller (name, labels,
//! default output). Output: [`PackageOutcome`]: the verify reports, the images' digests and
//! what was written. A run goes through four steps, one module each:
//!
//! 1. [`prepare`]: every check on the flags and outputs, once, before any slow work; then the
//!    images' inputs: the binaries verified (a dynamic one is refused with its report), the CA
//!    bundle, the base image, the SBOMs;
//! 2. [`assemble`]: layers, configs, manifests and SBOM referrers, one image per platform;
//! 3. [`write`]: every output, through its sink;
//! 4. [`record`]: the outcome, kept for the next run; a run with nothing changed is answered
//!    from it before step 1's slow half.
//!
//! What a run produced is in [`outcome`], which is all the report and the record need.

mod assemble;
pub mod outcome;
mod prepare;
mod record;
mod sign;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use outcome::{
    CaSummary, ImageSummary, LayerSummary, PackageOutcome, PlatformOutcome, SbomSummary,
};
pub use prepare::{cache_dir, check_args, check_platform_count, source_date_epoch};

use crate::error::Error;
use crate::platform::{Platform, Platforms};
use crate::request::ImageRequest;
use crate::sbom::Facts;
use crate::transport::ImageRef;
use crate::ui::Ui;

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
    /// The run's platform table: a binary's machine names its platform through it.
    pub platforms: Platforms,
    /// What the build adds to each image's provenance (with `--sign-key`).
    pub provenance: Provenance,
}

/// What a build knows for the provenance beyond the image flags: how it was asked for and what
/// it read. Empty for `package`, whose inputs are the binaries.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// Build parameters (the project path relative to its root, build flags), merged into
    /// `externalParameters`.
    pub external: serde_json::Map<String, serde_json::Value>,
    /// The source, lockfiles and toolchains, by platform (the toolchain differs per target).
    pub dependencies: BTreeMap<Platform, Vec<crate::sign::provenance::Resource>>,
}

/// Verifies `binary`, assembles its image and writes every output.
pub fn package(
    binary: &Path,
    platform: Option<Platform>,
    args: &ImageRequest,
    defaults: &PackageDefaults,
    ui: &Ui,
) -> Result<PackageOutcome, Error> {
    package_many(&[(binary.to_owned(), platform)], args, defaults, ui)
}

/// Verifies each binary against its platform, assembles one image per platform into one blob
/// store, puts them under an image index when there are several, and writes every output.
pub fn package_many(
    binaries: &[(PathBuf, Option<Platform>)],
    args: &ImageRequest,
    defaults: &PackageDefaults,
    ui: &Ui,
) -> Result<PackageOutcome, Error> {
    let run = prepare::Run::checked(binaries, args, defaults)?;
    // A run with nothing changed is answered from the last one's record, before any work.
    let replay = record::open(&run);
    if let Some(outcome) = replay.as_ref().and_then(|r| record::answer(r, &run, ui)) {
        return Ok(outcome);
    }
    let mut inputs = prepare::inputs(&run, replay.is_some(), ui)?;
    let mut assembled = assemble::images(&run, &mut inputs, ui)?;
    if let Some(key) = &run.key {
        sign::attach(&run, &inputs, key, &mut assembled.set, ui)?;
    }
    let written = write::outputs(&run, &assembled.set, ui)?;
    Ok(record::outcome(&run, inputs, assembled, written, replay))
}
