//! `static-image package`: an already-built binary → images read back by skopeo, byte for byte
//! checks of the layers, reproducibility, atomic writes, and refusals.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

const HELLO_C: &str = "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n";

/// A static binary that needs no extra tool to make: glibc static-pie, no NSS.
fn static_binary(dir: &Path) -> PathBuf {
    compile_c("gcc", &["-static-pie", "-O2"], HELLO_C, dir, "hello")
}

fn first_host_certs(n: usize) -> Vec<pem::Pem> {
    let host = fs::read("/etc/ssl/certs/ca-certificates.crt").expect("host CA bundle");
    pem::parse_many(host)
        .expect("host bundle parses")
        .into_iter()
        .take(n)
        .collect()
}

#[test]
fn refuses_a_dynamic_binary_with_the_report_and_writes_nothing() {
    let dir = tempdir();
    let out = dir.path().join("out");
    let ran = static_image(["package", "/bin/ls", "--output"])
        .cwd(dir.path())
        .run();
    assert_eq!(ran.code, 2, "--output needs a value: {}", ran.stderr);
    let ran = static_image(args![
        "package",
        "/bin/ls",
        "-o",
        format!("oci:{}", out.display()),
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr
            .starts_with("error: refusing to package: `/bin/ls` is not static: interpreter `"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("; needs `"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("help: link statically"),
        "{}",
        ran.stderr
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn unwritable_output_directory_is_a_clear_error_and_leaves_nothing() {
    if !require("setpriv") || !require("root") {
        return;
    }
    let dir = tempdir();
    let exe = static_binary(dir.path());
    // Root may write anywhere, so the tool runs as nobody into a directory nobody cannot write.
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    for spec in [
        "oci:{}/layout",
        "oci-archive:{}/image.tar",
        "docker-archive:{}/image.tar",
        "oci:{}/new/deeper/layout",
    ] {
        let spec = spec.replace("{}", &locked.display().to_string());
        let ran = static_image(args!["package", exe.display(), "--output", spec,])
            .run_as_nobody()
            .run()
            .code(1);
        assert!(
            ran.stderr.contains("error: cannot write `"),
            "{spec}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("caused by: Permission denied"),
            "{spec}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr
                .contains("help: choose a writable location with `--output`"),
            "{spec}: {}",
            ran.stderr
        );
        assert_eq!(listing(&locked), Vec::<String>::new(), "{spec}");
    }
}

#[test]
fn a_failed_tag_addition_leaves_the_existing_layout_untouched() {
    if !require("setpriv") || !require("root") || !require("skopeo") {
        return;
    }
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let layout = dir.path().join("layout");
    let spec = |tag: &str| format!("oci:{}:{tag}", layout.display());
    static_image(args!["package", exe.display(), "-o", spec("v1"),])
        .run()
        .ok();
    let before = listing(&layout);
    let index_before = fs::read(layout.join("index.json")).unwrap();

    // Another image (another name, so another app layer) into the same layout, as a user who
    // may read the layout but not write it: it fails part-way, and nothing changes.
    let ran = static_image(args![
        "package",
        exe.display(),
        "--name",
        "other",
        "-o",
        spec("v2"),
    ])
    .run_as_nobody()
    .run()
    .code(1);
    assert!(ran.stderr.contains("error: cannot write"), "{}", ran.stderr);
    assert_eq!(listing(&layout), before);
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), index_before);
    skopeo_inspect(&spec("v1"), false);
}

#[test]
fn skopeo_reads_every_output_format_with_the_expected_config() {
    if !require("skopeo") {
        return;
    }
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let d = dir.path().display();
    let outputs = [
        format!("oci:{d}/layout:v1"),
        format!("oci-archive:{d}/image.tar:v1"),
        format!("docker-archive:{d}/docker.tar:team/hello:v1"),
    ];
    let mut args: Vec<String> = vec!["package".into(), exe.display().to_string()];
    for o in &outputs {
        args.extend(["--output".into(), o.clone()]);
    }
    args.extend(
        [
            "--name",
            "hello-svc",
            "--arg",
            "--listen",
            "--arg",
            ":8080",
            "--env",
            "MODE=prod",
            "--env",
            "PATH=/app",
            "--port",
            "8080",
            "--port",
            "53/udp",
            "--label",
            "team=core",
            "--workdir",
            "/data",
            "--user",
            "1000:1000",
            "--entrypoint-path",
            "/usr/bin/svc",
        ]
        .map(String::from),
    );
    let ran = static_image(&args).run().ok();
    let digest = ran.digest();
    assert_eq!(ran.stdout.lines().count(), 3, "{}", ran.stdout);
    for (line, output) in ran.stdout.lines().zip(&outputs) {
        assert_eq!(line, format!("{output} {digest}"));
    }

    for output in &outputs {
        let config = skopeo_inspect(output, true);
        let c = &config["config"];
        assert_eq!(
            c["Entrypoint"],
            serde_json::json!(["/usr/bin/svc"]),
            "{output}"
        );
        assert_eq!(
            c["Cmd"],
            serde_json::json!(["--listen", ":8080"]),
            "{output}"
        );
        assert_eq!(c["User"], "1000:1000", "{output}");
        assert_eq!(c["WorkingDir"], "/data", "{output}");
        assert_eq!(
            c["ExposedPorts"],
            serde_json::json!({"53/udp": {}, "8080/tcp": {}}),
            "{output}"
        );
        let (labels, env) = config_of(&config);
        assert_eq!(
            labels.get("team").map(String::as_str),
            Some("core"),
            "{output}"
        );
        assert_eq!(
            labels
                .get("org.opencontainers.image.title")
                .map(String::as_str),
            Some("hello-svc")
        );
        assert_eq!(
            env,
            [
                "PATH=/app",
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                "MODE=prod"
            ],
            "{output}"
        );
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        assert_eq!(config["history"].as_array().unwrap().len(), 2);

        let inspect = skopeo_inspect(output, false);
        assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2, "{output}");
        if !output.starts_with("docker-archive:") {
            // skopeo re-encodes a docker archive as a Docker schema 2 manifest of its own.
            assert_eq!(inspect["Digest"], digest.as_str(), "{output}");
        }
    }
    // The docker archive carries Docker's manifest.json next to the OCI index.
    let tar_list = tool("tar", &["tf", &format!("{d}/docker.tar")]);
    for name in ["manifest.json", "index.json", "oci-layout"] {
        assert!(tar_list.lines().any(|l| l == name), "{name} in {tar_list}");
    }
    // ... so it is an OCI archive too: skopeo reads it as one, with the image's own digest.
    let as_oci = skopeo_inspect(&format!("oci-archive:{d}/docker.tar"), false);
    assert_eq!(as_oci["Digest"], digest.as_str());
    let manifest = tool("tar", &["xOf", &format!("{d}/docker.tar"), "manifest.json"]);
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["team/hello:v1"])
    );
    // Archives are for others to load: readable by all, like the layout's blobs.
    use std::os::unix::fs::PermissionsExt;
    for tar in ["image.tar", "docker.tar"] {
        let mode = fs::metadata(dir.path().join(tar))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "{tar}");
    }
}

