//! `static-image plan` and project detection: what `build` would run, printed without running
//! it, and the message when a folder holds no project.

use std::fs;

use serde_json::Value;

use crate::support::*;

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
    assert_output(
        &ran.stderr,
        r#"error: no project in `[TMP]`: found no `Cargo.toml`, `go.mod`, `CMakeLists.txt`, `configure`, `Makefile` or `*.c`
help: point at a project directory, or package a binary built another way with `static-image package BIN`"#,
    );
}
