//! Where images go: `--output oci:DIR[:TAG]`, `oci-archive:FILE`, `docker-archive:FILE` (each
//! read back by skopeo with the config asked for), the default layout under the target dir,
//! tags added to a layout beside the others, and outputs that cannot be written (a file in the
//! way, a directory the user may not write), refused with nothing left behind.

use std::fs;

use serde_json::Value;

use crate::support::*;

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
    assert_output(
        &ran.stderr,
        r#"error: `[TMP]/taken` exists and is not an OCI image layout (it is a file)
help: choose another path with `--output`, or remove what is there"#,
    );
    assert!(!project.join("target").exists(), "cargo must not have run");
    assert_eq!(fs::read_to_string(&taken).unwrap(), "not a layout");
}

#[test]
fn skopeo_reads_every_output_format_with_the_expected_config() {
    if !require(&["skopeo"]) {
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
fn default_output_is_a_layout_under_the_target_dir() {
    if !require(&["skopeo"]) {
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
fn adding_a_tag_to_a_layout_keeps_every_other_entry() {
    if !require(&["skopeo"]) {
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
fn unwritable_output_directory_is_a_clear_error_and_leaves_nothing() {
    if !require(&["setpriv", "root"]) {
        return;
    }
    let dir = tempdir();
    let exe = static_binary(dir.path());
    // Root may write anywhere, so the tool runs as nobody into a directory nobody cannot write.
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    for (spec, unwritable) in [
        ("oci:{}/layout", "locked"),
        ("oci-archive:{}/image.tar", "locked"),
        ("docker-archive:{}/image.tar", "locked"),
        ("oci:{}/new/deeper/layout", "locked/new"),
    ] {
        let spec = spec.replace("{}", &locked.display().to_string());
        let ran = static_image(args!["package", exe.display(), "--output", spec,])
            .run_as_nobody()
            .run()
            .code(1);
        assert_output(
            &ran.stderr,
            &format!(
                "    Verified `[TMP]/hello`: static-pie, x86-64
   Packaging `hello` for linux/amd64
error: cannot write `[TMP]/{unwritable}`
  caused by: Permission denied (os error 13)
help: choose a writable location with `--output`"
            ),
        );
        assert_eq!(listing(&locked), Vec::<String>::new(), "{spec}");
    }
}

#[test]
fn a_failed_tag_addition_leaves_the_existing_layout_untouched() {
    if !require(&["setpriv", "root", "skopeo"]) {
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
    assert_output(
        &ran.stderr,
        r#"    Verified `[TMP]/hello`: static-pie, x86-64
   Packaging `other` for linux/amd64
error: cannot write `[TMP]/layout/blobs/sha256`
  caused by: Permission denied (os error 13)
help: choose a writable location with `--output`"#,
    );
    assert_eq!(listing(&layout), before);
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), index_before);
    skopeo_inspect(&spec("v1"), false);
}
