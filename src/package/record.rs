//! Step 4, record: the run's [`PackageOutcome`], recorded for the next run with the same
//! flags; and, before any work, the answer from the last such run's record when nothing it
//! read or wrote has changed (see `cache::replay`).
//!
//! Which runs are recorded, and under which key, is decided here: the key is a [`RunKey`], the
//! values the outputs are made from, hashed as canonical JSON. A run that reads what stamps
//! cannot vouch for (a base image, `--add` files, a `--closure`'s libraries, a registry output,
//! the caller's unreported outputs) is never recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::assemble::Assembled;
use super::outcome::{CaSummary, ImageSummary, PackageOutcome, PlatformOutcome, show_replayed};
use super::prepare::{Inputs, Run};
use crate::cache::replay::Replay;
use crate::image::ImageSet;
use crate::image::blob::blob_path;
use crate::image::ca::CaBundle;
use crate::platform::PlatformInfo;
use crate::sbom::{Component, Facts};
use crate::transport::{ImageRef, Written};
use crate::ui::Ui;

/// What a run's outcome depends on besides the contents of the files it reads (those are
/// stamped): every value the images and outputs are made from. Paths are as given, so the
/// working directory they are relative to counts too, and so does the platform table a
/// toolchain folder adds to. Bump [`RunKey::VERSION`] when what it holds changes meaning.
#[derive(Serialize)]
struct RunKey<'a> {
    /// The key's own format.
    version: u32,
    /// This program's version: another may make other bytes.
    program: &'static str,
    /// This program's path (its stamp is among the inputs).
    exe: &'a Path,
    /// The working directory relative paths are relative to.
    cwd: &'a Path,
    /// Each platform's entrypoint binary as given, with the platform asked of it.
    binaries: Vec<(&'a Path, Option<String>)>,
    /// The other programs of each platform's image: name, binary as given, build facts.
    /// Absent from the JSON for images of one program, so their keys stay as they were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    programs: Vec<Vec<(&'a str, &'a Path, Option<&'a Facts>)>>,
    /// The application's name.
    name: &'a str,
    /// Every output, in order, as written on the command line.
    outputs: Vec<String>,
    /// `--tag`.
    tags: &'a [String],
    /// `--entrypoint-path`.
    entrypoint: Option<String>,
    /// `--arg`.
    args: &'a [String],
    /// `--env`, in order.
    env: Vec<(&'a str, &'a str)>,
    /// `--port`.
    ports: Vec<String>,
    /// `--label`, in order.
    labels: Vec<(&'a str, &'a str)>,
    /// `--user`.
    user: Option<&'a str>,
    /// `--workdir`.
    workdir: Option<String>,
    /// `--ca-bundle`.
    ca_bundle: Option<&'a Path>,
    /// `--extra-ca`.
    extra_ca: &'a [PathBuf],
    /// What decides the layers' bytes: the compressor, its version and level.
    compression: String,
    /// Whether an SBOM is made (`--no-sbom` says not), and in which standard.
    sbom: bool,
    sbom_format: crate::sbom::Format,
    /// `--sbom-package`.
    sbom_packages: &'a [Component],
    /// The caller's `org.opencontainers.image.*` values.
    metadata: &'a BTreeMap<String, String>,
    /// The caller's SBOM facts, by platform.
    facts: Vec<(String, &'a Facts)>,
    /// `SOURCE_DATE_EPOCH`.
    created: i64,
    /// The platform table.
    platforms: Vec<&'a PlatformInfo>,
    /// `--sign-key` (its content is stamped among the reads).
    sign_key: Option<&'a Path>,
    /// What the provenance says beyond the flags: the builder's id, and whether
    /// `SOURCE_DATE_EPOCH` gives its times.
    builder_id: Option<String>,
    provenance_times: bool,
}

impl RunKey<'_> {
    /// Bumped whenever a field is added, removed or means something else.
    const VERSION: u32 = 3;
}

