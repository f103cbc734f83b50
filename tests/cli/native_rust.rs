//! `static-image build` of Rust projects whose crates build C: AWS-LC (rustls' default crypto)
//! for amd64 and for arm64 through zig, each run where it can (runc for amd64 from the image's
//! own rootfs, qemu for arm64).
//!
//! These builds compile large C libraries, so every test here shares one cargo target folder
//! (under cargo's per-test-target temporary folder, kept between runs): a crate built for one
//! test is not built again for the next, and cargo's lock on the folder keeps parallel tests
//! from building over each other. Each test prints its wall time per platform.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;

use crate::support::*;

/// Held by each test of this file while it builds: cargo would serialise the builds on the
/// shared folder's lock anyway, and waiting here keeps that wait out of the printed times.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The cargo target folder every test of this file builds in.
fn shared_target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("native-rust-target")
}

/// `build PROJECT --platform PLATFORM -o oci:LAYOUT:TAG --json`, in the shared target folder;
/// returns the outcome and cargo's stderr.
fn build_for(project: &Path, platform: &str, layout: &Path, tag: &str) -> (Value, String) {
    let started = Instant::now();
    let ran = static_image(args![
        "--json",
        "build",
        project.display(),
        "--platform",
        platform,
        "-o",
        format!("oci:{}:{tag}", layout.display()),
    ])
    .env("CARGO_TARGET_DIR", shared_target_dir())
    .run()
    .ok();
    let name = project.file_name().unwrap_or_default().to_string_lossy();
    eprintln!("{name} for {platform}: built in {:.1?}", started.elapsed());
    (serde_json::from_str(&ran.stdout).unwrap(), ran.stderr)
}

/// Builds `fixture` for amd64 and arm64, checks each binary is static for its platform, runs it
/// and returns what each run printed, amd64 first.
fn builds_and_runs_on_both_platforms(fixture: &str, dir: &Path) -> Vec<String> {
    let project = copy_fixture(fixture, &dir.join(fixture));
    let layout = dir.join("layout");
    let mut printed = Vec::new();
    for (platform, tag) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let (outcome, _) = build_for(&project, platform, &layout, tag);
        let verify = &outcome["verify"];
        assert_eq!(verify["ok"], true, "{verify}");
        // musl-gcc links static-pie; rust-lld plain static: both are one self-contained file.
        let linkage = verify["linkage"].as_str().unwrap_or_default();
        assert!(linkage == "static" || linkage == "static-pie", "{verify}");
        assert_eq!(verify["machine"]["platform"], platform, "{verify}");
        let exe = verify["path"].as_str().expect("path").to_string();
        if tag == "arm64" {
            if require_for(&["qemu-aarch64-static"], "running the arm64 binary") {
                let out = Command::new("qemu-aarch64-static")
                    .arg(&exe)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
                printed.push(String::from_utf8_lossy(&out.stdout).into_owned());
            }
        } else if require_for(&["root", "runc", "umoci"], "running the amd64 image") {
            let (code, out) = run_in_runc(&layout, tag, &dir.join("run"));
            assert_eq!(code, 0, "{out}");
            printed.push(out);
        }
    }
    printed
}

#[test]
fn aws_lc_builds_for_amd64_and_for_arm64_through_zig_and_runs() {
    if !require(&["rust-musl", "rust-aarch64-musl", "python3"]) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempdir();
    // SHA-256 of "static", computed by AWS-LC's C inside the binary.
    let expected = "sha256: 2053dbbf6ec7135c4e994d3464c478db6f48d3ca21052c8f44915edc96e02c39";
    for out in builds_and_runs_on_both_platforms("rust-awslc", dir.path()) {
        assert!(out.contains(expected), "{out}");
    }
    // Built again with nothing changed: the C compiler's wrapper keeps its path, so cargo
    // does not rebuild AWS-LC.
    let project = dir.path().join("rust-awslc");
    let (_, stderr) = build_for(&project, "linux/arm64", &dir.path().join("again"), "arm64");
    assert!(!stderr.contains("Compiling aws-lc-sys"), "{stderr}");
    // The SBOM names AWS-LC by its own release, next to the crate that carries it.
    let sbom = static_image(args![
        "sbom",
        layout_spec(&dir.path().join("layout"), "arm64")
    ])
    .run()
    .ok();
    let doc: Value = serde_json::from_str(&sbom.stdout).unwrap();
    let aws_lc = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "AWS-LC")
        .unwrap_or_else(|| panic!("no AWS-LC in {doc}"));
    let version = aws_lc["versionInfo"].as_str().unwrap_or_default();
    assert!(version.split('.').count() == 3, "{aws_lc}");
}

