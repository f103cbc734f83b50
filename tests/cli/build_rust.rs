//! `static-image build` (and `cargo static-image`) of Rust projects: a real cargo build of the
//! fixture for the musl target, the image run by runc from its own rootfs, `--bin` among
//! several binaries, arguments after `--` reaching cargo, and an arm64 build verified for
//! arm64 and run under qemu.

use std::fs;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

#[test]
fn built_image_runs_in_runc_as_nonroot_and_reads_the_ca_bundle() {
    if !require(&["rust-musl", "umoci", "runc", "root", "skopeo"]) {
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
fn the_verified_musl_binary_is_static() {
    if !require(&["rust-musl"]) {
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
    if !require(&["rust-musl"]) {
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
    assert_output(
        &ran.stderr,
        "error: no binary target `nope` in `[TMP]/src/Cargo.toml`; it has: `helper`, `rust-hello`",
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
    if !require(&["rust-musl"]) {
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
    if !require(&["rust-musl"]) {
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
    if !require(&["rust-aarch64-musl", "skopeo"]) {
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
    if require_for(&["qemu-aarch64-static"], "running the arm64 binary") {
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