/// The record this run would be answered from and recorded in, if it may be.
pub(super) fn open(run: &Run<'_>) -> Option<Replay> {
    let args = run.args;
    let registry = |o: &ImageRef| matches!(o, ImageRef::Registry(_));
    // A closure reads libraries and a package database no stamp covers; a debug variant reads
    // the host's busybox wherever it is found: not stamped either.
    if args.base.is_some()
        || run.closure.is_some()
        || args.debug_variant
        || !args.add.is_empty()
        || !run.defaults.extra_outputs.is_empty()
        || run.outputs.iter().any(registry)
    {
        return None;
    }
    let cache = run.cache.as_ref()?;
    let exe = std::env::current_exe().ok()?;
    let cwd = std::env::current_dir().ok()?;
    let key = RunKey {
        version: RunKey::VERSION,
        program: env!("CARGO_PKG_VERSION"),
        exe: &exe,
        cwd: &cwd,
        binaries: run
            .binaries
            .iter()
            .filter_map(|b| {
                Some((
                    b.programs.first()?.path.as_path(),
                    b.platform.map(|p| p.to_string()),
                ))
            })
            .collect(),
        programs: run
            .binaries
            .iter()
            .filter(|b| b.programs.len() > 1)
            .map(|b| {
                b.programs
                    .iter()
                    .map(|p| (p.name.as_str(), p.path.as_path(), p.facts.as_ref()))
                    .collect()
            })
            .collect(),
        name: &run.name,
        outputs: run.outputs.iter().map(ImageRef::to_string).collect(),
        tags: &args.tag,
        entrypoint: args.entrypoint_path.as_ref().map(|p| p.to_string()),
        args: &args.args,
        env: args.env.iter().map(|kv| (&*kv.key, &*kv.value)).collect(),
        ports: args.port.iter().map(|p| p.to_string()).collect(),
        labels: args.label.iter().map(|kv| (&*kv.key, &*kv.value)).collect(),
        user: args.user.as_ref().map(|u| u.as_str()),
        workdir: args.workdir.as_ref().map(|p| p.to_string()),
        ca_bundle: args.ca_bundle.as_deref(),
        extra_ca: &args.extra_ca,
        compression: run.compression.id(),
        sbom: !args.no_sbom,
        sbom_format: args.sbom_format,
        sbom_packages: &args.sbom_package,
        metadata: &run.defaults.metadata,
        facts: entrypoint_facts(run),
        created: run.created,
        platforms: run.defaults.platforms.rows().collect(),
        sign_key: args.sign_key.as_deref(),
        builder_id: std::env::var(super::sign::BUILDER_ID_ENV).ok(),
        provenance_times: std::env::var_os("SOURCE_DATE_EPOCH").is_some(),
    };
    // What else the run reads: this program and each CA file it could pick.
    let mut reads = vec![exe.clone()];
    reads.extend(CaBundle::candidates(
        args.ca_bundle.as_deref(),
        &args.extra_ca,
    ));
    reads.extend(args.sign_key.iter().cloned());
    // In the order their digests are taken: each platform's, the entrypoint's first.
    let binaries = run
        .binaries
        .iter()
        .flat_map(|b| b.programs.iter().map(|p| p.path.clone()))
        .collect();
    Replay::prepare(cache.dir(), &key, binaries, &reads)
}

