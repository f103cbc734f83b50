//! `--debug-variant`: beside the production image, a `<tag>-debug` one with Debian's static
//! busybox in /busybox. The production image is the same to the byte; the variant runs a
//! shell in runc over the production files; the verifier's shell check tells them apart.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::support::*;

// Refusals, other outputs and the settings file.
mod settings;

/// The host's busybox (Debian's `busybox-static`), as the tool finds it.
fn host_busybox() -> std::path::PathBuf {
    which::which("busybox").expect("busybox on PATH")
}

/// `busybox --list` of the host's busybox: the applets the variant must link.
fn host_applets() -> BTreeSet<String> {
    let listed = tool(host_busybox().to_str().unwrap(), &["--list"]);
    listed.lines().map(str::to_string).collect()
}

/// The installed version of Debian's `busybox-static`, from dpkg.
fn busybox_version() -> String {
    tool("dpkg-query", &["-W", "-f", "${Version}", "busybox-static"])
}

/// `1:1.35.0-4+deb12u1` as a purl writes it.
fn purl_version(version: &str) -> String {
    version.replace(':', "%3A").replace('+', "%2B")
}

/// The top layer of `layout:tag`: (path, kind, mode, link target, data) of each entry.
fn top_layer(layout: &Path, tag: &str) -> Vec<(String, tar::EntryType, u32, String, Vec<u8>)> {
    let manifest = manifest_for(layout, tag);
    let top = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let gz = flate2::read::GzDecoder::new(fs::File::open(blob(layout, &top)).unwrap());
    let mut archive = tar::Archive::new(gz);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            let header = e.header().clone();
            (
                String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                header.entry_type(),
                header.mode().unwrap(),
                header
                    .link_name()
                    .unwrap()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default(),
                data,
            )
        })
        .collect()
}

/// The SBOM referrer document of the manifest `subject` in `layout`.
fn referred_sbom(layout: &Path, subject: &str) -> Value {
    let index = read_json(&layout.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["artifactType"] == "application/spdx+json")
        .map(|d| read_json(&blob(layout, d["digest"].as_str().unwrap())))
        .find(|m| m["subject"]["digest"] == subject)
        .unwrap_or_else(|| panic!("no SBOM refers to {subject}"));
    read_json(&blob(
        layout,
        entry["layers"][0]["digest"].as_str().unwrap(),
    ))
}

/// Every purl an SPDX document lists.
fn purls(document: &Value) -> Vec<String> {
    document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["referenceLocator"].as_str().map(str::to_string))
        .collect()
}

/// The SHA-256 of `bytes`, hex.
fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sha256(path: &Path) -> String {
    hex_sha256(&fs::read(path).unwrap())
}

