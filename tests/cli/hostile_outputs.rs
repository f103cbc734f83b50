//! Hostile and unlucky outputs: an existing layout whose files are huge, special or symlinks,
//! a blob in it that lies, a target that is a device, FIFO, socket or symlink, outputs that
//! name each other or an input, a strict umask, and runs interrupted while they write. Every
//! time: a clear error or a whole image, and nothing clobbered or left behind.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::support::*;

fn mknod(path: &Path, kind: libc::mode_t) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; device 1:3 is /dev/null's number.
    let r = unsafe { libc::mknod(c.as_ptr(), kind | 0o644, libc::makedev(1, 3)) };
    assert_eq!(r, 0, "mknod {}", path.display());
}

fn sha256_file(path: &Path) -> String {
    sha256_file_bytes(&fs::read(path).unwrap())
}

/// Every blob of the layout is a regular file whose SHA-256 is its name, and skopeo copies
/// every tag (re-reading each blob against its descriptor).
fn assert_whole(layout: &Path, scratch: &Path) {
    for entry in fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        assert!(meta.is_file(), "{}", entry.path().display());
        let name = entry.file_name().to_string_lossy().into_owned();
        assert_eq!(sha256_file(&entry.path()), format!("sha256:{name}"));
    }
    let index = read_json(&layout.join("index.json"));
    for entry in index["manifests"].as_array().unwrap() {
        let Some(tag) = entry["annotations"]["org.opencontainers.image.ref.name"].as_str() else {
            continue;
        };
        let copy = scratch.join("copy");
        tool(
            "skopeo",
            &[
                "copy",
                &format!("oci:{}:{tag}", layout.display()),
                &format!("oci:{}:{tag}", copy.display()),
            ],
        );
        fs::remove_dir_all(&copy).unwrap();
    }
}

#[test]
fn an_existing_layout_with_huge_special_or_linked_files_is_refused_naming_the_file() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let app = musl_app(dir.path(), "hi");
    let cache = dir.path().join("cache");
    let outside = dir.path().join("outside.json");
    fs::write(&outside, b"{\"precious\":true}").unwrap();
    // (file to spoil, how, expected detail)
    type Spoil = fn(&Path, &Path);
    let cases: [(&str, Spoil, &str); 6] = [
        (
            "index.json",
            |p, _| fs::write(p, vec![b' '; 5 << 20]).unwrap(),
            "`index.json` is 5242880 bytes, more than the 4194304 bytes an index may have",
        ),
        (
            "index.json",
            |p, _| mknod(p, libc::S_IFIFO),
            "`index.json` is a FIFO, not a regular file",
        ),
        (
            "index.json",
            |p, _| mknod(p, libc::S_IFCHR),
            "`index.json` is a character device, not a regular file",
        ),
        (
            "index.json",
            |p, outside| std::os::unix::fs::symlink(outside, p).unwrap(),
            "`index.json` is a symbolic link, not a regular file",
        ),
        (
            "oci-layout",
            |p, _| mknod(p, libc::S_IFIFO),
            "`oci-layout` is a FIFO, not a regular file",
        ),
        (
            "blobs",
            |p, outside| std::os::unix::fs::symlink(outside.parent().unwrap(), p).unwrap(),
            "`blobs` is a symbolic link, not a directory",
        ),
    ];
    for (i, (file, spoil, detail)) in cases.into_iter().enumerate() {
        let layout = dir.path().join(format!("layout{i}"));
        let spec = |tag: &str| format!("oci:{}:{tag}", layout.display());
        run_within(
            package_args(&app, spec("v1"), &[]),
            &cache,
            Duration::from_secs(120),
        )
        .0
        .ok();
        let target = layout.join(file);
        if fs::symlink_metadata(&target).unwrap().is_dir() {
            fs::remove_dir_all(&target).unwrap();
        } else {
            fs::remove_file(&target).unwrap();
        }
        spoil(&target, &outside);
        let before = listing(&layout);
        let (ran, took) = run_within(
            package_args(&app, spec("v2"), &[]),
            &cache,
            Duration::from_secs(60),
        );
        let ran = ran.code(1);
        assert_eq!(
            ran.stderr.lines().next().unwrap(),
            format!(
                "error: existing OCI layout `{}` is unreadable: {detail}",
                layout.display()
            ),
            "{}",
            ran.stderr
        );
        // Refused before any work: the binary is not even verified.
        assert!(!ran.stderr.contains("Verified"), "{}", ran.stderr);
        assert!(took < Duration::from_secs(30), "took {took:?}");
        assert_eq!(listing(&layout), before, "nothing may change in the layout");
        assert_eq!(fs::read(&outside).unwrap(), b"{\"precious\":true}");
    }
}

