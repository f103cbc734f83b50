//! Rust: `cargo build --release --target <triple> --bin <name>`, with cargo's JSON messages on
//! stdout (diagnostics still rendered on stderr) so `build` learns the artifact's path from
//! cargo instead of guessing. The strategy supplies the triple and, for other CPUs, the linker
//! (rust-lld) and the C compiler that crates with C code are built with.

use std::path::{Path, PathBuf};

use super::{
    ArtifactRule, BuildPlan, Facts, Options, PlanError, PlanFile, Step, Wrapper, strategy_env,
    summary, wrappers,
};
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
    let wrapper_dir = wrapper_dir(&choice, &work_dir);
    let mut wrappers = wrappers(&mut choice, &wrapper_dir);
    // CMake runs `ranlib` on the archives it makes: `ar s` of the target's archiver.
    if let Some(ar) = wrappers.iter().find(|w| w.path.ends_with("bin/ar")) {
        let mut command = ar.command.clone();
        command.push("s".into());
        let path = wrapper_dir.join("bin").join("ranlib");
        choice.vars.set("ranlib", path.display().to_string());
        wrappers.push(Wrapper {
            path,
            command,
            drop: Vec::new(),
            flags: Vec::new(),
            link_flags: Vec::new(),
        });
    }
    let mut files = Vec::new();
    if let Some(text) = &choice.strategy.cmake_toolchain {
        let path = wrapper_dir.join("toolchain.cmake");
        choice
            .vars
            .set("cmake_toolchain", path.display().to_string());
        let text = choice
            .vars
            .expand(text)
            .map_err(|detail| PlanError::Template {
                entry: choice.strategy.name.clone(),
                detail,
            })?;
        files.push(PlanFile { path, text });
    }
    // The programs of one image are one cargo command, which compiles them side by side and
    // unifies their features as `cargo build --bin a --bin b` would.
    let bins: Vec<&str> = if options.bins_together.contains(&bin.name) {
        options.bins_together.iter().map(String::as_str).collect()
    } else {
        vec![&bin.name]
    };
    let mut args: Vec<String> = vec![
        "build".into(),
        "--release".into(),
        "--target".into(),
        target.clone(),
    ];
    for name in bins {
        args.extend(["--bin".into(), name.to_string()]);
    }
    args.extend([
        "--manifest-path".into(),
        project.manifest_path.display().to_string(),
        "--message-format=json-render-diagnostics".into(),
    ]);
    if options.offline {
        args.push("--offline".into());
    }
    let mut step_env = strategy_env(&choice.strategy, &choice.vars, env)?;
    remap_paths(&target, env, &mut args, &mut step_env);
    args.extend(options.build_args.iter().cloned());
    let env = step_env;
    let step = Step {
        description: "cargo build".into(),
        program: cargo_program(),
        args,
        env,
        cwd: project.root.clone(),
        unless: None,
        once: false,
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
        files,
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
        facts: Facts::Rust {
            triple: target,
            bin: bin.clone(),
            provided: Vec::new(),
        },
    })
}

/// Keeps host paths out of the binary. rustc records the source path of every panic location
/// (and of debug info); cargo names the project's own files relative to its workspace, but a
/// dependency from the registry or git by its absolute path under CARGO_HOME
/// (`/home/me/.cargo/registry/src/…/smallvec-1.13.2/src/lib.rs`), which carries the user's home
/// directory into the image and makes it differ from machine to machine. So CARGO_HOME becomes
/// `/cargo`, through `--remap-path-prefix`. (The project's own path is not remapped: cargo
/// already names its files relatively, and a flag naming it would differ between two checkouts.)
///
/// The flags join the user's own: cargo takes the first of `CARGO_ENCODED_RUSTFLAGS`,
/// `RUSTFLAGS`, `target.<triple>.rustflags` and `build.rustflags` that is set, so ours are
/// appended to whichever the environment sets, else given as `--config build.rustflags=…`,
/// which cargo joins with the config files' list. (Rustflags in a config file's `[target]`
/// table take precedence over that; then the user's flags stand and ours are not applied.)
fn remap_paths(
    target: &str,
    env: &dyn Fn(&str) -> Option<String>,
    args: &mut Vec<String>,
    step_env: &mut std::collections::BTreeMap<String, String>,
) {
    let cargo_home = env("CARGO_HOME")
        .filter(|h| !h.is_empty())
        .or_else(|| env("HOME").map(|h| format!("{}/.cargo", h.trim_end_matches('/'))));
    let Some(home) = cargo_home.filter(|h| h.starts_with('/')) else {
        return;
    };
    let flag = format!("--remap-path-prefix={home}=/cargo");
    let set = |key: &str| step_env.get(key).cloned().or_else(|| env(key));
    if let Some(encoded) = set("CARGO_ENCODED_RUSTFLAGS") {
        step_env.insert(
            "CARGO_ENCODED_RUSTFLAGS".into(),
            format!("{encoded}\x1f{flag}"),
        );
        return;
    }
    // The space-separated forms cannot hold a path with a space; such a path is left alone.
    if flag.contains(' ') {
        return;
    }
    let target_var = format!(
        "CARGO_TARGET_{}_RUSTFLAGS",
        target.to_uppercase().replace(['-', '.'], "_")
    );
    for key in ["RUSTFLAGS", target_var.as_str()] {
        if let Some(user) = set(key) {
            step_env.insert(key.to_string(), format!("{user} {flag}"));
            return;
        }
    }
    args.push("--config".into());
    args.push(format!(
        "build.rustflags=[{}]",
        serde_json::to_string(&flag).unwrap_or_default()
    ));
}

