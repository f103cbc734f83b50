//! Starting cargo before the plan is known, so that a Rust build with nothing to do costs what
//! `cargo build` costs.
//!
//! A Rust plan needs two answers that take a subprocess each: `cargo metadata` (the binary
//! targets, the target directory) and `rustc --print sysroot` (which targets are installed).
//! Together they take longer than a cargo build with nothing to do. So the answers of the last
//! successful build are remembered, a plan is made from them, and its cargo step is started at
//! once with its output held back. Meanwhile the answers are asked afresh and the real plan
//! made; only if its step is the very same command does the early cargo count, and its output
//! is shown. Otherwise the early cargo is left to finish unseen and the real step runs. The
//! memory is a guess that is always checked, never trusted.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::build::cargo_command;
use crate::cli::ProjectArgs;
use crate::detect::{Project, RustProject};
use crate::exec::Started;
use crate::plan::{self, ArtifactRule, BuildPlan};
use crate::toolchain::Toolchains;
use crate::toolchain::probe::Host;
use crate::ui::Ui;

/// What the last successful build learnt from cargo and rustc.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Answers {
    /// This program's version: another one may plan differently.
    version: String,
    project: RustProject,
    sysroot: Option<PathBuf>,
}

/// A cargo step started from the remembered answers.
pub struct Ahead {
    plan: BuildPlan,
    started: Started,
}

impl Ahead {
    /// Lets the early cargo finish unseen (the build stopped before it was needed).
    pub fn discard(self) {
        self.started.discard();
    }

    /// The early cargo, if its command is exactly `plan`'s; else it is left to finish unseen.
    pub fn take_for(self, plan: &BuildPlan, ui: &Ui) -> Option<Started> {
        if self.plan.steps == plan.steps && self.plan.wrappers == plan.wrappers {
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
    let id: String = id[..8].iter().map(|b| format!("{b:02x}")).collect();
    target.join(format!("static-image-build/rust-answers-{id}.json"))
}

/// The manifest `build` would describe, when the project is plainly a Cargo one.
fn manifest_of(args: &ProjectArgs) -> Option<PathBuf> {
    let path = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let manifest = if path.is_dir() {
        path.join("Cargo.toml")
    } else {
        path
    };
    let manifest = manifest.canonicalize().ok()?;
    (manifest.file_name()? == "Cargo.toml").then_some(manifest)
}

/// Starts the cargo step planned from the remembered answers, for a single-platform Rust
/// build whose plan is one cargo command and nothing else.
pub fn start(args: &ProjectArgs, toolchains: &Toolchains, ui: &Ui) -> Option<Ahead> {
    if args.platform.len() > 1 {
        return None;
    }
    let manifest = manifest_of(args)?;
    let text = fs::read(memory_path(&manifest)).ok()?;
    let answers: Answers = serde_json::from_slice(&text).ok()?;
    if answers.version != env!("CARGO_PKG_VERSION") || answers.project.manifest_path != manifest {
        return None;
    }
    let host = Host::new(toolchains, ui, &answers.project.root);
    host.set_sysroot(answers.sysroot);
    let project = Project::Rust(answers.project);
    let platform = crate::platforms(args).first().copied()?;
    let env = |key: &str| std::env::var(key).ok();
    let plan = plan::plan(&project, platform, &host, &crate::plan_options(args), &env).ok()?;
    let [step] = plan.steps.as_slice() else {
        return None;
    };
    if !plan.wrappers.is_empty()
        || plan.mirror.is_some()
        || !matches!(plan.artifact, ArtifactRule::CargoMessages { .. })
    {
        return None;
    }
    fs::create_dir_all(&step.cwd).ok()?;
    let started = cargo_command(step, ui).start(ui).ok()?;
    Some(Ahead { plan, started })
}

/// Remembers what this successful build learnt, for the next one to start from.
pub fn remember(project: &Project, host: &Host<'_>) {
    let (Project::Rust(project), Some(sysroot)) = (project, host.known_sysroot()) else {
        return;
    };
    let path = memory_path(&project.manifest_path);
    // Only where cargo's own target directory is: never a `target/` of our making elsewhere.
    if !path.starts_with(&project.target_dir) {
        return;
    }
    let answers = Answers {
        version: env!("CARGO_PKG_VERSION").to_string(),
        project: project.clone(),
        sysroot,
    };
    let Ok(bytes) = serde_json::to_vec(&answers) else {
        return;
    };
    if fs::read(&path).is_ok_and(|old| old == bytes) {
        return;
    }
    // A memory that cannot be written only costs the next build its head start.
    if let Some(dir) = path.parent()
        && fs::create_dir_all(dir).is_ok()
        && let Ok(mut staged) = tempfile::NamedTempFile::new_in(dir)
        && std::io::Write::write_all(&mut staged, &bytes).is_ok()
    {
        let _ = staged.persist(&path);
    }
}
