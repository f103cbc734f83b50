//! `static-image package`: an already-built binary → an image whose layers hold exactly the
//! expected entries; files added with `--add` (escapes and special files refused, modes
//! normalised); and the refusals before any work: a dynamic binary, a binary for no platform of
//! the table, flags that do not parse.

use std::fs;
use std::path::PathBuf;

use crate::support::*;

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
            ("usr/share/sbom/cyclonedx-1.5/", 0o755),
            ("usr/share/sbom/cyclonedx-1.5/hello.cdx.json", 0o644),
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
fn bad_flags_are_usage_errors_before_any_work() {
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let cases: [(&[&str], &str); 7] = [
        (
            &["--port", "70000"],
            r#"error: invalid value '70000' for '--port <PORT>': `70000`: the port must be a number from 1 to 65535

For more information, try '--help'."#,
        ),
        (
            &["--env", "NOVALUE"],
            r#"error: invalid value 'NOVALUE' for '--env <KEY=VALUE>': `NOVALUE` is not of the form KEY=VALUE

For more information, try '--help'."#,
        ),
        (
            &["--user", "appuser"],
            r#"error: invalid value 'appuser' for '--user <USER>': `appuser` is not in the image's /etc/passwd or /etc/group (it knows root and nonroot); give a number instead

For more information, try '--help'."#,
        ),
        (
            &["--add", "x:relative/path"],
            r#"error: invalid value 'x:relative/path' for '--add <SRC:DEST>': `relative/path` must be an absolute path inside the image

For more information, try '--help'."#,
        ),
        (
            &["--output", "docker://registry.example/App"],
            r#"error: invalid value 'docker://registry.example/App' for '--output <SPEC>': `docker://registry.example/App`: `App` is not a valid repository name (lowercase letters, digits and `._-`, in `/`-separated parts)

For more information, try '--help'."#,
        ),
        (
            &["--output", "docker-daemon:app:v1"],
            r#"error: invalid value 'docker-daemon:app:v1' for '--output <SPEC>': the `docker-daemon:` transport is not supported; supported: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REPO:TAG], docker://HOST/REPO[:TAG]

For more information, try '--help'."#,
        ),
        (
            &["--tag=-bad"],
            "error: `-bad` is not a valid tag (up to 128 of letters, digits, `_.-`, not starting with `.` or `-`)",
        ),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["package".to_string(), exe.display().to_string()];
        args.extend(flags.iter().map(|s| s.to_string()));
        let ran = static_image(&args).cwd(dir.path()).run().code(2);
        assert_output(&ran.stderr, expected);
    }
    assert!(!dir.path().join("target").exists());
}

#[test]
fn a_binary_for_no_platform_of_the_table_names_the_ones_there_are() {
    if !require(&["musl-gcc"]) {
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
    assert_output(
        &ran.stderr,
        r#"    Verified `[TMP]/riscv`: static-pie, riscv
error: `[TMP]/riscv` is built for riscv, 64-bit, which no supported platform runs (supported: linux/amd64, linux/arm64)"#,
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn add_refuses_escapes_and_special_files_and_normalises_modes() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let app = tiny(dir.path());
    let out = dir.path().join("out");
    let package = |add: String| {
        static_image(args![
            "package",
            app.display(),
            "--add",
            add,
            "--output",
            format!("oci:{}:v1", out.display()),
        ])
        .run()
    };
    let file = dir.path().join("conf");
    fs::write(&file, "x").unwrap();

    let ran = package(format!("{}:/app/../etc/passwd", file.display())).code(2);
    assert_output(
        &ran.stderr,
        r#"error: invalid value '[TMP]/conf:/app/../etc/passwd' for '--add <SRC:DEST>': `/app/../etc/passwd` must not contain `.` or `..` components

For more information, try '--help'."#,
    );

    // A link inside an added folder, pointing out of it, is refused (not followed).
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", tree.join("shadow")).unwrap();
    let ran = package(format!("{}:/data/", tree.display())).code(1);
    assert_output(
        &ran.stderr,
        r#"    Verified `[TMP]/tiny`: static, x86-64
error: --add source `[TMP]/tree/shadow` is a symbolic link; only regular files and directories can be added"#,
    );
    fs::remove_file(tree.join("shadow")).unwrap();

    let ran = package("/dev/null:/dev/null".into()).code(1);
    assert_output(
        &ran.stderr,
        r#"    Verified `[TMP]/tiny`: static, x86-64
error: --add source `/dev/null` is a character device; only regular files and directories can be added"#,
    );
    let fifo = dir.path().join("fifo");
    tool("mkfifo", &[&fifo.display().to_string()]);
    let ran = package(format!("{}:/fifo", fifo.display())).code(1);
    assert_output(
        &ran.stderr,
        r#"    Verified `[TMP]/tiny`: static, x86-64
error: --add source `[TMP]/fifo` is a FIFO; only regular files and directories can be added"#,
    );
    assert!(!out.exists(), "a refused add wrote an image");

    // Modes are normalised: 0600 becomes 0644 and 0700 becomes 0755, owned by root.
    use std::os::unix::fs::PermissionsExt;
    fs::write(tree.join("secret"), "s").unwrap();
    fs::set_permissions(tree.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(tree.join("tool"), "t").unwrap();
    fs::set_permissions(tree.join("tool"), fs::Permissions::from_mode(0o700)).unwrap();
    package(format!("{}:/data/", tree.display())).ok();
    let manifest = manifest_for(&out, "v1");
    let app_layer = manifest["layers"][1]["digest"].as_str().unwrap();
    let entries = layer_entries(&blob(&out, app_layer));
    let mode = |path: &str| {
        let e = entries.iter().find(|e| e.path == path).unwrap();
        assert_eq!((e.uid, e.gid), (0, 0));
        e.mode
    };
    assert_eq!(mode("data/tree/secret"), 0o644);
    assert_eq!(mode("data/tree/tool"), 0o755);
}
