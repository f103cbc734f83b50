//! Starting cargo before the plan is known, so that a Rust build with nothing to do costs what
//! `cargo build` costs.
//!
//! A Rust plan needs two answers that take a subprocess each: `cargo metadata` (the binary
//! targets, the target directory) and `rustc --print sysroot` (which targets are installed).
//! Together they take longer than a cargo build with nothing to do. So the answers of the last
//! successful build are remembered with the cargo command it ran, and that command is started
//! at once with its output held back, before even the toolchain data is read. Meanwhile the
//! real plan is made (from the answers asked afresh, or from the remembered ones when they
//! hold); only if its step is the very same command does the early cargo count, and its output
//! is shown. Otherwise the early cargo is left to finish unseen and the real step runs.
//!
//! The answers are trusted without asking again only when nothing they depend on has changed,
//! judged as cargo judges its own fingerprints, under the cache's freshness rule
//! (`cache::stamp`, with the margin noted there): by the stamps of every file and folder that
//! can change them (the manifests up to the workspace root, the
//! `src` and `src/bin` folders whose files make targets, `.cargo/config*` and
//! `rust-toolchain*` up the tree, cargo's and rustup's settings, the sysroot's installed
//! targets, this program) and a digest of the variables cargo and rustc read. Anything else
//! makes them a guess, checked as above.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::build::cargo_command;
use crate::cache::stamp::Stamps;
use crate::detect::{Project, RustProject};
use crate::exec::Started;
use crate::plan::{ArtifactRule, BuildPlan, Step};
use crate::request::ProjectRequest;
use crate::toolchain::probe::Host;
use crate::ui::Ui;

/// What the last successful build learnt from cargo and rustc.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Answers {
    /// This program's version: another one may plan differently.
    version: String,
    project: RustProject,
    sysroot: Option<PathBuf>,
    /// The state of everything the answers depend on, when they were given; empty when
    /// something changed during that build (then the answers are only a guess).
    #[serde(default)]
    stamps: Stamps,
    /// A digest of the environment they were given in.
    #[serde(default)]
    env: String,
    /// The cargo command the build ran, when its plan was that command alone.
    #[serde(default)]
    step: Option<Step>,
    /// A digest of the flags it was planned from: other flags make another command.
    #[serde(default)]
    flags: String,
}

/// The choices a plan is made from: other choices make another command. Listed field by field
/// (not taken from the request's layout) so that renaming a request's field keeps every key;
/// `version` changes when what the key holds does.
#[derive(Serialize)]
struct FlagsKey<'a> {
    version: u32,
    path: Option<&'a Path>,
    platforms: Vec<String>,
    offline: bool,
    bin: OneOrList<'a, String>,
    package: OneOrList<'a, String>,
    cgo: bool,
    artifact: OneOrList<'a, PathBuf>,
    // Absent from the JSON when not given, so keys written before it existed still match.
    #[serde(skip_serializing_if = "Option::is_none")]
    make_target: Option<&'a str>,
    toolchains: Option<&'a Path>,
    build_args: &'a [String],
}

impl<'a> FlagsKey<'a> {
    const VERSION: u32 = 1;

    fn of(args: &'a ProjectRequest) -> FlagsKey<'a> {
        FlagsKey {
            version: Self::VERSION,
            path: args.path.as_deref(),
            platforms: args.platforms.iter().map(ToString::to_string).collect(),
            offline: args.offline,
            bin: OneOrList(&args.bin),
            package: OneOrList(&args.package),
            cgo: args.cgo,
            artifact: OneOrList(&args.artifact),
            make_target: args.make_target.as_deref(),
            toolchains: args.toolchains.as_deref(),
            build_args: &args.build_args,
        }
    }
}

/// A flag that may repeat, written as it was when it could not: `null` when absent, the value
/// when given once (so keys written then still match), a list when given more often.
struct OneOrList<'a, T>(&'a [T]);

impl<T: Serialize> Serialize for OneOrList<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [] => serializer.serialize_none(),
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }
}

/// [`FlagsKey`] as canonical JSON: keys sorted (a `Value`'s object keeps them so), no spaces.
/// `None` when a path is not UTF-8 and so has no JSON form.
fn flags_json(args: &ProjectRequest) -> Option<String> {
    serde_json::to_value(FlagsKey::of(args))
        .ok()
        .map(|v| v.to_string())
}

/// A digest of the flags a plan is made from; `None` when they have none, and then nothing is
/// remembered for them.
fn flags_digest(args: &ProjectRequest) -> Option<String> {
    let canonical = flags_json(args)?;
    Some(crate::image::blob::to_hex(&Sha256::digest(
        canonical.as_bytes(),
    )))
}

