//! `static-image build` (and `cargo static-image`) on the Rust fixture: a real cargo build for
//! the musl target, the image run by runc from its own rootfs, reproducibility across runs and
//! source directories.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// Builds a copy of the fixture at `project` into `oci:<layout>:<tag>`; returns the digest.
fn build_into(project: &Path, layout: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "build".to_string(),
        project.display().to_string(),
        "--output".into(),
        format!("oci:{}:test", layout.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    static_image(&args).run().ok().digest()
}

#[test]
fn built_image_runs_in_runc_as_nonroot_and_reads_the_ca_bundle() {
    if !require("rust-musl")
        || !require("umoci")
        || !require("runc")
        || !require("root")
        || !require("skopeo")
    {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    build_into(&project, &layout, &["--arg", "first", "--arg", "second"]);

    let (code, output) = run_in_runc(&layout, "test", dir.path());
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("uid=65532 gid=65532\n"), "{output}");
    let certs = output
        .lines()
        .find_map(|l| l.strip_prefix("ca: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no readable CA bundle: {output}"));
    assert!(certs > 50, "{output}");
    assert!(
        output.contains("readable at /etc/ssl/certs/ca-certificates.crt"),
        "{output}"
    );
    assert!(output.contains("tmp: writable\n"), "{output}");
    assert!(output.contains("args: first second\n"), "{output}");

    // The image is labelled from Cargo.toml.
    let config = skopeo_inspect(&format!("oci:{}:test", layout.display()), true);
    let (labels, _) = config_of(&config);
    assert_eq!(labels["org.opencontainers.image.version"], "0.3.1");
    assert_eq!(labels["org.opencontainers.image.licenses"], "MIT");
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://example.com/rust-hello"
    );
    assert_eq!(labels["org.opencontainers.image.title"], "rust-hello");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/app/rust-hello"])
    );
}