#[test]
fn ring_sqlite_zstd_and_a_cc_build_script_build_for_both_platforms_and_the_sbom_names_the_c() {
    if !require(&["rust-musl", "rust-aarch64-musl", "python3"]) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempdir();
    let printed = builds_and_runs_on_both_platforms("rust-csys", dir.path());
    for out in &printed {
        assert!(out.contains("sqlite: 3."), "{out}");
        assert!(out.contains("zstd: static static static static"), "{out}");
        assert!(
            out.contains(
                "ring sha256: 2053dbbf6ec7135c4e994d3464c478db6f48d3ca21052c8f44915edc96e02c39"
            ),
            "{out}"
        );
        assert!(out.contains("cc: 42"), "{out}");
    }
    // The SBOM names the C libraries the crates compiled, by their own releases: SQLite's as
    // the binary reports it, zstd's from zstd-sys's version.
    let sqlite = printed
        .iter()
        .find_map(|o| o.lines().find_map(|l| l.strip_prefix("sqlite: ")))
        .map(str::trim);
    let layout = dir.path().join("layout");
    let sbom = static_image(args!["sbom", layout_spec(&layout, "arm64")])
        .run()
        .ok();
    let doc: Value = serde_json::from_str(&sbom.stdout).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    // By package URL: the crate `zstd` and the C library zstd share a name.
    let version_of = |purl: &str| {
        packages
            .iter()
            .find(|p| {
                p["externalRefs"].as_array().is_some_and(|refs| {
                    refs.iter().any(|r| {
                        r["referenceLocator"]
                            .as_str()
                            .is_some_and(|l| l.starts_with(&format!("{purl}@")))
                    })
                })
            })
            .and_then(|p| p["versionInfo"].as_str())
            .unwrap_or_else(|| panic!("no {purl} in {doc}"))
            .to_string()
    };
    if let Some(sqlite) = sqlite {
        assert_eq!(version_of("pkg:generic/sqlite"), sqlite);
    }
    assert_eq!(version_of("pkg:generic/zstd"), "1.5.7");
    assert_eq!(version_of("pkg:cargo/zstd"), "0.13.5");
    assert_eq!(version_of("pkg:cargo/libsqlite3-sys"), "0.30.1");
}

/// The version the SBOM of `layout:tag` gives the package named `name`.
fn sbom_version(layout: &Path, tag: &str, name: &str) -> String {
    let sbom = static_image(args!["sbom", layout_spec(layout, tag)])
        .run()
        .ok();
    let doc: Value = serde_json::from_str(&sbom.stdout).unwrap();
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["versionInfo"].as_str())
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
        .to_string()
}

#[test]
fn native_tls_without_vendored_gets_an_openssl_built_for_each_platform() {
    if !require(&["rust-musl", "rust-aarch64-musl", "python3", "perl", "make"]) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempdir();
    let printed = builds_and_runs_on_both_platforms("rust-nativetls", dir.path());
    let mut version = None;
    for out in &printed {
        // libcrypto's own version string, then a handshake through libssl.
        let first = out.lines().next().unwrap_or_default();
        assert!(first.starts_with("OpenSSL 3."), "{out}");
        version = first.split_whitespace().nth(1).map(str::to_string);
        assert!(out.contains("tls handshake ok, server said pong"), "{out}");
    }
    // The SBOM lists OpenSSL by the release the binary reports.
    if let Some(version) = version {
        let layout = dir.path().join("layout");
        for tag in ["amd64", "arm64"] {
            assert_eq!(sbom_version(&layout, tag, "OpenSSL"), version);
        }
    }
    // The build folder's path does not reach the binary (OpenSSL installs for /usr/local and
    // names its sources relatively).
    let project = dir.path().join("rust-nativetls");
    let (outcome, stderr) = build_for(&project, "linux/arm64", &dir.path().join("again"), "arm64");
    let exe = outcome["verify"]["path"]
        .as_str()
        .expect("path")
        .to_string();
    let bytes = std::fs::read(&exe).unwrap();
    let cache = shared_target_dir().join("static-image-cache");
    let cache = cache.to_string_lossy();
    assert!(
        !bytes.windows(cache.len()).any(|w| w == cache.as_bytes()),
        "{exe} names {cache}"
    );
    // Built again with nothing changed: neither OpenSSL nor openssl-sys is built again.
    assert!(!stderr.contains("Building OpenSSL"), "{stderr}");
    assert!(!stderr.contains("Compiling openssl-sys"), "{stderr}");
}