/// The paths whose state the answers for `project` (with `sysroot`) depend on.
fn inputs(project: &RustProject, sysroot: Option<&Path>) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for manifest in project.manifests.iter().chain([&project.manifest_path]) {
        let dir = manifest.parent().unwrap_or(Path::new("/"));
        // Targets are made by the manifest and by the files in these folders.
        paths.extend([manifest.clone(), dir.join("src"), dir.join("src/bin")]);
    }
    for dir in project.root.ancestors() {
        for name in [
            "Cargo.toml",
            ".cargo/config",
            ".cargo/config.toml",
            "rust-toolchain",
            "rust-toolchain.toml",
        ] {
            paths.push(dir.join(name));
        }
    }
    let env_dir = |key: &str, default: &str| {
        std::env::var_os(key)
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(default)))
    };
    if let Some(cargo_home) = env_dir("CARGO_HOME", ".cargo") {
        paths.extend([cargo_home.join("config"), cargo_home.join("config.toml")]);
    }
    if let Some(rustup_home) = env_dir("RUSTUP_HOME", ".rustup") {
        paths.push(rustup_home.join("settings.toml"));
    }
    if let Some(sysroot) = sysroot {
        // `rustup target add` adds a folder here.
        paths.push(sysroot.join("lib/rustlib"));
    }
    paths.extend(std::env::current_exe().ok());
    paths.sort();
    paths.dedup();
    paths
}

/// A digest of the variables that can change cargo's or rustc's answers: which cargo and
/// rustc run (PATH, HOME, RUSTUP_*, RUSTC*), and cargo's settings (CARGO_*).
fn env_digest() -> String {
    let relevant = |k: &str| {
        matches!(k, "PATH" | "HOME")
            || ["CARGO", "RUSTUP", "RUSTC", "RUST_"]
                .iter()
                .any(|p| k.starts_with(p))
    };
    let mut vars: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os()
        .filter(|(k, _)| k.to_str().is_some_and(relevant))
        .collect();
    vars.sort();
    let mut hasher = Sha256::new();
    for (k, v) in vars {
        hasher.update(k.as_encoded_bytes());
        hasher.update([0]);
        hasher.update(v.as_encoded_bytes());
        hasher.update([0]);
    }
    crate::image::blob::to_hex(&hasher.finalize())
}

/// The last build's cargo command, started again.
pub struct Ahead {
    step: Step,
    started: Started,
    /// The answers, when nothing they depend on has changed: no need to ask again.
    trusted: Option<(RustProject, Option<PathBuf>)>,
}

/// A plan's cargo step, when the plan is that one command and nothing else (what can be
/// started ahead).
fn lone_cargo_step(plan: &BuildPlan) -> Option<&Step> {
    match plan.steps.as_slice() {
        [step]
            if plan.wrappers.is_empty()
                && plan.mirror.is_none()
                && matches!(plan.artifact, ArtifactRule::CargoMessages { .. }) =>
        {
            Some(step)
        }
        _ => None,
    }
}

impl Ahead {
    /// The project and sysroot to plan with, if the answers can be trusted as they are.
    pub fn trusted(&self) -> Option<(Project, Option<PathBuf>)> {
        let (project, sysroot) = self.trusted.clone()?;
        Some((Project::Rust(project), sysroot))
    }

    /// Lets the early cargo finish unseen (the build stopped before it was needed).
    pub fn discard(self) {
        self.started.discard();
    }

    /// The early cargo, if its command is exactly `plan`'s; else it is left to finish unseen.
    pub fn take_for(self, plan: &BuildPlan, ui: &Ui) -> Option<Started> {
        if lone_cargo_step(plan) == Some(&self.step) {
            ui.verbose(format_args!(
                "cargo was started ahead from the last build's answers, which still hold"
            ));
            Some(self.started)
        } else {
            ui.verbose(format_args!(
                "the last build's answers no longer hold; building with the new plan"
            ));
            self.started.discard();
            None
        }
    }
}

/// Where the answers for the project whose manifest is `manifest` are kept: in the target
/// directory cargo uses unless configured otherwise.
fn memory_path(manifest: &Path) -> PathBuf {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let id = Sha256::digest(manifest.as_os_str().as_encoded_bytes());
    let id = crate::image::blob::to_hex(&id[..8]);
    target.join(format!("static-image-build/rust-answers-{id}.json"))
}