/// Where the `{cc}`/`{ar}`/`{cxx}` wrappers (and the CMake toolchain file) of `choice` go: a folder named by their commands. cc-rs and
/// cmake-rs rerun a build script when `CC_<triple>` changes, not when the script it names does,
/// so a compiler command that changed (a flag added to the strategy, another zig) must change
/// the path for the C code built with the old one to be rebuilt; the same commands keep the
/// same path, so a no-op build stays one.
fn wrapper_dir(choice: &Choice, work_dir: &Path) -> PathBuf {
    use sha2::{Digest as _, Sha256};
    let mut hash = Sha256::new();
    for words in [&choice.cc, &choice.ar, &choice.cxx].into_iter().flatten() {
        for word in words {
            hash.update(word.as_bytes());
            hash.update([0]);
        }
        hash.update([1]);
    }
    for pattern in &choice.strategy.cc_drop {
        hash.update(pattern.as_bytes());
        hash.update([0]);
    }
    // The toolchain file names the compilers CMake caches: another text, another folder.
    if let Some(text) = &choice.strategy.cmake_toolchain {
        hash.update(text.as_bytes());
    }
    let digest = hash.finalize();
    let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    work_dir.join(format!("cc-{short}"))
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
            Platform::amd64(),
            choice("musl", Platform::amd64()),
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
        // The step reads back as written: a no-op build starts it early from what it remembers.
        let json = serde_json::to_string(&plan.steps[0]).unwrap();
        assert_eq!(serde_json::from_str::<Step>(&json).unwrap(), plan.steps[0]);
        // Later stages take the triple and the binary from here, not from the arguments.
        assert!(matches!(
            &plan.facts,
            Facts::Rust { triple, bin, .. }
                if triple == "x86_64-unknown-linux-musl" && bin.name == "hello"
        ));
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
            Platform::arm64(),
            choice("musl-zig", Platform::arm64()),
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
        let cc = get("CC_aarch64-unknown-linux-musl").unwrap();
        let dir = cc.strip_suffix("/bin/cc").unwrap();
        assert!(dir.starts_with("/w/cc-"), "{cc}");
        assert_eq!(
            get("AR_aarch64-unknown-linux-musl"),
            Some(format!("{dir}/bin/ar").as_str())
        );
        // zig's sanitizer is off: rust-lld has no ubsan runtime to link.
        assert_eq!(
            plan.wrappers[0].command,
            [
                "zig",
                "cc",
                "-target",
                "aarch64-linux-musl",
                "-fno-sanitize=undefined"
            ]
        );
        // C++ and CMake builds get the same compilers and archiver: a `{cxx}` wrapper, and a
        // toolchain file naming the wrappers (CMake would find the host's archiver).
        assert_eq!(
            get("CXX_aarch64-unknown-linux-musl"),
            Some(format!("{dir}/bin/cxx").as_str())
        );
        let toolchain = format!("{dir}/toolchain.cmake");
        assert_eq!(
            get("CMAKE_TOOLCHAIN_FILE_aarch64-unknown-linux-musl"),
            Some(toolchain.as_str())
        );
        let file = &plan.files[0];
        assert_eq!(file.path, PathBuf::from(&toolchain));
        for line in [
            format!("set(CMAKE_C_COMPILER \"{dir}/bin/cc\")"),
            format!("set(CMAKE_CXX_COMPILER \"{dir}/bin/cxx\")"),
            format!("set(CMAKE_AR \"{dir}/bin/ar\" CACHE"),
            format!("set(CMAKE_RANLIB \"{dir}/bin/ranlib\" CACHE"),
            "set(CMAKE_SYSTEM_PROCESSOR aarch64)".to_string(),
        ] {
            assert!(file.text.contains(&line), "{line} not in {}", file.text);
        }
        let ranlib = plan
            .wrappers
            .iter()
            .find(|w| w.path.ends_with("bin/ranlib"));
        assert_eq!(ranlib.unwrap().command, ["zig", "ar", "s"]);
        // The same commands, the same folder: a no-op build stays one.
        let again = super::plan(
            &fixture(),
            Platform::arm64(),
            choice("musl-zig", Platform::arm64()),
            "/w".into(),
            &Options::default(),
            &|_| None,
        )
        .unwrap();
        assert_eq!(again.wrappers[0].path, plan.wrappers[0].path);
        // Another compiler command, another folder: cargo reruns the C builds.
        let mut other = choice("musl-zig", Platform::arm64());
        if let Some(cc) = other.cc.as_mut() {
            cc.push("-O1".into());
        }
        let other = super::plan(
            &fixture(),
            Platform::arm64(),
            other,
            "/w".into(),
            &Options::default(),
            &|_| None,
        )
        .unwrap();
        assert_ne!(other.wrappers[0].path, plan.wrappers[0].path);

        // A linker the user configured wins over ours.
        let configured = |k: &str| {
            (k == "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER").then(|| "my-ld".to_string())
        };
        let plan = super::plan(
            &fixture(),
            Platform::arm64(),
            choice("musl-lld", Platform::arm64()),
            "/w".into(),
            &Options::default(),
            &configured,
        )
        .unwrap();
        assert!(cargo_env(&plan).is_empty());
    }

    #[test]
    fn cargo_home_is_remapped_joining_the_users_own_flags() {
        let build = |name: &str, vars: &[(&str, &str)]| {
            let vars: BTreeMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            plan(
                &fixture(),
                Platform::amd64(),
                choice(name, Platform::amd64()),
                "/w".into(),
                &Options::default(),
                &|k| vars.get(k).cloned(),
            )
            .unwrap()
        };
        let remap = "--remap-path-prefix=/home/me/.cargo=/cargo";
        // Nothing set: `--config build.rustflags`, which cargo joins with the config files'.
        let plan = build("musl", &[("HOME", "/home/me/")]);
        let args = &plan.steps[0].args;
        let at = args.iter().position(|a| a == "--config").unwrap();
        assert_eq!(args[at + 1], format!("build.rustflags=[\"{remap}\"]"));
        let plan = build(
            "musl",
            &[("HOME", "/home/me"), ("CARGO_HOME", "/opt/cargo")],
        );
        assert!(plan.steps[0].args[at + 1].contains("/opt/cargo=/cargo"));
        // RUSTFLAGS would hide build.rustflags: ours join it instead.
        let plan = build(
            "musl",
            &[
                ("HOME", "/home/me"),
                ("RUSTFLAGS", "-C target-cpu=x86-64-v3"),
            ],
        );
        assert!(!plan.steps[0].args.contains(&"--config".to_string()));
        assert_eq!(
            cargo_env(&plan)["RUSTFLAGS"],
            format!("-C target-cpu=x86-64-v3 {remap}")
        );
        let plan = build(
            "musl",
            &[("HOME", "/home/me"), ("CARGO_ENCODED_RUSTFLAGS", "-Cfoo")],
        );
        assert_eq!(
            cargo_env(&plan)["CARGO_ENCODED_RUSTFLAGS"],
            format!("-Cfoo\x1f{remap}")
        );
        // So would the target's rustflags the glibc strategy sets.
        let glibc = choice("glibc-crt-static", Platform::amd64());
        let vars = |k: &str| (k == "HOME").then(|| "/home/me".to_string());
        let glibc = super::plan(
            &fixture(),
            Platform::amd64(),
            glibc,
            "/w".into(),
            &Options::default(),
            &vars,
        )
        .unwrap();
        assert_eq!(
            cargo_env(&glibc)["CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS"],
            format!("-C target-feature=+crt-static {remap}")
        );
        // No home: nothing to remap, nothing added.
        assert!(
            !build("musl", &[]).steps[0]
                .args
                .contains(&"--config".to_string())
        );
    }
}