#[test]
fn openssl_that_cannot_be_fetched_names_the_crates_that_need_it_and_the_fixes() {
    if !require(&["rust-musl", "cargo"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-reqwest", &dir.path().join("rust-reqwest"));
    // A cargo home that has every crate the project locks, and so not openssl-src (which
    // only openssl-sys's `vendored` feature pulls in); kept between runs.
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cargo-home-without-openssl-src");
    let fetched = Command::new("cargo")
        .args(["fetch", "--manifest-path"])
        .arg(project.join("Cargo.toml"))
        .env("CARGO_HOME", &home)
        .output()
        .unwrap();
    assert!(fetched.status.success(), "{fetched:?}");
    let ran = static_image(args![
        "build",
        project.display(),
        "--platform",
        "linux/amd64",
        "-o",
        format!("oci:{}:t", dir.path().join("layout").display()),
    ])
    .env("CARGO_HOME", &home)
    .env("CARGO_NET_OFFLINE", "true")
    .env("CARGO_TARGET_DIR", dir.path().join("target"))
    .run()
    .code(1);
    let err = &ran.stderr;
    // Before cargo builds anything.
    assert!(!err.contains("Compiling"), "{err}");
    assert!(
        err.contains("`rust-reqwest` → `reqwest` → `native-tls` → `openssl-sys`"),
        "{err}"
    );
    assert!(err.contains("the crate `openssl-src`"), "{err}");
    assert!(
        err.contains(r#"`openssl-sys = { version = "0.9", features = ["vendored"] }`"#),
        "{err}"
    );
    assert!(
        err.contains(
            r#"`reqwest = { version = "0.12", default-features = false, features = ["rustls-tls"] }`"#
        ),
        "{err}"
    );
}

#[test]
fn a_cmake_build_script_gets_the_targets_c_and_cxx_compilers_and_archiver_for_arm64() {
    if !require(&[
        "rust-aarch64-musl",
        "python3",
        "cmake",
        "qemu-aarch64-static",
    ]) {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempdir();
    let project = copy_fixture("rust-cmake", &dir.path().join("rust-cmake"));
    let (outcome, _) = build_for(&project, "linux/arm64", &dir.path().join("layout"), "arm64");
    let verify = &outcome["verify"];
    assert_eq!(verify["ok"], true, "{verify}");
    let exe = verify["path"].as_str().expect("path");
    let out = Command::new("qemu-aarch64-static")
        .arg(exe)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "cmake: 42\n",
        "{out:?}"
    );
    // CMake took the compilers and the archiver from our toolchain file: the wrappers. It
    // records what it uses per language in `CMakeFiles/<version>/CMake<LANG>Compiler.cmake`.
    let builds = shared_target_dir().join("aarch64-unknown-linux-musl/release/build");
    let build = std::fs::read_dir(&builds)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("rust-cmake-"))
        .map(|e| e.path().join("out/build"))
        .filter(|p| p.join("CMakeCache.txt").is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("a CMake build folder");
    let mut recorded = String::new();
    for entry in std::fs::read_dir(build.join("CMakeFiles")).unwrap() {
        let dir = entry.unwrap().path();
        for lang in ["C", "CXX"] {
            let file = dir.join(format!("CMake{lang}Compiler.cmake"));
            recorded += &std::fs::read_to_string(file).unwrap_or_default();
        }
    }
    for (variable, wrapper) in [
        ("CMAKE_C_COMPILER", "/bin/cc"),
        ("CMAKE_CXX_COMPILER", "/bin/cxx"),
        ("CMAKE_AR", "/bin/ar"),
        ("CMAKE_RANLIB", "/bin/ranlib"),
    ] {
        let line = recorded
            .lines()
            .find(|l| l.starts_with(&format!("set({variable} ")))
            .unwrap_or_else(|| panic!("no {variable} in {recorded}"));
        assert!(
            line.contains("static-image-build/arm64/cc-")
                && line.ends_with(&format!("{wrapper}\")")),
            "{line}"
        );
    }
}