#[test]
fn builds_are_reproducible_across_runs_and_source_directories() {
    if !require("rust-musl") {
        return;
    }
    let dir = tempdir();
    let one = copy_fixture("rust-hello", &dir.path().join("one"));
    let two = copy_fixture("rust-hello", &dir.path().join("somewhere/else/two"));
    let layout = dir.path().join("layout");
    let first = build_into(&one, &layout, &[]);
    let again = build_into(&one, &layout, &[]);
    let elsewhere = build_into(&two, &dir.path().join("layout2"), &[]);
    assert_eq!(first, again);
    assert_eq!(first, elsewhere);
    // No trace of where it was built in the image config.
    let manifest = manifest_for(&layout, "test");
    let config = fs::read_to_string(blob(
        &layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    assert!(
        !config.contains(&dir.path().display().to_string()),
        "{config}"
    );
}

#[test]
fn the_verified_musl_binary_is_static() {
    if !require("rust-musl") {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let ran = static_image(args!["--json", "build", project.display()])
        .run()
        .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    let exe = outcome["verify"]["path"].as_str().unwrap().to_string();
    assert!(
        exe.ends_with("target/x86_64-unknown-linux-musl/release/rust-hello"),
        "{exe}"
    );
    assert_eq!(outcome["verify"]["ok"], true);
    // Default output: a layout under cargo's target dir, tagged latest.
    let layout = project.join("target/static-image/rust-hello");
    assert_eq!(
        outcome["outputs"][0]["output"],
        format!("oci:{}:latest", layout.display())
    );
    assert_eq!(outcome["outputs"][0]["digest"], outcome["image"]["digest"]);
    let ran = static_image(["verify", &exe]).run().ok();
    assert!(ran.stdout.contains(": static-pie, ok\n"), "{}", ran.stdout);
    assert!(ran.stdout.contains("libc:        musl\n"), "{}", ran.stdout);
}

#[test]
fn several_bins_need_bin_and_the_error_lists_them() {
    if !require("rust-musl") {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    fs::create_dir_all(project.join("src/bin")).unwrap();
    fs::write(
        project.join("src/bin/helper.rs"),
        "fn main() { println!(\"helper\"); }\n",
    )
    .unwrap();
    let ran = static_image(args!["build", project.display()])
        .run()
        .code(1);
    assert!(
        ran.stderr
            .contains("has several binary targets: `rust-hello`, `helper`")
            || ran
                .stderr
                .contains("has several binary targets: `helper`, `rust-hello`"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("help: pick one with `--bin NAME`"),
        "{}",
        ran.stderr
    );
    let ran = static_image(args!["build", project.display(), "--bin", "nope",])
        .run()
        .code(1);
    assert!(
        ran.stderr.contains("no binary target `nope`"),
        "{}",
        ran.stderr
    );
    let layout = dir.path().join("layout");
    build_into(&project, &layout, &["--bin", "helper"]);
    let config = read_json(&blob(
        &layout,
        manifest_for(&layout, "test")["config"]["digest"]
            .as_str()
            .unwrap(),
    ));
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/app/helper"])
    );
}

#[test]
fn cargo_subcommand_does_what_build_does() {
    if !require("rust-musl") {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let direct = build_into(&project, &dir.path().join("a"), &[]);
    // cargo runs `cargo-static-image static-image ARGS…` for `cargo static-image ARGS…`.
    let shim = env!("CARGO_BIN_EXE_cargo-static-image");
    let out = Command::new(shim)
        .args(["static-image", "--color=never", "--output"])
        .arg(format!("oci:{}:test", dir.path().join("b").display()))
        .current_dir(&project)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.trim_end().ends_with(&direct), "{stdout}");
}

#[test]
fn arguments_after_double_dash_reach_cargo_and_offline_builds() {
    if !require("rust-musl") {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let ran = static_image(args![
        "build",
        project.display(),
        "--offline",
        "--",
        "--no-such-flag",
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr.contains("unexpected argument '--no-such-flag'"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("error: cargo build failed: exited with status"),
        "{}",
        ran.stderr
    );
    // Ours first (`--offline`, the remap of CARGO_HOME), then the user's, last.
    let command = ran
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("command:"))
        .unwrap_or_default();
    assert!(command.contains(" --offline "), "{command}");
    assert!(command.ends_with(" --no-such-flag`"), "{command}");
    // With nothing to fetch, an offline build succeeds.
    build_into(&project, &dir.path().join("layout"), &["--offline"]);
}

#[test]
fn arm64_build_is_verified_for_arm64_and_runs_under_qemu() {
    if !require("rust-aarch64-musl") || !require("skopeo") {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    build_into(&project, &layout, &["--platform", "linux/arm64"]);
    let inspect = skopeo_inspect(&format!("oci:{}:test", layout.display()), true);
    assert_eq!(inspect["architecture"], "arm64");
    assert_eq!(inspect["variant"], "v8");
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "arm64");

    let exe = project.join("target/aarch64-unknown-linux-musl/release/rust-hello");
    let ran = static_image(args!["verify", "--platform", "linux/arm64", exe.display(),])
        .run()
        .ok();
    assert!(
        ran.stdout
            .contains("machine:     aarch64, 64-bit (linux/arm64)"),
        "{}",
        ran.stdout
    );
    // Checked against the wrong platform it fails, saying why.
    let ran = static_image(args!["verify", "--platform", "linux/amd64", exe.display(),])
        .run()
        .code(1);
    assert!(ran.stdout.contains(", WRONG PLATFORM\n"), "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("problem:     built for aarch64, 64-bit, not for linux/amd64"),
        "{}",
        ran.stdout
    );
    // package checks the platform too, and refuses with the verify report as the reason.
    let ran = static_image(args!["package", exe.display(), "--platform", "linux/amd64",])
        .cwd(dir.path())
        .run()
        .code(1);
    assert!(
        ran.stderr.contains("refusing to package: `")
            && ran.stderr.contains("` does not fit: built for aarch64"),
        "{}",
        ran.stderr
    );
    assert!(!dir.path().join("target").exists());
    if require("qemu-aarch64-static") {
        let out = Command::new("qemu-aarch64-static")
            .arg(&exe)
            .arg("hi")
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("args: hi"),
            "{out:?}"
        );
    }
}

#[test]
fn plan_prints_the_build_without_running_it() {
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let ran = static_image(args![
        "plan",
        "--json",
        project.display(),
        "--platform",
        "linux/arm64",
    ])
    .run()
    .ok();
    let plans: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(plans.as_array().map(Vec::len), Some(1), "{plans}");
    let plan = &plans[0];
    assert_eq!(plan["platform"], "linux/arm64");
    assert_eq!(plan["language"], "rust");
    let step = &plan["steps"][0];
    let args: Vec<&str> = step["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        &args[..6],
        [
            "build",
            "--release",
            "--target",
            "aarch64-unknown-linux-musl",
            "--bin",
            "rust-hello"
        ]
    );
    // Whichever cross strategy this machine allows, rust-lld links.
    assert_eq!(
        step["env"]["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER"],
        "rust-lld"
    );
    assert_eq!(
        plan["artifact"]["expected"],
        project
            .join("target/aarch64-unknown-linux-musl/release/rust-hello")
            .display()
            .to_string()
    );
    assert!(
        !project.join("target/aarch64-unknown-linux-musl").exists(),
        "plan must not build"
    );
}

#[test]
fn a_directory_without_a_project_says_what_to_do() {
    let dir = tempdir();
    fs::write(dir.path().join("notes.txt"), "not code").unwrap();
    let ran = static_image(args!["build", dir.path().display()])
        .run()
        .code(1);
    let root = dir.path().canonicalize().unwrap();
    assert!(
        ran.stderr.starts_with(&format!(
            "error: no project in `{}`: found no `Cargo.toml`, `go.mod`",
            root.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("`static-image package BIN`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn an_output_in_the_way_is_refused_before_compiling() {
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let taken = dir.path().join("taken");
    fs::write(&taken, "not a layout").unwrap();
    let spec = format!("oci:{}", taken.display());
    let ran = static_image(args!["build", project.display(), "-o", spec,])
        .run()
        .code(1);
    assert!(
        ran.stderr.starts_with(&format!(
            "error: `{}` exists and is not an OCI image layout (it is a file)",
            taken.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(!project.join("target").exists(), "cargo must not have run");
    assert_eq!(fs::read_to_string(&taken).unwrap(), "not a layout");
}

/// The second build starts cargo from the first build's answers: while nothing they depend on
/// has changed they are trusted (cargo metadata and rustc are not asked again); when
/// Cargo.toml or the files that make targets change, they are asked again, and a cargo started
/// on the old answers is set aside if the new plan differs.
#[test]
fn a_rebuild_starts_cargo_early_only_while_the_plan_holds() {
    if !require("rust-musl") {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    let build = |verbose: bool| {
        let mut args = vec![
            "build".to_string(),
            project.display().to_string(),
            "--output".into(),
            format!("oci:{}:test", layout.display()),
        ];
        if verbose {
            args.push("-v".into());
        }
        static_image(&args).run().ok()
    };
    let first = build(false);
    let again = build(true);
    assert!(
        again
            .stderr
            .contains("started ahead from the last build's answers"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("not asking again"),
        "{}",
        again.stderr
    );
    assert!(
        !again.stderr.contains("+ cargo metadata"),
        "{}",
        again.stderr
    );
    assert_eq!(first.digest(), again.digest());

    // Rename the binary: the remembered `--bin rust-hello` no longer fits.
    let manifest = project.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replace(
            "[workspace]",
            "[[bin]]\nname = \"renamed\"\npath = \"src/main.rs\"\n\n[workspace]",
        ),
    )
    .unwrap();
    let renamed = build(true);
    assert!(
        renamed.stderr.contains("no longer hold"),
        "{}",
        renamed.stderr
    );
    assert!(!renamed.stderr.contains("not asking again"));
    assert!(
        renamed.stderr.contains("cargo metadata"),
        "{}",
        renamed.stderr
    );
    let config = skopeo_inspect(&format!("oci:{}:test", layout.display()), true);
    assert_eq!(config["config"]["Entrypoint"][0], "/app/renamed");
    // And the answers learnt now serve the next build.
    let third = build(true);
    assert!(third.stderr.contains("started ahead"), "{}", third.stderr);
    assert!(
        third.stderr.contains("not asking again"),
        "{}",
        third.stderr
    );
    assert_eq!(third.digest(), renamed.digest());

    // A new file in src/bin is a new target: the answers are asked for again, and the
    // project now has two binaries to choose from.
    fs::create_dir_all(project.join("src/bin")).unwrap();
    fs::write(project.join("src/bin/extra.rs"), "fn main() {}\n").unwrap();
    let mut args = args![
        "-v",
        "build",
        project.display(),
        "--output",
        format!("oci:{}:test", layout.display()),
    ];
    let two = static_image(&args).run().code(1);
    assert!(
        two.stderr.contains("several binary targets"),
        "{}",
        two.stderr
    );
    args.extend(["--bin".to_string(), "extra".to_string()]);
    let extra = static_image(&args).run().ok();
    assert!(
        !extra.stderr.contains("not asking again"),
        "{}",
        extra.stderr
    );
    let config = skopeo_inspect(&format!("oci:{}:test", layout.display()), true);
    assert_eq!(config["config"]["Entrypoint"][0], "/app/extra");
}