#[test]
fn a_damaged_blob_in_the_target_layout_is_rewritten_before_wrote_is_said() {
    if !require(&["musl-gcc", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let app = musl_app(dir.path(), "hi");
    let cache = dir.path().join("cache");
    let layout = dir.path().join("layout");
    let spec = |tag: &str| format!("oci:{}:{tag}", layout.display());
    run_within(
        package_args(&app, spec("v1"), &[]),
        &cache,
        Duration::from_secs(120),
    )
    .0
    .ok();
    let manifest = manifest_for(&layout, "v1");
    let layers = manifest["layers"].as_array().unwrap();
    let blob_of = |i: usize| {
        let digest = layers[i]["digest"].as_str().unwrap();
        (
            digest.to_string(),
            layout.join("blobs/sha256").join(&digest[7..]),
        )
    };
    // The app layer's bytes flipped in place (same size); the base layer a symlink to a file
    // outside the layout, which must not be written through.
    let (app_digest, app_blob) = blob_of(layers.len() - 1);
    let mut bytes = fs::read(&app_blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&app_blob, &bytes).unwrap();
    let (base_digest, base_blob) = blob_of(0);
    let decoy = dir.path().join("decoy");
    fs::write(&decoy, b"decoy").unwrap();
    fs::remove_file(&base_blob).unwrap();
    std::os::unix::fs::symlink(&decoy, &base_blob).unwrap();

    let (ran, _) = run_within(
        package_args(&app, spec("v2"), &["-v"]),
        &cache,
        Duration::from_secs(120),
    );
    let ran = ran.ok();
    let notes: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains("replaced blob"))
        .collect();
    let hashed = sha256_file(&app_blob);
    assert_eq!(hashed, app_digest);
    let note = |digest: &str, why: &str| {
        format!("replaced blob {digest} in `{}`: {why}", layout.display())
    };
    assert_eq!(notes.len(), 2, "{}", ran.stderr);
    assert!(
        notes
            .iter()
            .any(|l| l.ends_with(&note(&base_digest, "it was a symbolic link"))),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|l| l.ends_with(&note(
            &app_digest,
            &format!("its content hashes to {}", sha256_file_bytes(&bytes))
        ))),
        "{notes:?}"
    );
    assert_eq!(fs::read(&decoy).unwrap(), b"decoy");
    assert_whole(&layout, dir.path());
}