#[test]
fn layers_hold_exactly_the_expected_entries_owned_by_root() {
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let notice = dir.path().join("NOTICE");
    fs::write(&notice, "third-party notices\n").unwrap();
    let tool_sh = dir.path().join("probe.sh");
    fs::write(&tool_sh, "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&tool_sh, fs::Permissions::from_mode(0o700)).unwrap();
    let layout = dir.path().join("layout");
    static_image(args![
        "package",
        exe.display(),
        "-o",
        format!("oci:{}", layout.display()),
        "--add",
        format!("{}:/usr/share/doc/hello/", notice.display()),
        "--add",
        format!("{}:/usr/local/bin/probe", tool_sh.display()),
    ])
    .env("SOURCE_DATE_EPOCH", "1700000000")
    .run()
    .ok();
    let manifest = manifest_for(&layout, "latest");
    let layers: Vec<PathBuf> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(
                l["mediaType"],
                "application/vnd.oci.image.layer.v1.tar+gzip"
            );
            blob(&layout, l["digest"].as_str().unwrap())
        })
        .collect();
    assert_eq!(layers.len(), 2);

    let summary = |entries: &[TarEntry]| -> Vec<(String, u32)> {
        for e in entries {
            assert_eq!((e.uid, e.gid, e.mtime), (0, 0, 1_700_000_000), "{}", e.path);
        }
        entries.iter().map(|e| (e.path.clone(), e.mode)).collect()
    };
    let base = layer_entries(&layers[0]);
    assert_eq!(
        summary(&base),
        [
            ("etc/", 0o755),
            ("etc/group", 0o644),
            ("etc/hosts", 0o644),
            ("etc/nsswitch.conf", 0o644),
            ("etc/passwd", 0o644),
            ("etc/ssl/", 0o755),
            ("etc/ssl/certs/", 0o755),
            ("etc/ssl/certs/ca-certificates.crt", 0o644),
            ("tmp/", 0o1777),
        ]
        .map(|(p, m)| (p.to_string(), m))
    );
    let passwd = String::from_utf8(base[4].data.clone()).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
    let hosts = String::from_utf8(base[2].data.clone()).unwrap();
    assert!(hosts.contains("127.0.0.1\tlocalhost"), "{hosts}");

    let app = layer_entries(&layers[1]);
    assert_eq!(
        summary(&app),
        [
            ("app/", 0o755),
            ("app/hello", 0o755),
            ("usr/", 0o755),
            ("usr/local/", 0o755),
            ("usr/local/bin/", 0o755),
            ("usr/local/bin/probe", 0o755),
            ("usr/share/", 0o755),
            ("usr/share/doc/", 0o755),
            ("usr/share/doc/hello/", 0o755),
            ("usr/share/doc/hello/NOTICE", 0o644),
            ("usr/share/sbom/", 0o755),
            ("usr/share/sbom/hello.spdx.json", 0o644),
        ]
        .map(|(p, m)| (p.to_string(), m))
    );
    assert_eq!(app[1].data, fs::read(&exe).unwrap());
    let config = read_json(&blob(
        &layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ));
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
}