#[test]
fn the_debug_variant_is_the_production_image_plus_a_shell_that_sees_its_files() {
    if !require(&["musl-gcc", "skopeo", "busybox", "dpkg-query"]) {
        return;
    }
    let dir = tempdir();
    let app = musl_app(dir.path(), "hello from the app");
    let outputs = |root: &Path| {
        vec![
            format!("-o=oci:{}", root.join("layout").display()),
            format!("-o=oci-archive:{}", root.join("app.tar").display()),
            format!("-o=docker-archive:{}", root.join("docker.tar").display()),
            "--tag=v1".to_string(),
        ]
    };
    let (plain, with) = (dir.path().join("plain"), dir.path().join("with"));
    let run = |root: &Path, extra: &[&str]| {
        let mut words = args![
            "--json",
            "package",
            app.display(),
            "--name",
            "app",
            "--ca-bundle",
            "builtin"
        ];
        words.extend(outputs(root));
        words.extend(extra.iter().map(|s| s.to_string()));
        let ran = static_image(words)
            .env("STATIC_IMAGE_CACHE_DIR", dir.path().join("cache"))
            .run()
            .ok();
        serde_json::from_str::<Value>(&ran.stdout).unwrap()
    };
    let without = run(&plain, &[]);
    let outcome = run(&with, &["--debug-variant"]);

    // The production image, and each archive holding it, is the same to the byte.
    assert_eq!(outcome["digest"], without["digest"]);
    assert!(without.get("debug").is_none(), "{without}");
    for file in ["app.tar", "docker.tar"] {
        assert_eq!(
            sha256(&plain.join(file)),
            sha256(&with.join(file)),
            "{file}"
        );
    }
    let layout = with.join("layout");
    let production = skopeo_inspect(&layout_spec(&layout, "v1"), false);
    assert_eq!(production["Digest"], without["digest"]);

    // The variant: beside it in the layout, and in a sibling archive of each.
    let debug = &outcome["debug"];
    let digest = debug["digest"].as_str().unwrap();
    for (spec, production_spec) in [
        (layout_spec(&layout, "v1-debug"), layout_spec(&layout, "v1")),
        (
            format!(
                "oci-archive:{}:app:v1-debug",
                with.join("app-debug.tar").display()
            ),
            format!("oci-archive:{}:app:v1", with.join("app.tar").display()),
        ),
        (
            format!("docker-archive:{}", with.join("docker-debug.tar").display()),
            format!("docker-archive:{}", with.join("docker.tar").display()),
        ),
    ] {
        let inspect = skopeo_inspect(&spec, false);
        // skopeo reads a docker-archive through Docker's manifest.json, whose digest is
        // another document's (and its layers the uncompressed ones); the layers say it is
        // the same image.
        if !spec.starts_with("docker-archive:") {
            assert_eq!(inspect["Digest"], digest, "{spec}");
        }
        let layers = inspect["Layers"].as_array().unwrap();
        let production = skopeo_inspect(&production_spec, false);
        let production_layers = production["Layers"].as_array().unwrap();
        assert_eq!(layers.len(), production_layers.len() + 1, "{spec}");
        assert_eq!(&layers[..production_layers.len()], &production_layers[..]);
    }
    let written: Vec<&str> = debug["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["output"].as_str().unwrap())
        .collect();
    assert!(
        written[2].ends_with("docker-debug.tar:app:v1-debug"),
        "{written:?}"
    );

    // Entrypoint and user unchanged; PATH ends in /busybox.
    let config = skopeo_inspect(&layout_spec(&layout, "v1-debug"), true);
    let production_config = skopeo_inspect(&layout_spec(&layout, "v1"), true);
    for key in ["Entrypoint", "User", "WorkingDir", "Cmd"] {
        assert_eq!(
            config["config"][key], production_config["config"][key],
            "{key}"
        );
    }
    let (_, env) = config_of(&config);
    let (_, production_env) = config_of(&production_config);
    let path = |env: &[String]| {
        env.iter()
            .find(|e| e.starts_with("PATH="))
            .cloned()
            .unwrap()
    };
    assert_eq!(path(&env), format!("{}:/busybox", path(&production_env)));

    // The shell's layer: the host's busybox and a link per applet `busybox --list` names.
    let entries = top_layer(&layout, "v1-debug");
    let shell = entries.iter().find(|e| e.0 == "busybox/busybox").unwrap();
    assert_eq!((shell.1, shell.2), (tar::EntryType::Regular, 0o755));
    assert_eq!(shell.4, fs::read(host_busybox()).unwrap());
    let links: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.1 == tar::EntryType::Symlink)
        .inspect(|e| assert_eq!(e.3, "busybox", "{}", e.0))
        .map(|e| e.0.trim_start_matches("busybox/").to_string())
        .collect();
    let mut applets = host_applets();
    applets.remove("busybox");
    assert!(applets.contains("sh") && applets.len() > 100, "{applets:?}");
    assert_eq!(links, applets);

    // The SBOM: the variant's names Debian's package at its installed version; the
    // production one does not.
    let expected = format!(
        "pkg:deb/debian/busybox-static@{}?arch=amd64",
        purl_version(&busybox_version())
    );
    let variant_sbom = referred_sbom(&layout, digest);
    assert!(purls(&variant_sbom).contains(&expected), "{variant_sbom}");
    let production_sbom = referred_sbom(&layout, without["digest"].as_str().unwrap());
    assert!(
        !purls(&production_sbom)
            .iter()
            .any(|p| p.contains("busybox"))
    );
    assert!(
        purls(&production_sbom)
            .iter()
            .all(|p| purls(&variant_sbom).contains(p))
    );
    let own = entries
        .iter()
        .find(|e| e.0 == "usr/share/sbom/debug-shell/busybox.spdx.json")
        .expect("the shell's own SBOM in its layer");
    let own: Value = serde_json::from_slice(&own.4).unwrap();
    // Busybox first, then what is linked into it (Debian's is static glibc).
    let own = purls(&own);
    assert_eq!(own[0], expected);
    assert!(
        own[1..].iter().any(|p| p.starts_with("pkg:generic/glibc@")),
        "{own:?}"
    );

    // A scanner reading the image's files finds the shell's package in the variant alone.
    if require_for(&["syft"], "scanning both archives with syft") {
        let syft =
            |file: &Path| syft_scan(&format!("docker-archive:{}", file.display())).to_string();
        let encoded = expected.replace("%3A", ":");
        let variant = syft(&with.join("docker-debug.tar"));
        assert!(
            variant.contains(&encoded) || variant.contains(&expected),
            "{variant}"
        );
        // (syft's report names its `busybox-binary` classifier, so look for the package URL.)
        assert!(!syft(&with.join("docker.tar")).contains("pkg:deb/debian/busybox"));
    }

    // Run: the shell lists the production files and runs as the production user.
    if require_for(&["root", "runc", "umoci"], "running the shell") {
        let (code, out) = run_argv_in_runc(
            &layout,
            "v1-debug",
            &dir.path().join("run-debug"),
            &["/busybox/sh", "-c", "ls /app; id; /app/app"],
        );
        assert_eq!(code, 0, "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "app", "{out}");
        assert!(
            lines[1].starts_with("uid=65532(nonroot) gid=65532(nonroot)"),
            "{out}"
        );
        assert_eq!(lines[2], "hello from the app", "{out}");
        // The production image has no shell to run.
        let (code, out) = run_argv_in_runc(
            &layout,
            "v1",
            &dir.path().join("run-production"),
            &["/busybox/sh", "-c", "id"],
        );
        assert_ne!(code, 0, "{out}");
    }
}

#[test]
fn forbid_shells_passes_the_production_image_and_fails_the_variant_at_busybox_sh() {
    if !require(&["musl-gcc", "busybox"]) {
        return;
    }
    let dir = tempdir();
    let app = musl_app(dir.path(), "hi");
    let layout = dir.path().join("layout");
    package_run(
        &app,
        &format!("oci:{}", layout.display()),
        &dir.path().join("cache"),
        &["--tag", "v1", "--debug-variant"],
    )
    .run()
    .ok();
    let policy = dir.path().join("policy.toml");
    fs::write(&policy, "forbid-shells = true\n").unwrap();
    for how in [
        vec!["--forbid-shells".to_string()],
        vec!["--policy".to_string(), policy.display().to_string()],
    ] {
        let verify = |tag: &str| {
            let mut words = args!["verify", layout_spec(&layout, tag)];
            words.extend(how.iter().cloned());
            static_image(words).run()
        };
        let production = verify("v1").ok();
        assert!(
            production.stdout.contains("forbid-shells ok"),
            "{}",
            production.stdout
        );
        let variant = verify("v1-debug");
        assert_ne!(variant.code, 0, "{}", variant.stdout);
        let said = variant.stdout + &variant.stderr;
        assert!(said.contains("forbid-shells FAILED"), "{said}");
        assert!(said.contains("`/busybox/sh` (a shell)"), "{said}");
        // The folder holding the applets is not itself called a shell.
        assert!(!said.contains("`/busybox` (a shell)"), "{said}");
    }
}

#[test]
fn two_platforms_give_a_debug_index_with_both_each_with_its_own_busybox() {
    if !require(&[
        "musl-gcc",
        "aarch64-linux-gnu-gcc",
        "skopeo",
        "busybox",
        "busybox-arm64",
    ]) {
        return;
    }
    let dir = tempdir();
    let amd64 = compile_c("musl-gcc", &["-static"], HELLO_C, dir.path(), "app-amd64");
    let arm64 = compile_c(
        "aarch64-linux-gnu-gcc",
        &["-static"],
        HELLO_C,
        dir.path(),
        "app-arm64",
    );
    let busybox_arm64 = busybox_arm64();
    let run = |layout: &Path, extra: &[&str]| {
        let mut words = args![
            "--json",
            "package",
            amd64.display(),
            arm64.display(),
            "--ca-bundle",
            "builtin",
            "--tag",
            "v1",
            "-o",
            format!("oci:{}", layout.display())
        ];
        words.extend(extra.iter().map(|s| s.to_string()));
        let ran = static_image(words)
            .env("STATIC_IMAGE_CACHE_DIR", dir.path().join("cache"))
            .run()
            .ok();
        serde_json::from_str::<Value>(&ran.stdout).unwrap()
    };
    let without = run(&dir.path().join("plain"), &[]);
    let layout = dir.path().join("with");
    let outcome = run(
        &layout,
        &[
            "--debug-variant",
            "--debug-shell",
            busybox_arm64.to_str().unwrap(),
        ],
    );
    assert_eq!(outcome["digest"], without["digest"]);
    assert_eq!(outcome["index"], without["index"]);

    let raw = tool(
        "skopeo",
        &["inspect", "--raw", &layout_spec(&layout, "v1-debug")],
    );
    let index: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        outcome["debug"]["digest"].as_str().unwrap(),
        format!("sha256:{}", hex_sha256(raw.as_bytes()))
    );
    let manifests = index["manifests"].as_array().unwrap();
    let arches: Vec<&str> = manifests
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    for (arch, busybox) in [
        ("amd64", which::which("busybox").unwrap()),
        ("arm64", busybox_arm64.clone()),
    ] {
        let spec = layout_spec(&layout, "v1-debug");
        let config: Value = serde_json::from_str(&tool(
            "skopeo",
            &["inspect", "--config", "--override-arch", arch, &spec],
        ))
        .unwrap();
        assert_eq!(config["architecture"], arch);
        let history = config["history"].as_array().unwrap();
        let last = history.last().unwrap()["created_by"].as_str().unwrap();
        assert!(
            last.contains("/busybox/busybox (busybox-static 1:"),
            "{last}"
        );
        // Each platform's shell is that platform's busybox, byte for byte.
        let manifest = manifests
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap();
        let manifest = read_json(&blob(&layout, manifest["digest"].as_str().unwrap()));
        let top = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let entries = layer_entries(&blob(&layout, &top));
        let shell = entries
            .iter()
            .find(|e| e.path == "busybox/busybox")
            .unwrap();
        assert_eq!(shell.data, fs::read(&busybox).unwrap(), "{arch}");
    }
    let shells = outcome["debug"]["shells"].as_array().unwrap();
    assert_eq!(shells[1]["platform"], "linux/arm64");
    // The unpacked package is in no dpkg database: its banner names the Debian version.
    assert!(
        shells[1]["package"]["purl"]
            .as_str()
            .unwrap()
            .starts_with("pkg:deb/debian/busybox-static@1%3A1.")
            && shells[1]["package"]["purl"]
                .as_str()
                .unwrap()
                .ends_with("?arch=arm64"),
        "{shells:?}"
    );
}
