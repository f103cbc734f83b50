//! What scanners see inside the images: syft and Trivy (the build cdxgen ships) list the Go
//! modules of a Go image, the crates of a Rust image (with and without cargo-auditable) and
//! the musl release of a C image, from the image alone, offline. Trivy reads the CycloneDX 1.5
//! copy of the SBOM (`/usr/share/sbom/cyclonedx-1.5/<name>.cdx.json`), whichever format the
//! document is in; syft the document as well.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// The package URLs Trivy lists for `input` (a docker-archive, or an OCI layout directory,
/// `DIR[@DIGEST]`), read offline with no vulnerability database.
fn trivy_purls(input: &str, cache: &Path) -> BTreeSet<String> {
    let out = Command::new(trivy())
        .args(["image", "--input", input, "--format", "cyclonedx"])
        .args(["--offline-scan", "--skip-db-update", "--cache-dir"])
        .arg(cache)
        .output()
        .expect("trivy runs");
    assert!(
        out.status.success(),
        "trivy on {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bom: Value = serde_json::from_slice(&out.stdout).expect("trivy prints CycloneDX");
    bom["components"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["purl"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The package URLs syft (its SBOM cataloger added) lists for `spec` (`docker-archive:FILE`,
/// `oci-archive:FILE`).
fn syft_purls(spec: &str) -> BTreeSet<String> {
    syft_scan(spec)
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["purl"].as_str().map(str::to_string))
        .collect()
}

/// A docker-archive, an OCI layout and an oci-archive of the image under `dir`, as flags.
fn outputs(dir: &Path) -> Vec<String> {
    vec![
        format!("-o=docker-archive:{}", dir.join("image.tar").display()),
        format!("-o=oci:{}:v1", dir.join("layout").display()),
        format!("-o=oci-archive:{}", dir.join("image-oci.tar").display()),
    ]
}

/// Asserts that both scanners list every one of `wanted` in both forms of the image, and
/// none of `unwanted`.
fn assert_seen(dir: &Path, wanted: &[String], unwanted: &[&str]) {
    let (archive, layout) = (dir.join("image.tar"), dir.join("layout"));
    let cache = dir.join("trivy-cache");
    let seen = [
        (
            "trivy docker-archive",
            trivy_purls(archive.to_str().unwrap(), &cache),
        ),
        (
            "trivy oci layout",
            trivy_purls(layout.to_str().unwrap(), &cache),
        ),
        (
            "syft docker-archive",
            syft_purls(&format!("docker-archive:{}", archive.display())),
        ),
        // syft's `oci-dir:` takes a layout of one manifest, and ours lists the SBOM's too.
        (
            "syft oci-archive",
            syft_purls(&format!(
                "oci-archive:{}",
                dir.join("image-oci.tar").display()
            )),
        ),
    ];
    for (who, purls) in &seen {
        for purl in wanted {
            assert!(purls.contains(purl), "{who} misses {purl}: {purls:?}");
        }
        for name in unwanted {
            assert!(
                !purls.iter().any(|p| p.contains(name)),
                "{who} lists {name}: {purls:?}"
            );
        }
    }
}

#[test]
fn scanners_list_the_go_modules_and_standard_library_of_a_go_image() {
    if !require(&["go", "trivy", "syft"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("go-vendor", &dir.path().join("src"));
    let mut words = args!["build", project.display()];
    words.extend(outputs(dir.path()));
    with_go(words).run().ok();
    let version = tool(
        go_program().unwrap().to_str().unwrap(),
        &["env", "GOVERSION"],
    );
    let version = version.trim().trim_start_matches("go");
    assert_seen(
        dir.path(),
        &[
            "pkg:golang/example.com/greeting@v1.0.0".to_string(),
            format!("pkg:golang/stdlib@{version}"),
        ],
        &[],
    );
}

#[test]
fn scanners_list_the_crates_of_a_rust_image_built_with_and_without_cargo_auditable() {
    if !require(&["rust-musl", "trivy", "syft", "cargo-auditable"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-cdep", &dir.path().join("src"));
    let lock: toml::Table =
        toml::from_str(&fs::read_to_string(project.join("Cargo.lock")).unwrap()).unwrap();
    let locked = |name: &str| {
        lock["package"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["version"].as_str())
            .unwrap_or_else(|| panic!("{name} is locked"))
            .to_string()
    };
    let crates: Vec<String> = ["itoa", "smallvec"]
        .iter()
        .map(|c| format!("pkg:cargo/{c}@{}", locked(c)))
        .collect();

    // Built by the tool: the crates come from Cargo's resolution, not from the binary.
    let built = dir.path().join("built");
    let mut words = args!["build", project.display(), "--platform", "linux/amd64"];
    words.extend(outputs(&built));
    static_image(words).run().ok();
    // cc is a build dependency; ryu is linked into arm64 binaries only.
    assert_seen(&built, &crates, &["pkg:cargo/cc@", "pkg:cargo/ryu@"]);

    // A binary built by cargo-auditable, packaged alone: the crates come from its record.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["auditable", "build", "--release", "-q"])
        .args(["--target", "x86_64-unknown-linux-musl", "--target-dir"])
        .arg(dir.path().join("auditable"))
        .current_dir(&project)
        .status()
        .unwrap();
    assert!(status.success());
    let audited = dir
        .path()
        .join("auditable/x86_64-unknown-linux-musl/release/rust-cdep");
    let packaged = dir.path().join("packaged");
    let mut words = args!["package", audited.display()];
    words.extend(outputs(&packaged));
    static_image(words).run().ok();
    assert_seen(&packaged, &crates, &["pkg:cargo/cc@"]);
}

/// In an image whose SBOM is SPDX, and in one whose SBOM is CycloneDX.
#[test]
fn scanners_list_the_musl_release_of_a_c_image() {
    if !require(&["trivy", "syft", "python3"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("c-make", &dir.path().join("src"));
    let mut words = args!["build", project.display()];
    words.extend(outputs(dir.path()));
    static_image(words).run().ok();
    // The release the tool's own SBOM names (read from zig's sources).
    let ran = static_image(args![
        "sbom",
        format!("oci:{}:v1", dir.path().join("layout").display())
    ])
    .run()
    .ok();
    let document: Value = serde_json::from_str(&ran.stdout).unwrap();
    let musl = document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "musl")
        .expect("the SBOM names musl");
    let version = musl["versionInfo"]
        .as_str()
        .expect("musl's release is known");
    assert!(
        version.split('.').all(|n| n.parse::<u32>().is_ok()),
        "{version}"
    );
    let musl = [format!("pkg:generic/musl@{version}")];
    assert_seen(dir.path(), &musl, &[]);
    // With the document in CycloneDX 1.6, which this Trivy refuses, it reads the 1.5 copy.
    let cdx = dir.path().join("cdx");
    let mut words = args!["build", project.display(), "--sbom-format", "cyclonedx"];
    words.extend(outputs(&cdx));
    static_image(words).run().ok();
    assert_seen(&cdx, &musl, &[]);
}

#[test]
fn trivy_reads_an_oci_archive_once_unpacked_as_the_layout_it_holds() {
    if !require(&["musl-gcc", "trivy"]) {
        return;
    }
    let dir = tempdir();
    let app = musl_app(dir.path(), "hi");
    let archive = dir.path().join("app.tar");
    package_run(
        &app,
        &format!("oci-archive:{}", archive.display()),
        &dir.path().join("cache"),
        &["--sbom-package", "zlib@1.3.1"],
    )
    .run()
    .ok();
    // This Trivy takes an OCI layout as a directory; an OCI tar (ours or skopeo's alike) it
    // cannot open, and it exits 1 without a word. Unpacked, the archive is that directory.
    let unpacked = dir.path().join("unpacked");
    fs::create_dir_all(&unpacked).unwrap();
    tool(
        "tar",
        &[
            "-xf",
            archive.to_str().unwrap(),
            "-C",
            unpacked.to_str().unwrap(),
        ],
    );
    let purls = trivy_purls(unpacked.to_str().unwrap(), &dir.path().join("cache-trivy"));
    assert!(purls.contains("pkg:generic/zlib@1.3.1"), "{purls:?}");
}

/// The Debian packages of a `--closure` image, as the host's dpkg database names them: syft
/// lists each from the SBOM in the image, and Trivy (which keeps Debian packages only from a
/// dpkg database, and only when it can tell the distribution) from the paragraphs in
/// `/var/lib/dpkg/status.d` and the `/etc/debian_version` the image carries for it.
#[test]
fn syft_and_trivy_list_the_debian_packages_of_a_closure_image() {
    if !require(&["curl", "dpkg-query", "syft", "trivy"]) {
        return;
    }
    let dir = tempdir();
    let (archive, layout) = (dir.path().join("curl.tar"), dir.path().join("layout"));
    let ran = static_image(args![
        "--json",
        "package",
        "--closure",
        "/usr/bin/curl",
        "-o",
        format!("docker-archive:{}", archive.display()),
        "-o",
        format!("oci:{}:v1", layout.display()),
    ])
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    let reported: Vec<&str> = outcome["closure"]["packages"]
        .as_array()
        .expect("the outcome lists the closure's packages")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let cache = dir.path().join("trivy-cache");
    let seen = [
        (
            "syft docker-archive",
            syft_purls(&format!("docker-archive:{}", archive.display())),
        ),
        (
            "trivy docker-archive",
            trivy_purls(archive.to_str().unwrap(), &cache),
        ),
        (
            "trivy oci layout",
            trivy_purls(layout.to_str().unwrap(), &cache),
        ),
    ];
    let arch = tool("dpkg", &["--print-architecture"]);
    for package in ["libcurl4", "libc6", "libssl3"] {
        let version = tool("dpkg-query", &["-W", "-f", "${Version}", package]);
        // As in a package URL, `+` percent-encoded (Trivy leaves it, and adds `&distro=`).
        let version = version.trim().replace('+', "%2B");
        let purl = format!("pkg:deb/debian/{package}@{version}?arch={}", arch.trim());
        assert!(reported.contains(&purl.as_str()), "{purl}: {reported:?}");
        for (who, purls) in &seen {
            assert!(
                purls.iter().any(|p| p.replace('+', "%2B") == purl
                    || p.replace('+', "%2B").starts_with(&format!("{purl}&"))),
                "{who} misses {purl}: {purls:?}"
            );
        }
    }
}