/// The build facts of each platform's entrypoint binary, in platform order: for one program,
/// what the key held when the facts came by platform.
fn entrypoint_facts<'a>(run: &Run<'a>) -> Vec<(String, &'a Facts)> {
    let mut facts: Vec<(Option<crate::platform::Platform>, &'a Facts)> = run
        .binaries
        .iter()
        .filter_map(|b| Some((b.platform, b.programs.first()?.facts.as_ref()?)))
        .collect();
    facts.sort_by_key(|(p, _)| *p);
    facts
        .into_iter()
        .map(|(p, f)| (p.map(|p| p.to_string()).unwrap_or_default(), f))
        .collect()
}

/// The recorded outcome, shown as the run it stands for showed it, if it still holds.
pub(super) fn answer(replay: &Replay, run: &Run<'_>, ui: &Ui) -> Option<PackageOutcome> {
    let cache = run.cache.as_ref()?;
    // A user's platform in the record is read against this run's table.
    let mut outcome: PackageOutcome = run.defaults.platforms.reading(|| replay.outcome(cache))?;
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
    ui.verbose(
        "nothing this run reads or writes has changed since the last one; its outcome stands",
    );
    show_replayed(&outcome, &run.name, ui);
    Some(outcome)
}

/// The run's outcome, recorded in `replay` when there is one and the run may be replayed.
pub(super) fn outcome(
    run: &Run<'_>,
    inputs: Inputs<'_>,
    assembled: Assembled,
    written: Vec<Written>,
    replay: Option<Replay>,
) -> PackageOutcome {
    let Assembled { set, replayable } = assembled;
    let written_files = replay.as_ref().map(|_| written_files(&set, &run.outputs));
    let mut platforms: Vec<PlatformOutcome> = set
        .images()
        .iter()
        .filter_map(|image| {
            let verified = inputs
                .verified
                .iter()
                .find(|v| v.platform == image.platform)?;
            Some(PlatformOutcome {
                image: ImageSummary::of(image, &run.name),
                verify: verified.report.clone(),
                others: verified
                    .others
                    .iter()
                    .map(|(_, v)| v.report.clone())
                    .collect(),
            })
        })
        .collect();
    // Several platforms are listed in platform order; the first also fills the single fields.
    let first = platforms.remove(0);
    let ca = &inputs.spec.ca;
    let outcome = PackageOutcome {
        digest: set.digest().to_string(),
        index: set.index().map(|b| b.digest.clone()),
        image: first.image.clone(),
        outputs: written,
        verify: first.verify.clone(),
        platforms: std::iter::once(first).chain(platforms).collect(),
        ca_bundle: CaSummary {
            source: ca.source.clone(),
            extra: ca.extras.clone(),
            certificates: ca.count,
        },
        warnings: inputs.warnings.shown,
        debug: None,
        closure: inputs.closure,
    };
    // Stamped once the staging folder is gone: removing its links to blobs the outputs share
    // changes their status time.
    drop(set);
    drop(inputs.store);
    if let (Some(replay), Some(written), true) = (replay, written_files, replayable) {
        replay.record(&outcome, inputs.digests, &written);
    }
    outcome
}

/// The files `outputs` hold of `set`, to be stamped once written.
fn written_files(set: &ImageSet, outputs: &[ImageRef]) -> Vec<PathBuf> {
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
            // Never recorded (see `open`).
            ImageRef::Registry(_) => {}
        }
    }
    files.sort();
    files.dedup();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::blob::canonical_json;

    /// The key names what shapes a run's outcome, field by field: a field added, removed or
    /// renamed changes every record's key, so it comes with a new [`RunKey::VERSION`].
    #[test]
    fn the_run_key_is_its_named_fields_with_a_version() {
        let metadata = BTreeMap::new();
        let key = RunKey {
            version: RunKey::VERSION,
            program: "0",
            exe: Path::new("/exe"),
            cwd: Path::new("/"),
            binaries: vec![(Path::new("app"), Some("linux/amd64".into()))],
            programs: Vec::new(),
            name: "app",
            outputs: vec!["oci:out:t".into()],
            tags: &[],
            entrypoint: None,
            args: &[],
            env: vec![("K", "V")],
            ports: Vec::new(),
            labels: Vec::new(),
            user: None,
            workdir: None,
            ca_bundle: None,
            extra_ca: &[],
            compression: "none".into(),
            sbom: true,
            sbom_format: crate::sbom::Format::Spdx,
            sbom_packages: &[],
            metadata: &metadata,
            facts: Vec::new(),
            created: 0,
            platforms: Vec::new(),
            sign_key: None,
            builder_id: None,
            provenance_times: false,
        };
        let json: serde_json::Value =
            serde_json::from_slice(&canonical_json(&key).unwrap()).unwrap();
        let fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            [
                "args",
                "binaries",
                "builder_id",
                "ca_bundle",
                "compression",
                "created",
                "cwd",
                "entrypoint",
                "env",
                "exe",
                "extra_ca",
                "facts",
                "labels",
                "metadata",
                "name",
                "outputs",
                "platforms",
                "ports",
                "program",
                "provenance_times",
                "sbom",
                "sbom_format",
                "sbom_packages",
                "sign_key",
                "tags",
                "user",
                "version",
                "workdir"
            ]
        );
        assert_eq!(json["version"], 3);
        assert_eq!(json["env"], serde_json::json!([["K", "V"]]));
    }
}
