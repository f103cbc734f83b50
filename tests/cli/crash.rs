//! Crash safety of outputs: runs that race for one layout, runs killed at random points, and a
//! filesystem that fills up. Every time, what was there before must still be valid and read by
//! skopeo, and nothing half-written may be left.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Ran, blob, compile_c, read_json, require, static_image, tempdir, tool};

/// A static binary of about `megabytes` MB: a musl hello world followed by `seed`-dependent
/// bytes that compress poorly (packaging cost depends on bytes, not on what they do).
fn padded_binary(dir: &Path, name: &str, megabytes: usize, seed: u64) -> PathBuf {
    let hello = compile_c(
        "musl-gcc",
        &["-static", "-O2"],
        "int main(void){return 0;}\n",
        dir,
        &format!("{name}-seed"),
    );
    let mut bytes = fs::read(&hello).unwrap();
    let mut state = seed | 1;
    bytes.extend((0..megabytes << 20).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    }));
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Every tag in the layout's index, each read by skopeo, its blobs checked by a copy.
fn assert_layout_valid(layout: &Path, scratch: &Path) -> Vec<String> {
    let index = read_json(&layout.join("index.json"));
    let mut tags = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        if entry.get("artifactType").is_some() {
            // An image's SBOM, untagged: its manifest must be there whole.
            read_json(&blob(layout, entry["digest"].as_str().unwrap()));
            continue;
        }
        let tag = entry["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap()
            .to_string();
        let copy = scratch.join(format!("copy-{tag}"));
        // skopeo copy re-reads every blob and checks it against its digest.
        tool(
            "skopeo",
            &[
                "copy",
                &format!("oci:{}:{tag}", layout.display()),
                &format!("oci:{}:{tag}", copy.display()),
            ],
        );
        fs::remove_dir_all(&copy).unwrap();
        tags.push(tag);
    }
    tags
}

#[test]
fn concurrent_runs_writing_different_tags_into_one_new_layout_all_land() {
    if !(require("musl-gcc") && require("skopeo")) {
        return;
    }
    let dir = tempdir();
    let layout = dir.path().join("shared");
    let runs: Vec<_> = (0..6)
        .map(|i| {
            let binary = padded_binary(dir.path(), &format!("app{i}"), 1, i + 1);
            static_image(args![
                "package",
                binary.display(),
                "--name",
                "app",
                "--output",
                format!("oci:{}:t{i}", layout.display()),
            ])
            .env(
                "STATIC_IMAGE_CACHE_DIR",
                dir.path().join(format!("cache{i}")),
            )
            .spawn()
        })
        .collect();
    let digests: Vec<String> = runs
        .into_iter()
        .map(|child| Ran::of(child.wait_with_output().unwrap()).ok().digest())
        .collect();
    let mut tags = assert_layout_valid(&layout, dir.path());
    tags.sort();
    assert_eq!(tags, (0..6).map(|i| format!("t{i}")).collect::<Vec<_>>());
    for (i, digest) in digests.iter().enumerate() {
        let raw = tool(
            "skopeo",
            &["inspect", &format!("oci:{}:t{i}", layout.display())],
        );
        let inspect: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(inspect["Digest"], digest.as_str());
    }
    // Nothing of the losing creators is left beside or inside it.
    let stray: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .chain(fs::read_dir(layout.join("blobs/sha256")).unwrap())
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn runs_killed_at_random_points_leave_the_layout_valid() {
    if !(require("musl-gcc") && require("skopeo")) {
        return;
    }
    let dir = tempdir();
    let layout = dir.path().join("layout");
    let small = padded_binary(dir.path(), "small", 0, 1);
    static_image(args![
        "package",
        small.display(),
        "--output",
        format!("oci:{}:v0", layout.display()),
    ])
    .run()
    .ok();
    let big = padded_binary(dir.path(), "big", 4, 7);
    let mut bytes = fs::read(&big).unwrap();
    let run = |tag: String| {
        static_image(args![
            "package",
            big.display(),
            "--name",
            "big",
            "--output",
            format!("oci:{}:{tag}", layout.display()),
        ])
        .env("STATIC_IMAGE_CACHE_DIR", dir.path().join("cache"))
        .spawn()
    };
    // How long a whole run takes here: kills are spread over all of it and a bit beyond, so
    // some land while layers are compressed, some while the layout is written, some never.
    let started = std::time::Instant::now();
    assert!(run("whole".into()).wait().unwrap().success());
    let whole = started.elapsed().as_millis() as u64;
    let mut killed = 0;
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..50u64 {
        // New bytes every round, so every run has new layers to write.
        let at = bytes.len() - 8;
        bytes[at..].copy_from_slice(&round.to_le_bytes());
        fs::write(&big, &bytes).unwrap();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = Duration::from_millis(state % (whole * 6 / 5 + 1));
        let mut child = run(format!("k{round}"));
        std::thread::sleep(delay);
        // `Child::kill` is SIGKILL: no chance to clean up. (It fails only if the run already
        // ended, which the status below tells.)
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !status.success() {
            killed += 1;
        }
        // The first image is always there and whole.
        let raw = tool(
            "skopeo",
            &["inspect", &format!("oci:{}:v0", layout.display())],
        );
        assert!(raw.contains("\"Digest\""), "{raw}");
        read_json(&layout.join("index.json"));
    }
    let tags = assert_layout_valid(&layout, dir.path());
    assert!(tags.contains(&"v0".to_string()));
    eprintln!(
        "a whole run: {whole} ms; {killed} of 50 runs killed; {} tags in the layout",
        tags.len()
    );
    assert!(killed >= 10, "only {killed} of 50 runs were cut short");
    assert!(
        killed <= 47,
        "{killed} of 50 runs were cut short: none got far"
    );
}

/// A small tmpfs, unmounted when dropped.
struct SmallFs(PathBuf);

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing_half_written() {
    if !(require("root") && require("musl-gcc") && require("skopeo")) {
        return;
    }
    let dir = tempdir();
    let mount = dir.path().join("small");
    fs::create_dir_all(&mount).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mount)
        .status()
        .unwrap();
    assert!(ok.success(), "cannot mount a tmpfs");
    let _guard = SmallFs(mount.clone());
    let big = padded_binary(dir.path(), "big", 8, 3);
    let cache = dir.path().join("cache");
    let layout = mount.join("out");
    let package = |binary: &Path, tag: &str| {
        static_image(args![
            "package",
            binary.display(),
            "--output",
            format!("oci:{}:{tag}", layout.display()),
        ])
        .env("STATIC_IMAGE_CACHE_DIR", &cache)
        .run()
    };

    // A new layout that does not fit: an error, and the filesystem is as empty as before.
    let ran = package(&big, "v1").code(1);
    assert!(
        ran.stderr.contains("No space left on device"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("filesystem is full"), "{}", ran.stderr);
    assert!(ran.stdout.is_empty());
    assert_eq!(fs::read_dir(&mount).unwrap().count(), 0);

    // An existing layout that fits, then a tag that does not: the layout is unchanged.
    let small = padded_binary(dir.path(), "tiny", 0, 5);
    package(&small, "v1").ok();
    let listing = |p: &Path| {
        let mut names: Vec<_> = fs::read_dir(p.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let (index, blobs) = (
        fs::read(layout.join("index.json")).unwrap(),
        listing(&layout),
    );
    let ran = package(&big, "v2").code(1);
    assert!(
        ran.stderr.contains("No space left on device"),
        "{}",
        ran.stderr
    );
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), index);
    assert_eq!(listing(&layout), blobs);
    assert_layout_valid(&layout, dir.path());
}
