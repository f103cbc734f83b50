//! The back half of the pipeline, shared by `package` and `build`: verify → assemble → write.
//!
//! Input: the binaries of each platform (one, or several programs in one image), the image flags and defaults from the caller (name, labels,
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
mod closure;
pub mod debug;
mod documents;
pub mod outcome;
mod prepare;
mod record;
mod sign;
mod write;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use outcome::{
    CaSummary, ImageSummary, LayerSummary, PackageOutcome, PlatformOutcome, SbomSummary,
};
pub use prepare::{cache_dir, check_args, check_platform_count, source_date_epoch};

use crate::error::Error;
use crate::image::spec::ImagePath;
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

/// One program of an image.
#[derive(Clone, Debug)]
pub struct Program {
    /// Its file name in the image when the image holds several (`/app/<name>`); one program
    /// alone goes to the entrypoint path the run's name gives.
    pub name: String,
    /// The binary.
    pub path: PathBuf,
    /// What the build knows for the SBOM beyond the binary (Cargo's resolved dependencies, the
    /// toolchain's C library), when it was built here.
    pub facts: Option<Facts>,
}

/// One platform's image's programs.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The platform asked of them; `None`: their own machine's.
    pub platform: Option<Platform>,
    /// The programs, the entrypoint first (see [`entrypoint_first`]); never empty.
    pub programs: Vec<Program>,
}

impl Binaries {
    /// One binary for a platform, with no build facts: `package`'s single form.
    pub fn one(path: PathBuf, platform: Option<Platform>) -> Binaries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Binaries {
            platform,
            programs: vec![Program {
                name,
                path,
                facts: None,
            }],
        }
    }
}

/// `programs` with the entrypoint first: the one `--entrypoint-path` names by its place
/// (`/app/<name>`), else the first given. With several programs each goes to `/app/<name>`;
/// an `--entrypoint-path` that names none of those places puts the first there.
pub fn entrypoint_first(
    mut programs: Vec<Program>,
    entrypoint: Option<&ImagePath>,
) -> Vec<Program> {
    if programs.len() > 1
        && let Some(path) = entrypoint
        && let Some(i) = programs
            .iter()
            .position(|p| path.as_str() == format!("/app/{}", p.name))
    {
        let named = programs.remove(i);
        programs.insert(0, named);
    }
    programs
}

/// Verifies each binary against its platform, assembles one image per platform into one blob
/// store, puts them under an image index when there are several, and writes every output.
pub fn package_many(
    binaries: &[Binaries],
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
    // The debug variant's shells are found and checked before the images are assembled.
    let shells = match run.args.debug_variant {
        true => Some(debug::shells(&run, &inputs, ui)?),
        false => None,
    };
    let mut assembled = assemble::images(&run, &mut inputs, ui)?;
    if let Some(key) = &run.key {
        sign::attach(&run, &inputs, key, &mut assembled.set, ui)?;
    }
    // The variants are made from the finished production images, which they never change.
    let debug = match shells {
        Some(shells) => {
            let mut set = debug::images(&run, &inputs, &assembled.set, &shells, ui)?;
            if let Some(key) = &run.key {
                sign::attach(&run, &inputs, key, &mut set, ui)?;
            }
            Some((set, shells))
        }
        None => None,
    };
    let written = write::outputs(&run, &assembled.set, ui)?;
    let debug = match debug {
        Some((set, shells)) => {
            let written = debug::write(&run, &set, &write::context(&run, ui), ui)?;
            Some(debug::outcome(&set, &shells, &run.name, written))
        }
        None => None,
    };
    let mut outcome = record::outcome(&run, inputs, assembled, written, replay);
    outcome.debug = debug;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(names: &[&str]) -> Vec<Program> {
        names
            .iter()
            .map(|n| Program {
                name: n.to_string(),
                path: PathBuf::from(format!("build/{n}")),
                facts: None,
            })
            .collect()
    }

    fn names(programs: &[Program]) -> Vec<&str> {
        programs.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn the_entrypoint_is_the_first_or_the_one_its_path_names() {
        let path = |p: &str| p.parse::<ImagePath>().unwrap();
        let given = programs(&["server", "migrate", "seed"]);
        assert_eq!(
            names(&entrypoint_first(given.clone(), None)),
            ["server", "migrate", "seed"]
        );
        assert_eq!(
            names(&entrypoint_first(given.clone(), Some(&path("/app/seed")))),
            ["seed", "server", "migrate"]
        );
        // A path that is no program's place takes the first, as for one program.
        assert_eq!(
            names(&entrypoint_first(given, Some(&path("/bin/server")))),
            ["server", "migrate", "seed"]
        );
    }
}
