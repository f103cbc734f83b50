//! `static-image build` of Go modules: vendored builds with no network, a module missing
//! offline, main-package selection, and cgo linked statically by zig. (The Go HTTPS client
//! that trusts the bundle its image ships is in `tls.rs`.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

#[test]
fn vendored_module_builds_with_the_network_unreachable() {
    if !require(&["go", "root", "unshare"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("go-vendor", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    // A fresh network namespace has only a downed loopback: nothing can be reached.
    let path = path_with_go();
    let out = Command::new("unshare")
        .args(["--net", "--"])
        .arg(bin())
        .args(["--color=never", "-v", "build"])
        .arg(&project)
        .args(["--offline", "-o", &layout_spec(&layout, "v")])
        .env("PATH", path)
        .env("GOFLAGS", "")
        .env("GOMODCACHE", dir.path().join("empty-modcache"))
        .output()
        .expect("unshare runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("-mod=vendor"), "{stderr}");
    assert!(stderr.contains("GOPROXY=off"), "{stderr}");
    let exe = project.join("target/static-image-build/amd64/greeter");
    let ran = Command::new(&exe).output().expect("runs");
    assert!(
        String::from_utf8_lossy(&ran.stdout).contains("greeting"),
        "{ran:?}"
    );
}

#[test]
fn a_module_missing_offline_fails_and_says_so() {
    if !require(&["go"]) {
        return;
    }
    let dir = tempdir();
    let project = dir.path().join("needs-dep");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("go.mod"),
        "module example.com/needs\n\ngo 1.22\n\nrequire example.com/absent v1.0.0\n",
    )
    .unwrap();
    fs::write(
        project.join("main.go"),
        "package main\n\nimport \"example.com/absent\"\n\nfunc main() { absent.Run() }\n",
    )
    .unwrap();
    let ran = with_go(args!["build", project.display(), "--offline"])
        .env("GOMODCACHE", dir.path().join("empty-modcache"))
        .run()
        .code(1);
    assert_output(
        error_part(&ran.stderr),
        r#"error: go build failed: exited with status 1
  command: `CGO_ENABLED=0 GOARCH=amd64 GOOS=linux GOPROXY=off GOTOOLCHAIN=local go build -trimpath '-ldflags=-s -w -buildid=' -o [TMP]/needs-dep/target/static-image-build/amd64/needs .`
  where it went wrong:
  | main.go:3:8: missing go.sum entry for module providing package example.com/absent (imported by example.com/needs); to add:
help: a Go module is missing and may not be downloaded here: vendor the dependencies (`go mod vendor`) on a connected machine and commit `vendor/`, or fill the module cache there (`go mod download`) and bring it along"#,
    );
    assert!(!project.join("target/static-image").exists());
}

#[test]
fn several_main_packages_need_package_and_the_error_lists_them() {
    if !require(&["go"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("go-multi", &dir.path().join("src"));
    let ran = with_go(args!["build", project.display()]).run().code(1);
    assert_output(
        &ran.stderr,
        r#"error: `[TMP]/src` has several main packages: `./cmd/client`, `./cmd/server`
help: pick one with `--package`, e.g. `--package ./cmd/client`"#,
    );
    let layout = dir.path().join("layout");
    let ran = with_go(args![
        "build",
        project.display(),
        "--package",
        "./cmd/server",
        "-o",
        layout_spec(&layout, "s"),
    ])
    .run()
    .ok();
    assert!(
        ran.stderr.contains("`server` for linux/amd64"),
        "{}",
        ran.stderr
    );
    let inspect = skopeo_inspect(&layout_spec(&layout, "s"), true);
    assert_eq!(inspect["config"]["Entrypoint"][0], "/app/server");
}

/// Builds the cgo fixture for `platform` (without `--cgo` for amd64: the tool finds out) and
/// returns the binary.
fn build_cgo(
    project: &Path,
    platform: &str,
    flag: Option<&str>,
    layout: &Path,
) -> (PathBuf, String) {
    let mut words = args!["build", project.display(), "--platform", platform];
    words.extend(flag.map(str::to_string));
    words.extend(args![
        "-o",
        layout_spec(layout, &platform.replace('/', "-"))
    ]);
    let ran = with_go(words).run().ok();
    let arch = platform.rsplit('/').next().expect("arch");
    (
        project
            .join("target/static-image-build")
            .join(arch)
            .join("go-cgo"),
        ran.stderr,
    )
}

#[test]
fn cgo_is_linked_statically_with_zig_for_both_platforms() {
    if !require(&["go", "python3"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("go-cgo", &dir.path().join("src"));
    let layout = dir.path().join("layout");

    let (exe, stderr) = build_cgo(&project, "linux/amd64", None, &layout);
    assert!(stderr.contains("needs cgo"), "{stderr}");
    assert!(stderr.contains("Go `cgo-"), "{stderr}");
    let ran = static_image(args!["verify", "--json", exe.display()])
        .run()
        .ok();
    let report: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(report[0]["linkage"], "static", "{report}");
    let out = Command::new(&exe).output().expect("runs");
    assert!(out.status.success(), "{out:?}");
    // The SBOM names the musl zig linked, with its release, though the plan that found out
    // about cgo had no C compiler.
    let sbom = static_image(args!["sbom", layout_spec(&layout, "linux-amd64")])
        .run()
        .ok();
    let doc: serde_json::Value = serde_json::from_str(&sbom.stdout).unwrap();
    let musl = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "musl")
        .unwrap_or_else(|| panic!("no musl in {doc}"));
    let version = musl["versionInfo"].as_str().expect("musl's release");
    assert!(version.starts_with("1."), "{version}");

    let (exe, stderr) = build_cgo(&project, "linux/arm64", Some("--cgo"), &layout);
    assert!(stderr.contains("Go `cgo-zig`"), "{stderr}");
    static_image(args!["verify", "--platform", "linux/arm64", exe.display()])
        .run()
        .ok();
    if require_for(&["qemu-aarch64-static"], "running the arm64 binary") {
        let out = Command::new("qemu-aarch64-static")
            .arg(&exe)
            .output()
            .expect("qemu runs");
        assert!(out.status.success(), "{out:?}");
        assert!(!out.stdout.is_empty(), "{out:?}");
    }
}
