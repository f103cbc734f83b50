//! A packaging run with nothing changed is answered from the last run's record.
//!
//! After a run writes its outputs, its outcome is recorded in the layer cache with the content
//! digest of each binary, the stat stamps of the other files it read (the CA files it could
//! pick, this program) and those of everything it wrote (each layout's `index.json` and blobs,
//! each archive). A later run with the same flags, defaults, working directory, platform table
//! and `SOURCE_DATE_EPOCH` finds the record by their digest; if every stamp still holds and
//! each binary has the same contents, its outputs already hold what it would write, so it
//! reports the recorded outcome without verifying, compressing or writing anything. A no-op
//! `build` then costs what the compiler's own no-op costs.
//!
//! Binaries are compared by contents because `go build -o` writes its output afresh even when
//! nothing changed; their digests come through the layer cache's memo, so a binary whose stamp
//! holds (cargo's, with nothing to do) is not read. Stamps are judged as `ahead` judges cargo's
//! answers: any write, replace or rename changes one. A stamped input changed less than
//! [`SETTLED`] before the run began is not trusted to show a later change, so such a run is not
//! recorded. Runs that read what neither can vouch for are never recorded: a base image,
//! `--add` files, a registry output.
//!
//! [`SETTLED`]: crate::image::cache::SETTLED

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cli::ImageArgs;
use crate::image::ImageSet;
use crate::image::blob::{blob_path, to_hex};
use crate::image::ca::CaBundle;
use crate::image::cache::{LayerCache, PathStamp, write_atomic};
use crate::package::{PackageDefaults, PackageOutcome};
use crate::platform::Platform;
use crate::transport::ImageRef;

/// What a recorded run read and wrote, and what it reported.
#[derive(Serialize, Deserialize)]
struct Record {
    /// Each binary's SHA-256, in the order given.
    binaries: Vec<String>,
    inputs: Vec<PathStamp>,
    outputs: Vec<PathStamp>,
    outcome: PackageOutcome,
}

/// A run that may be answered from, or recorded for, the next one.
pub struct Replay {
    path: PathBuf,
    binaries: Vec<PathBuf>,
    inputs: Vec<PathStamp>,
    began: SystemTime,
}

impl Replay {
    /// The record this run would be answered from, with its inputs' stamps taken now; `None`
    /// when the run reads something stamps cannot vouch for.
    pub fn prepare(
        cache_dir: &Path,
        binaries: &[(PathBuf, Option<Platform>)],
        args: &ImageArgs,
        defaults: &PackageDefaults,
        created: i64,
    ) -> Option<Replay> {
        let registry = |o: &ImageRef| matches!(o, ImageRef::Registry(_));
        if args.base.is_some()
            || !args.add.is_empty()
            || !defaults.extra_outputs.is_empty()
            || args.output.iter().any(registry)
        {
            return None;
        }
        let began = SystemTime::now();
        let exe = std::env::current_exe().ok()?;
        let cwd = std::env::current_dir().ok()?;
        // Every value the outputs are made from; paths are as given, so the working directory
        // they are relative to counts too, and so do the platforms a toolchain folder adds.
        let platforms: Vec<_> = Platform::all().into_iter().map(Platform::info).collect();
        let key = format!(
            "static-image run record 1 {}\n{}\n{}\n{binaries:?}\n{args:?}\n{defaults:?}\n{created}\n{platforms:?}",
            env!("CARGO_PKG_VERSION"),
            exe.display(),
            cwd.display(),
        );
        let key = to_hex(&Sha256::digest(key.as_bytes()));
        let mut read = vec![exe];
        read.extend(CaBundle::candidates(
            args.ca_bundle.as_deref(),
            &args.extra_ca,
        ));
        Some(Replay {
            path: cache_dir.join("runs").join(format!("{key}.json")),
            binaries: binaries.iter().map(|(b, _)| b.clone()).collect(),
            inputs: read.iter().map(|p| PathStamp::of(p)).collect(),
            began,
        })
    }

    /// The recorded outcome, if everything the recorded run read and wrote is as it was.
    pub fn outcome(&self, cache: &LayerCache) -> Option<PackageOutcome> {
        let bytes = std::fs::read(&self.path).ok()?;
        let record: Record = serde_json::from_slice(&bytes).ok()?;
        if record.inputs != self.inputs
            || !record.outputs.iter().all(PathStamp::holds)
            || record.binaries.len() != self.binaries.len()
        {
            return None;
        }
        for (binary, recorded) in self.binaries.iter().zip(&record.binaries) {
            if cache.file_digest(binary).ok()? != *recorded {
                return None;
            }
        }
        let mut outcome = record.outcome;
        // Nothing was compressed this time: every layer is as good as taken from the cache.
        for image in outcome
            .platforms
            .iter_mut()
            .map(|p| &mut p.image)
            .chain([&mut outcome.image])
        {
            for layer in &mut image.layers {
                layer.cached = !layer.base;
            }
        }
        Some(outcome)
    }

    /// The files `outputs` hold of `set`, to be stamped once written.
    pub fn written_files(set: &ImageSet, outputs: &[ImageRef]) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for output in outputs {
            match output {
                ImageRef::Oci { dir, .. } => {
                    files.extend([dir.join("oci-layout"), dir.join("index.json")]);
                    let blobs = set.blobs_with_referrers();
                    files.extend(blobs.map(|b| blob_path(dir, &b.digest)));
                }
                ImageRef::OciArchive { file, .. } | ImageRef::DockerArchive { file, .. } => {
                    files.push(file.clone());
                }
                // Never recorded (see `prepare`).
                ImageRef::Registry(_) => {}
            }
        }
        files.sort();
        files.dedup();
        files
    }

    /// Records `outcome` for the next run, with the binaries' `digests` and the stamps of
    /// `written` as they are now. Not recorded when a stamped input changed too recently for
    /// its stamp to be trusted.
    pub fn record(self, outcome: &PackageOutcome, digests: Vec<String>, written: &[PathBuf]) {
        let fresh = self
            .inputs
            .iter()
            .filter_map(|s| s.state.as_ref())
            .any(|s| !s.settled_before(self.began));
        if fresh {
            return;
        }
        let record = Record {
            binaries: digests,
            inputs: self.inputs,
            outputs: written.iter().map(|p| PathStamp::of(p)).collect(),
            outcome: outcome.clone(),
        };
        // A record that cannot be written only costs the next run its shortcut.
        if let Ok(bytes) = serde_json::to_vec(&record) {
            let _ = write_atomic(&self.path, &bytes);
        }
    }
}
