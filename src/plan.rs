//! Stage `plan`: project + platform + host facts → [`BuildPlan`]: every argument, environment
//! variable and path decided up front, printable (`static-image plan --json`) before anything runs.
//!
//! Rust: `cargo build --release --target <arch>-unknown-linux-musl --bin <name>`, with cargo's
//! JSON messages on stdout (diagnostics still rendered on stderr) so `build` learns the artifact's
//! path from cargo instead of guessing. Building for another CPU than the host's needs a linker
//! for it; unless the user configured one, rust-lld (shipped with every Rust toolchain) links
//! pure-Rust musl programs for any target.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::detect::{BinTarget, Project, cargo_program};
use crate::exec::{Cmd, ExecError};
use crate::platform::Platform;
use crate::ui::Ui;

/// One build, fully decided.
#[derive(Clone, Debug, Serialize)]
pub struct BuildPlan {
    /// The platform built for.
    pub platform: Platform,
    /// The binary target.
    pub bin: String,
    /// The compiler target triple.
    pub target: String,
    /// The program run.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables set on top of the inherited environment.
    pub env: BTreeMap<String, String>,
    /// Where it runs.
    pub cwd: PathBuf,
    /// Where the binary is expected (cargo's messages have the final word).
    pub artifact: PathBuf,
}

impl BuildPlan {
    /// The command that carries the plan out.
    pub fn command(&self) -> Cmd {
        let mut cmd = Cmd::new("cargo build", &self.program)
            .args(&self.args)
            .cwd(&self.cwd);
        for (k, v) in &self.env {
            cmd = cmd.env(k, v);
        }
        cmd
    }
}

/// Build choices that come from the command line.
#[derive(Clone, Debug, Default)]
pub struct RustOptions {
    /// `--offline`.
    pub offline: bool,
    /// Arguments after `--`.
    pub cargo_args: Vec<String>,
}

/// Why a build cannot be planned here.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The Rust standard library for the target is not installed.
    #[error("the Rust standard library for `{target}` is not installed (looked in `{libdir}`)")]
    MissingRustTarget {
        /// The triple.
        target: String,
        /// Where it should be.
        libdir: PathBuf,
    },
    /// rustc could not be asked.
    #[error("cannot ask rustc where its targets are")]
    Probe(#[source] ExecError),
}

/// `CARGO_TARGET_<TRIPLE>_LINKER`, the variable cargo reads for a target's linker.
fn linker_var(triple: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        triple.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// Plans the build of `bin` for `platform`. `host` is the machine's platform; `env` reads the
/// environment (a parameter so the plan stays a pure function of its inputs).
pub fn plan_rust(
    project: &Project,
    bin: &BinTarget,
    platform: Platform,
    host: Option<Platform>,
    env: &dyn Fn(&str) -> Option<String>,
    options: &RustOptions,
) -> BuildPlan {
    let target = platform.rust_musl_triple();
    let mut args: Vec<String> = vec![
        "build".into(),
        "--release".into(),
        "--target".into(),
        target.into(),
        "--bin".into(),
        bin.name.clone(),
        "--manifest-path".into(),
        project.manifest_path.display().to_string(),
        "--message-format=json-render-diagnostics".into(),
    ];
    if options.offline {
        args.push("--offline".into());
    }
    args.extend(options.cargo_args.iter().cloned());

    let mut vars = BTreeMap::new();
    let linker = linker_var(target);
    if host != Some(platform) && env(&linker).is_none() {
        vars.insert(linker, "rust-lld".to_string());
    }
    BuildPlan {
        platform,
        bin: bin.name.clone(),
        target: target.into(),
        program: cargo_program(),
        args,
        env: vars,
        cwd: project.root.clone(),
        artifact: project
            .target_dir
            .join(target)
            .join("release")
            .join(&bin.name),
    }
}

/// Checks that the toolchain cargo will use (the project's, honouring rust-toolchain files) has
/// the standard library for `target`.
pub fn check_rust_target(project_root: &Path, target: &str, ui: &Ui) -> Result<(), PlanError> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Cmd::new("rustc --print sysroot", rustc)
        .args(["--print", "sysroot"])
        .cwd(project_root)
        .capture(ui)
        .map_err(PlanError::Probe)?;
    let libdir = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(target)
        .join("lib");
    if libdir.is_dir() {
        Ok(())
    } else {
        Err(PlanError::MissingRustTarget {
            target: target.into(),
            libdir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::PackageInfo;

    fn fixture() -> (Project, BinTarget) {
        let bin = BinTarget {
            name: "hello".into(),
            package: PackageInfo::default(),
        };
        let project = Project {
            root: "/src/hello".into(),
            manifest_path: "/src/hello/Cargo.toml".into(),
            target_dir: "/src/hello/target".into(),
            bins: vec![bin.clone()],
        };
        (project, bin)
    }

    #[test]
    fn native_build_is_plain_cargo_for_the_musl_target() {
        let (project, bin) = fixture();
        let options = RustOptions {
            offline: true,
            cargo_args: vec!["--features".into(), "tls".into()],
        };
        let plan = plan_rust(
            &project,
            &bin,
            Platform::Amd64,
            Some(Platform::Amd64),
            &|_| None,
            &options,
        );
        assert_eq!(
            plan.args,
            [
                "build",
                "--release",
                "--target",
                "x86_64-unknown-linux-musl",
                "--bin",
                "hello",
                "--manifest-path",
                "/src/hello/Cargo.toml",
                "--message-format=json-render-diagnostics",
                "--offline",
                "--features",
                "tls"
            ]
        );
        assert!(plan.env.is_empty());
        assert_eq!(
            plan.artifact,
            PathBuf::from("/src/hello/target/x86_64-unknown-linux-musl/release/hello")
        );
    }

    #[test]
    fn cross_build_links_with_rust_lld_unless_a_linker_is_configured() {
        let (project, bin) = fixture();
        let options = RustOptions::default();
        let plan = plan_rust(
            &project,
            &bin,
            Platform::Arm64,
            Some(Platform::Amd64),
            &|_| None,
            &options,
        );
        assert_eq!(plan.target, "aarch64-unknown-linux-musl");
        assert_eq!(
            plan.env
                .get("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER")
                .map(String::as_str),
            Some("rust-lld")
        );
        let configured = |k: &str| {
            (k == "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER").then(|| "zig-cc".to_string())
        };
        let plan = plan_rust(
            &project,
            &bin,
            Platform::Arm64,
            Some(Platform::Amd64),
            &configured,
            &options,
        );
        assert!(plan.env.is_empty());
    }
}