#[test]
fn same_inputs_give_the_same_digest_and_bytes_from_any_directory() {
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let package = |cwd: &Path, out: &str, epoch: Option<&str>| {
        let mut run = static_image(args![
            "package",
            exe.display(),
            "-o",
            format!("oci-archive:{out}"),
            "--port",
            "80",
            "--label",
            "a=1",
            "--label",
            "b=2",
        ])
        .cwd(cwd);
        if let Some(e) = epoch {
            run = run.env("SOURCE_DATE_EPOCH", e);
        }
        run.run().ok().digest()
    };
    let elsewhere = dir.path().join("elsewhere/deeper");
    fs::create_dir_all(&elsewhere).unwrap();
    let first = package(dir.path(), "one.tar", None);
    let second = package(dir.path(), "two.tar", None);
    let third = package(&elsewhere, "three.tar", None);
    assert_eq!(first, second);
    assert_eq!(first, third);
    let bytes = fs::read(dir.path().join("one.tar")).unwrap();
    assert_eq!(bytes, fs::read(dir.path().join("two.tar")).unwrap());
    assert_eq!(bytes, fs::read(elsewhere.join("three.tar")).unwrap());
    // SOURCE_DATE_EPOCH is honoured: a different time is a different image, reproducibly.
    let dated = package(dir.path(), "dated.tar", Some("1700000000"));
    assert_ne!(dated, first);
    assert_eq!(dated, package(&elsewhere, "dated2.tar", Some("1700000000")));
    let ran = static_image(args!["package", exe.display()])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .cwd(dir.path())
        .run()
        .code(1);
    let far = static_image(args!["package", exe.display()])
        .env("SOURCE_DATE_EPOCH", "253402300800")
        .cwd(dir.path())
        .run()
        .code(1);
    assert!(far.stderr.contains("from 1970 to 9999"), "{}", far.stderr);
    assert!(
        ran.stderr.contains("SOURCE_DATE_EPOCH is `yesterday`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn adding_a_tag_to_a_layout_keeps_every_other_entry() {
    if !require("skopeo") {
        return;
    }
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let layout = dir.path().join("layout");
    let write = |name: &str, tag: &str| {
        static_image(args![
            "package",
            exe.display(),
            "--name",
            name,
            "-o",
            format!("oci:{}:{tag}", layout.display()),
        ])
        .run()
        .ok()
        .digest()
    };
    let a = write("alpha", "a");
    let b = write("beta", "b");
    assert_ne!(a, b);
    let index = read_json(&layout.join("index.json"));
    let kinds = |index: &serde_json::Value| -> (usize, usize) {
        let entries = index["manifests"].as_array().unwrap();
        let sboms = entries
            .iter()
            .filter(|m| m.get("artifactType").is_some())
            .count();
        (entries.len() - sboms, sboms)
    };
    assert_eq!(kinds(&index), (2, 2), "two tagged images and their SBOMs");
    for (tag, digest) in [("a", &a), ("b", &b)] {
        let inspect = skopeo_inspect(&format!("oci:{}:{tag}", layout.display()), false);
        assert_eq!(inspect["Digest"], digest.as_str());
    }
    // The base layer is shared: four blobs per image less the one they share, plus each image's
    // SBOM and its artifact manifest, and the one empty config those share; nothing else.
    assert_eq!(
        fs::read_dir(layout.join("blobs/sha256")).unwrap().count(),
        7 + 4 + 1
    );
    // Re-using a tag moves it and leaves the other alone.
    let c = write("gamma", "a");
    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().unwrap();
    // The SBOM of the image that lost its tag goes with it.
    assert_eq!(kinds(&index), (2, 2));
    let by_tag = |t: &str| {
        manifests
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == t)
            .map(|m| m["digest"].as_str().unwrap().to_string())
    };
    let mut subjects: Vec<String> = manifests
        .iter()
        .filter(|m| m.get("artifactType").is_some())
        .map(|m| read_json(&blob(&layout, m["digest"].as_str().unwrap())))
        .map(|m| m["subject"]["digest"].as_str().unwrap().to_string())
        .collect();
    subjects.sort();
    let mut expected = vec![b.clone(), c.clone()];
    expected.sort();
    assert_eq!(subjects, expected);
    assert_eq!(by_tag("a"), Some(c));
    assert_eq!(by_tag("b"), Some(b));
    // Only hidden temporary names could be left by a crash; a clean run leaves none.
    assert!(
        listing(&layout).iter().all(|p| !p.contains(".tmp")),
        "{:?}",
        listing(&layout)
    );
}

#[test]
fn ca_bundle_can_be_replaced_and_extended() {
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let certs = first_host_certs(2);
    let bundle = dir.path().join("corp-bundle.pem");
    fs::write(&bundle, format!("# our roots\n{}", pem::encode(&certs[0]))).unwrap();
    let extra = dir.path().join("extra.der");
    fs::write(&extra, certs[1].contents()).unwrap();
    let layout = dir.path().join("layout");
    let ran = static_image(args![
        "package",
        exe.display(),
        "--json",
        "-o",
        format!("oci:{}", layout.display()),
        "--ca-bundle",
        bundle.display(),
        "--extra-ca",
        extra.display(),
    ])
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(outcome["ca_bundle"]["certificates"], 2);
    assert_eq!(outcome["ca_bundle"]["source"]["kind"], "file");
    let manifest = manifest_for(&layout, "latest");
    let base = layer_entries(&blob(
        &layout,
        manifest["layers"][0]["digest"].as_str().unwrap(),
    ));
    let shipped = base
        .iter()
        .find(|e| e.path == "etc/ssl/certs/ca-certificates.crt")
        .unwrap();
    let shipped = pem::parse_many(&shipped.data).unwrap();
    assert_eq!(shipped.len(), 2);
    assert_eq!(shipped[0].contents(), certs[0].contents());
    assert_eq!(shipped[1].contents(), certs[1].contents());
    assert_eq!(shipped[0].tag(), "CERTIFICATE");

    // `builtin` ignores the host's bundle: the same image on every machine.
    let ran = static_image(args![
        "package",
        exe.display(),
        "--json",
        "--ca-bundle",
        "builtin",
    ])
    .cwd(dir.path())
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(outcome["ca_bundle"]["source"]["kind"], "builtin");
    assert!(outcome["ca_bundle"]["certificates"].as_u64().unwrap() > 100);
}

#[test]
fn a_ca_file_without_certificates_is_an_error_naming_it() {
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let bad = dir.path().join("not-a-bundle.pem");
    fs::write(&bad, "just some text\n").unwrap();
    let out = dir.path().join("out");
    let ran = static_image(args![
        "package",
        exe.display(),
        "-o",
        format!("oci:{}", out.display()),
        "--extra-ca",
        bad.display(),
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr.contains(&format!(
            "\nerror: CA file `{}` holds no parsable certificate (neither PEM nor a DER certificate)\n",
            bad.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(!out.exists());
}

#[test]
fn bad_flags_are_usage_errors_before_any_work() {
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let cases: [(&[&str], &str); 7] = [
        (
            &["--port", "70000"],
            "the port must be a number from 1 to 65535",
        ),
        (&["--env", "NOVALUE"], "is not of the form KEY=VALUE"),
        (&["--user", "appuser"], "is not in the image's /etc/passwd"),
        (
            &["--add", "x:relative/path"],
            "must be an absolute path inside the image",
        ),
        (
            &["--output", "docker://registry.example/App"],
            "`App` is not a valid repository name",
        ),
        (
            &["--output", "docker-daemon:app:v1"],
            "the `docker-daemon:` transport is not supported",
        ),
        (&["--tag=-bad"], "is not a valid tag"),
    ];
    for (flags, message) in cases {
        let mut args = vec!["package".to_string(), exe.display().to_string()];
        args.extend(flags.iter().map(|s| s.to_string()));
        let ran = static_image(&args).cwd(dir.path()).run().code(2);
        assert!(ran.stderr.contains(message), "{flags:?}: {}", ran.stderr);
    }
    assert!(!dir.path().join("target").exists());
}

#[test]
fn default_output_is_a_layout_under_the_target_dir() {
    if !require("skopeo") {
        return;
    }
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let ran = static_image(args!["package", exe.display()])
        .cwd(dir.path())
        .run()
        .ok();
    assert_eq!(
        ran.stdout,
        format!("oci:target/static-image/hello:latest {}\n", ran.digest())
    );
    let inspect = skopeo_inspect(
        &format!(
            "oci:{}/target/static-image/hello:latest",
            dir.path().display()
        ),
        false,
    );
    assert_eq!(inspect["Digest"], ran.digest().as_str());
}

#[test]
fn a_binary_for_no_platform_of_the_table_names_the_ones_there_are() {
    if !require("musl-gcc") {
        return;
    }
    let dir = tempdir();
    let mut bytes = fs::read(static_binary(dir.path())).unwrap();
    // e_machine (at 18, little-endian) = 243, EM_RISCV: a valid static ELF for a machine the
    // built-in table has no row for.
    bytes[18..20].copy_from_slice(&243u16.to_le_bytes());
    let riscv = dir.path().join("riscv");
    fs::write(&riscv, &bytes).unwrap();
    let ran = static_image(args![
        "package",
        riscv.display(),
        "--output",
        format!("oci:{}:v1", dir.path().join("out").display()),
    ])
    .run()
    .code(1);
    let error = ran.stderr.lines().find(|l| l.starts_with("error:"));
    assert_eq!(
        error,
        Some(
            format!(
                "error: `{}` is built for riscv, 64-bit, which no supported platform runs \
                 (supported: linux/amd64, linux/arm64)",
                riscv.display()
            )
            .as_str()
        ),
        "{}",
        ran.stderr
    );
    assert!(!dir.path().join("out").exists());
}