/// The manifest `build` would describe, when the project is plainly a Cargo one.
fn manifest_of(args: &ProjectRequest) -> Option<PathBuf> {
    let path = args.path();
    let manifest = if path.is_dir() {
        path.join("Cargo.toml")
    } else {
        path
    };
    let manifest = manifest.canonicalize().ok()?;
    (manifest.file_name()? == "Cargo.toml").then_some(manifest)
}

/// Starts the cargo command the last build of this project ran, for a single-platform build.
pub fn start(args: &ProjectRequest, ui: &Ui) -> Option<Ahead> {
    if args.platforms.len() > 1 {
        return None;
    }
    let manifest = manifest_of(args)?;
    let text = fs::read(memory_path(&manifest)).ok()?;
    let answers: Answers = serde_json::from_slice(&text).ok()?;
    if answers.version != env!("CARGO_PKG_VERSION") || answers.project.manifest_path != manifest {
        return None;
    }
    if Some(answers.flags) != flags_digest(args) {
        return None;
    }
    let step = answers.step?;
    fs::create_dir_all(&step.cwd).ok()?;
    let started = cargo_command(&step, ui).start(ui).ok()?;
    // Judged while cargo runs: the command stands or falls by the plan's comparison anyway.
    let trusted =
        !answers.stamps.is_empty() && answers.env == env_digest() && answers.stamps.hold();
    Some(Ahead {
        step,
        started,
        trusted: trusted.then_some((answers.project, answers.sysroot)),
    })
}

/// Remembers what this successful build learnt and the cargo command of its `plan`, for the
/// next one to start from. `began` is when the build began: an input changed since then may
/// not be reflected in the answers, so they are then kept as a guess only.
pub fn remember(
    project: &Project,
    args: &ProjectRequest,
    plan: &BuildPlan,
    host: &Host<'_>,
    began: SystemTime,
) {
    let (Project::Rust(project), Some(sysroot), Some(flags)) =
        (project, host.known_sysroot(), flags_digest(args))
    else {
        return;
    };
    let path = memory_path(&project.manifest_path);
    // Only where cargo's own target directory is: never a `target/` of our making elsewhere.
    if !path.starts_with(&project.target_dir) {
        return;
    }
    let mut stamps = Stamps::of(inputs(project, sysroot.as_deref()));
    // The freshness rule (`cache::stamp`): answers worked out from files that had not settled
    // are not kept.
    if !stamps.settled_before(began) {
        stamps = Stamps::default();
    }
    let answers = Answers {
        version: env!("CARGO_PKG_VERSION").to_string(),
        project: project.clone(),
        sysroot,
        stamps,
        env: env_digest(),
        step: lone_cargo_step(plan).cloned(),
        flags,
    };
    let Ok(bytes) = serde_json::to_vec(&answers) else {
        return;
    };
    if fs::read(&path).is_ok_and(|old| old == bytes) {
        return;
    }
    // A memory that cannot be written only costs the next build its head start.
    let _ = crate::cache::write_atomic(&path, &bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn the_flags_key_is_its_own_canonical_json() {
        let args = ProjectRequest {
            path: Some("app".into()),
            platforms: vec![crate::platform::PlatformName("linux/arm64".into())],
            bin: vec!["server".into()],
            build_args: vec!["--features".into(), "tls".into()],
            ..ProjectRequest::default()
        };
        assert_eq!(
            flags_json(&args).as_deref(),
            Some(
                "{\"artifact\":null,\"bin\":\"server\",\"build_args\":[\"--features\",\"tls\"],\
                 \"cgo\":false,\"offline\":false,\"package\":null,\"path\":\"app\",\
                 \"platforms\":[\"linux/arm64\"],\"toolchains\":null,\"version\":1}"
            )
        );
        let other = ProjectRequest {
            offline: true,
            ..args.clone()
        };
        assert_ne!(flags_digest(&args), flags_digest(&other));
        // A repeated flag is a list, in its order: another order is another entrypoint.
        let two = ProjectRequest {
            bin: vec!["server".into(), "migrate".into()],
            ..args.clone()
        };
        let json = flags_json(&two).unwrap_or_default();
        assert!(json.contains("\"bin\":[\"server\",\"migrate\"]"), "{json}");
        let swapped = ProjectRequest {
            bin: vec!["migrate".into(), "server".into()],
            ..args.clone()
        };
        assert_ne!(flags_digest(&two), flags_digest(&swapped));
        // A path with no JSON form has no key: nothing is remembered under a shared one.
        let odd = ProjectRequest {
            path: Some(std::ffi::OsStr::from_bytes(b"\xff").into()),
            ..args
        };
        assert_eq!(flags_digest(&odd), None);
    }
}
