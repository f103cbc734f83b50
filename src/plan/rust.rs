//! Rust: `cargo build --release --target <triple> --bin <name>`, with cargo's JSON messages on
//! stdout (diagnostics still rendered on stderr) so `build` learns the artifact's path from
//! cargo instead of guessing. The strategy supplies the triple and, for other CPUs, the linker
//! (rust-lld) and the C compiler that crates with C code are built with.

use std::path::PathBuf;

use super::{ArtifactRule, BuildPlan, Options, PlanError, Step, strategy_env, summary, wrappers};
use crate::detect::{RustProject, cargo_program, select_bin};
use crate::platform::Platform;
use crate::toolchain::Language;
use crate::toolchain::probe::Choice;

pub(super) fn plan(
    project: &RustProject,
    platform: Platform,
    mut choice: Choice,
    work_dir: PathBuf,
    options: &Options,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BuildPlan, PlanError> {
    let bin = select_bin(project, options.bin.as_deref())?;
    let target = rust_target(&choice)?;
    let wrappers = wrappers(&mut choice, &work_dir);
    let mut args: Vec<String> = vec![
        "build".into(),
        "--release".into(),
        "--target".into(),
        target.clone(),
        "--bin".into(),
        bin.name.clone(),
        "--manifest-path".into(),
        project.manifest_path.display().to_string(),
        "--message-format=json-render-diagnostics".into(),
    ];
    if options.offline {
        args.push("--offline".into());
    }
    args.extend(options.build_args.iter().cloned());
    let env = strategy_env(&choice.strategy, &choice.vars, env)?;
    let step = Step {
        description: "cargo build".into(),
        program: cargo_program(),
        args,
        env,
        cwd: project.root.clone(),
        unless: None,
    };
    Ok(BuildPlan {
        language: Language::Rust,
        platform,
        strategy: choice.strategy.name.clone(),
        summary: summary(&choice),
        libc: choice.strategy.libc,
        name: bin.name.clone(),
        work_dir,
        wrappers,
        mirror: None,
        steps: vec![step],
        artifact: ArtifactRule::CargoMessages {
            bin: bin.name.clone(),
            expected: project
                .target_dir
                .join(&target)
                .join("release")
                .join(&bin.name),
        },
    })
}

fn rust_target(choice: &Choice) -> Result<String, PlanError> {
    choice
        .vars
        .expand("{rust_target}")
        .map_err(|_| PlanError::Template {
            entry: choice.strategy.name.clone(),
            detail: "a Rust strategy needs `rust_target`".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{BinTarget, PackageInfo};
    use std::collections::BTreeMap;

    /// The environment of the plan's cargo step.
    fn cargo_env(plan: &BuildPlan) -> BTreeMap<String, String> {
        plan.steps
            .first()
            .map(|s| s.env.clone())
            .unwrap_or_default()
    }

    fn fixture() -> RustProject {
        RustProject {
            root: "/src/hello".into(),
            manifest_path: "/src/hello/Cargo.toml".into(),
            target_dir: "/src/hello/target".into(),
            manifests: Vec::new(),
            bins: vec![BinTarget {
                name: "hello".into(),
                package: PackageInfo::default(),
            }],
        }
    }

    fn choice(name: &str, platform: Platform) -> Choice {
        crate::plan::test_choice(Language::Rust, name, platform, &["zig"])
    }

    #[test]
    fn native_build_is_plain_cargo_for_the_musl_target() {
        let options = Options {
            offline: true,
            build_args: vec!["--features".into(), "tls".into()],
            ..Options::default()
        };
        let plan = plan(
            &fixture(),
            Platform::AMD64,
            choice("musl", Platform::AMD64),
            "/w".into(),
            &options,
            &|_| None,
        )
        .unwrap();
        assert_eq!(
            plan.steps[0].args,
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
        assert!(cargo_env(&plan).is_empty());
        assert!(plan.wrappers.is_empty());
        assert!(matches!(
            &plan.artifact,
            ArtifactRule::CargoMessages { expected, .. }
                if expected == &PathBuf::from("/src/hello/target/x86_64-unknown-linux-musl/release/hello")
        ));
    }

    #[test]
    fn cross_build_with_zig_compiles_c_with_wrappers_and_links_with_rust_lld() {
        let plan = plan(
            &fixture(),
            Platform::ARM64,
            choice("musl-zig", Platform::ARM64),
            "/w".into(),
            &Options::default(),
            &|_| None,
        )
        .unwrap();
        let env = cargo_env(&plan);
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(
            get("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER"),
            Some("rust-lld")
        );
        assert_eq!(get("CC_aarch64-unknown-linux-musl"), Some("/w/bin/cc"));
        assert_eq!(get("AR_aarch64-unknown-linux-musl"), Some("/w/bin/ar"));
        assert_eq!(
            plan.wrappers[0].command,
            ["zig", "cc", "-target", "aarch64-linux-musl"]
        );

        // A linker the user configured wins over ours.
        let configured = |k: &str| {
            (k == "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER").then(|| "my-ld".to_string())
        };
        let plan = super::plan(
            &fixture(),
            Platform::ARM64,
            choice("musl-lld", Platform::ARM64),
            "/w".into(),
            &Options::default(),
            &configured,
        )
        .unwrap();
        assert!(cargo_env(&plan).is_empty());
    }
}