fn sha256_file_bytes(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[test]
fn an_output_that_is_a_symlink_device_fifo_or_socket_is_refused_not_replaced() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let app = musl_app(dir.path(), "hi");
    let cache = dir.path().join("cache");
    let victim = dir.path().join("victim");
    fs::write(&victim, b"keep me").unwrap();
    let victim_dir = dir.path().join("victim-dir");
    fs::create_dir(&victim_dir).unwrap();
    let targets = dir.path().join("targets");
    fs::create_dir(&targets).unwrap();
    let link = targets.join("link.tar");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let fifo = targets.join("fifo.tar");
    mknod(&fifo, libc::S_IFIFO);
    let device = targets.join("null.tar");
    mknod(&device, libc::S_IFCHR);
    let socket = targets.join("socket.tar");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let link_dir = targets.join("layout");
    std::os::unix::fs::symlink(&victim_dir, &link_dir).unwrap();
    let cases = [
        (
            format!("oci-archive:{}", link.display()),
            &link,
            "a regular file (it is a symbolic link, which is never written through)",
        ),
        (
            format!("docker-archive:{}", fifo.display()),
            &fifo,
            "a place for an image (it is a FIFO)",
        ),
        (
            format!("oci-archive:{}", device.display()),
            &device,
            "a place for an image (it is a character device)",
        ),
        (
            format!("oci-archive:{}", socket.display()),
            &socket,
            "a place for an image (it is a socket)",
        ),
        (
            format!("oci:{}", link_dir.display()),
            &link_dir,
            "an OCI image layout (it is a symbolic link; name the directory it points to)",
        ),
    ];
    let before = listing(&targets);
    for (spec, path, expected) in cases {
        let (ran, _) = run_within(
            package_args(&app, spec, &[]),
            &cache,
            Duration::from_secs(60),
        );
        let ran = ran.code(1);
        assert_eq!(
            ran.stderr.lines().next().unwrap(),
            format!("error: `{}` exists and is not {expected}", path.display()),
        );
        assert!(!ran.stderr.contains("Verified"), "{}", ran.stderr);
    }
    assert_eq!(listing(&targets), before);
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(
        fs::symlink_metadata(&device)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(fs::read(&victim).unwrap(), b"keep me");
    assert_eq!(fs::read_dir(&victim_dir).unwrap().count(), 0);
}

#[test]
fn outputs_naming_each_other_or_an_input_are_a_usage_error_before_any_work() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let root = fs::canonicalize(dir.path()).unwrap();
    let app = musl_app(&root, "hi");
    let app_bytes = fs::read(&app).unwrap();
    let cache = root.join("cache");
    fs::create_dir(root.join("x")).unwrap();
    std::os::unix::fs::symlink(root.join("x"), root.join("via")).unwrap();
    let assets = root.join("assets");
    fs::create_dir(&assets).unwrap();
    fs::write(assets.join("data.txt"), b"data").unwrap();
    let base = root.join("base.tar");
    fs::write(&base, b"not read").unwrap();
    let add = format!("{}:/assets/", assets.display());
    let base_spec = format!("oci-archive:{}", base.display());
    let a = root.join("a.tar");
    let spelled = root.join("x/../a.tar");
    let ca = root.join("ca.pem");
    fs::write(&ca, b"not read either").unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            args![
                "--extra-ca",
                ca.display(),
                "-o",
                format!("oci-archive:{}", ca.display())
            ],
            format!(
                "output `{}` is or overlaps the CA file `{}`",
                ca.display(),
                ca.display()
            ),
        ),
        (
            args![
                "-o",
                format!("oci-archive:{}", a.display()),
                "-o",
                format!("docker-archive:{}", spelled.display())
            ],
            format!(
                "output `{}` is or overlaps another output `{}`",
                spelled.display(),
                a.display()
            ),
        ),
        (
            args![
                "-o",
                format!("oci:{}", root.join("x/l").display()),
                "-o",
                format!("oci:{}", root.join("via/l").display())
            ],
            format!(
                "output `{}` is or overlaps another output `{}`",
                root.join("via/l").display(),
                root.join("x/l").display()
            ),
        ),
        (
            args!["-o", format!("oci-archive:{}", app.display())],
            format!(
                "output `{}` is or overlaps the binary `{}`",
                app.display(),
                app.display()
            ),
        ),
        (
            args![
                "--add",
                add.clone(),
                "-o",
                format!("oci-archive:{}", assets.join("data.txt").display())
            ],
            format!(
                "output `{}` is or overlaps the `--add` source `{}`",
                assets.join("data.txt").display(),
                assets.display()
            ),
        ),
        (
            args![
                "--add",
                add.clone(),
                "-o",
                format!("oci:{}", assets.join("image").display())
            ],
            format!(
                "output `{}` is or overlaps the `--add` source `{}`",
                assets.join("image").display(),
                assets.display()
            ),
        ),
        (
            args![
                "--base",
                base_spec.clone(),
                "-o",
                format!("oci-archive:{}", base.display())
            ],
            format!(
                "output `{}` is or overlaps the `--base` image `{}`",
                base.display(),
                base.display()
            ),
        ),
    ];
    let before = listing(&root);
    for (extra, message) in cases {
        let mut words = args!["package", app.display(), "--name", "app"];
        words.extend(extra);
        let (ran, _) = run_within(words, &cache, Duration::from_secs(60));
        let ran = ran.code(2);
        let lines: Vec<&str> = ran.stderr.lines().collect();
        assert_eq!(
            lines,
            [
                format!("error: {message}").as_str(),
                "help: give each output its own path, apart from the files the run reads (binaries, `--add` sources, CA files, `--base`)"
            ],
        );
    }
    assert_eq!(listing(&root), before);
    assert_eq!(fs::read(&app).unwrap(), app_bytes);
    assert_eq!(fs::read(&base).unwrap(), b"not read");
    assert_eq!(fs::read(&ca).unwrap(), b"not read either");
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// Every file under `root` is 0644 and every directory 0755, and an unprivileged user can
/// read a blob and `index.json`.
fn assert_modes(root: &Path) {
    let mut paths = vec![root.to_owned()];
    paths.extend(listing(root).iter().map(|p| root.join(p)));
    for path in &paths {
        let expected = if path.is_dir() { 0o755 } else { 0o644 };
        assert_eq!(mode(path), expected, "{}", path.display());
    }
    let blob = paths
        .iter()
        .find(|p| p.parent().is_some_and(|d| d.ends_with("blobs/sha256")))
        .unwrap();
    for file in [&root.join("index.json"), blob] {
        let out = Command::new("setpriv")
            .args(["--reuid=65532", "--regid=65532", "--clear-groups", "cat"])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `static-image ARGS…` under `umask 077`.
fn with_umask_077(args: &[String], cache: &Path) -> Ran {
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 077; exec \"$0\" \"$@\"")
        .arg(bin())
        .arg("--color=never")
        .args(args)
        .env("STATIC_IMAGE_CACHE_DIR", cache)
        .output()
        .unwrap();
    Ran::of(out)
}

#[test]
fn files_written_under_a_strict_umask_are_readable_by_others() {
    if !require(&["root", "musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let app = musl_app(dir.path(), "hi");
    let cache = dir.path().join("cache");
    let layout = dir.path().join("layout");
    let archive = dir.path().join("app.tar");
    // A new layout, then a second image merged into it, then an archive.
    with_umask_077(
        &package_args(&app, format!("oci:{}:v1", layout.display()), &[]),
        &cache,
    )
    .ok();
    assert_modes(&layout);
    let other = padded_binary(dir.path(), "other", 0, 9);
    with_umask_077(
        &package_args(&other, format!("oci:{}:v2", layout.display()), &[]),
        &cache,
    )
    .ok();
    assert_modes(&layout);
    with_umask_077(
        &package_args(&app, format!("oci-archive:{}", archive.display()), &[]),
        &cache,
    )
    .ok();
    assert_eq!(mode(&archive), 0o644);
}
