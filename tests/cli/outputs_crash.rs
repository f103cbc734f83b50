//! Crash safety of outputs: runs that race for one layout, runs killed at each point of a write
//! (seen on disk, not guessed from a clock), runs stopped by SIGINT, SIGTERM or SIGKILL while
//! they stage, and a filesystem that fills up. Every time, what was there before must still be
//! valid and read by skopeo, and nothing half-written may be left.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

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
    if !require(&["musl-gcc", "skopeo"]) {
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

/// Where a run is killed: when it is seen at one point of its write.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// As soon as it has started.
    Start,
    /// When one of its blob staging files is in `blobs/sha256`.
    BlobStaged,
    /// When a blob of its own has been renamed into `blobs/sha256`.
    BlobPlaced,
    /// When its `index.json` staging file is in the layout.
    IndexStaged,
}

/// Watches `layout` for `point` of the run `child` and SIGKILLs it there; true if the point was
/// seen before the run ended. The look is repeated until the run ends: no verdict depends on
/// how often it looks.
fn kill_at(
    child: &mut std::process::Child,
    layout: &Path,
    point: KillPoint,
    before: &[String],
) -> bool {
    let marker = format!(".tmp-{}-", child.id());
    let names = |dir: &Path| -> Vec<String> {
        fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let sha = layout.join("blobs/sha256");
    loop {
        let seen = match point {
            KillPoint::Start => true,
            KillPoint::BlobStaged => names(&sha).iter().any(|n| n.contains(&marker)),
            KillPoint::BlobPlaced => names(&sha)
                .iter()
                .any(|n| !n.starts_with('.') && !before.contains(n)),
            KillPoint::IndexStaged => names(layout)
                .iter()
                .any(|n| n.starts_with(".index.json.tmp-") && n.contains(&marker)),
        };
        if seen {
            // SIGKILL: no chance to clean up. (It fails only if the run already ended.)
            let _ = child.kill();
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn runs_killed_at_each_point_of_a_write_leave_the_layout_valid() {
    if !require(&["musl-gcc", "skopeo"]) {
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
    let big = padded_binary(dir.path(), "big", 2, 7);
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
    let points = [
        KillPoint::Start,
        KillPoint::BlobStaged,
        KillPoint::BlobPlaced,
        KillPoint::IndexStaged,
    ];
    let mut seen = Vec::new();
    for round in 0..12u64 {
        // New bytes every round, so every run has new layers to write.
        let at = bytes.len() - 8;
        bytes[at..].copy_from_slice(&round.to_le_bytes());
        fs::write(&big, &bytes).unwrap();
        let point = points[round as usize % points.len()];
        let before: Vec<String> = fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut child = run(format!("k{round}"));
        if kill_at(&mut child, &layout, point, &before) {
            seen.push(point);
        }
        child.wait().unwrap();
        // The first image is always there and whole, and the index is whole JSON.
        let raw = tool(
            "skopeo",
            &["inspect", &format!("oci:{}:v0", layout.display())],
        );
        assert!(raw.contains("\"Digest\""), "{raw}");
        read_json(&layout.join("index.json"));
    }
    eprintln!("killed at {seen:?}");
    // A whole run afterwards lands, and sweeps what the killed runs left.
    let ran = run("after".into()).wait_with_output().unwrap();
    Ran::of(ran).ok();
    let tags = assert_layout_valid(&layout, dir.path());
    assert!(tags.contains(&"v0".to_string()) && tags.contains(&"after".to_string()));
    let stray: Vec<_> = fs::read_dir(&layout)
        .unwrap()
        .chain(fs::read_dir(layout.join("blobs/sha256")).unwrap())
        .chain(fs::read_dir(dir.path()).unwrap())
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// Starts a run writing `output`, watches `dir` for its staging entry (`.NAME.tmp-PID-N`) and
/// sends `signal` once it is there. Returns the staging name, or None if the run ended first.
fn signal_while_staged(
    app: &Path,
    output: String,
    cache: &Path,
    dir: &Path,
    signal: libc::c_int,
) -> (Option<String>, std::process::ExitStatus) {
    let mut child: Child = Command::new(bin())
        .args(["--color=never", "package"])
        .arg(app)
        .args(["--name", "app", "--compression", "none", "-o", &output])
        .env("STATIC_IMAGE_CACHE_DIR", cache)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let marker = format!(".tmp-{}-", child.id());
    loop {
        let staged = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.contains(&marker));
        if let Some(name) = staged {
            // SAFETY: sends a signal to our own child, which has not been waited for.
            unsafe { libc::kill(child.id() as i32, signal) };
            return (Some(name), child.wait().unwrap());
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (None, status);
        }
        // How often to look; no verdict depends on it.
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// [`signal_while_staged`] with ever bigger binaries until a run is caught with its staging
/// entry on disk and dies of the signal.
/// Returns the staging file seen, how the run ended, and what staging it left in its cache
/// folder (the blob store it made layers in).
fn interrupt(
    dir: &Path,
    output: &Path,
    signal: libc::c_int,
) -> (String, std::process::ExitStatus, Vec<String>) {
    let spec = format!("oci-archive:{}", output.display());
    for (round, megabytes) in [16, 48, 128, 256].into_iter().enumerate() {
        let app = padded_binary(dir, "big", megabytes, round as u64 + 11);
        let cache = dir.join(format!("cache-{signal}-{round}"));
        let (staged, status) =
            signal_while_staged(&app, spec.clone(), &cache, output.parent().unwrap(), signal);
        // The blob store is a `.staging…` folder at the top of the cache.
        let left: Vec<String> = fs::read_dir(&cache)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".staging"))
            .collect();
        fs::remove_dir_all(&cache).ok();
        if let Some(name) = staged
            && status.signal() == Some(signal)
        {
            return (name, status, left);
        }
    }
    panic!("no run was seen with its staging file on disk");
}

#[test]
fn sigint_and_sigterm_remove_staging_and_leave_the_old_archive() {
    if !require(&["musl-gcc", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let outputs = dir.path().join("outputs");
    fs::create_dir(&outputs).unwrap();
    let archive = outputs.join("app.tar");
    let small = musl_app(dir.path(), "hi");
    run_within(
        package_args(&small, format!("oci-archive:{}", archive.display()), &[]),
        &dir.path().join("cache"),
        Duration::from_secs(120),
    )
    .0
    .ok();
    let old = fs::read(&archive).unwrap();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let (staged, status, left) = interrupt(dir.path(), &archive, signal);
        assert!(staged.starts_with(".app.tar.tmp-"), "{staged}");
        assert_eq!(
            left,
            Vec::<String>::new(),
            "the blob store must be gone too"
        );
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        // What a shell reports: 128 + the signal (130 for SIGINT, 143 for SIGTERM).
        assert_eq!(
            128 + status.signal().unwrap(),
            if signal == libc::SIGINT { 130 } else { 143 }
        );
        assert_eq!(
            listing(&outputs),
            ["app.tar"],
            "staging must be gone at once"
        );
        assert_eq!(fs::read(&archive).unwrap(), old);
    }
}

#[test]
fn staging_left_by_a_killed_run_is_swept_by_the_next_run() {
    if !require(&["musl-gcc", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let outputs = dir.path().join("outputs");
    fs::create_dir(&outputs).unwrap();
    let archive = outputs.join("app.tar");
    let (staged, status, left) = interrupt(dir.path(), &archive, libc::SIGKILL);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // The blob store the layers were made in is left too (the next run there sweeps it).
    assert!(
        left.iter().any(|name| name.starts_with(".staging.tmp-")),
        "{left:?}"
    );
    // SIGKILL gives no chance to clean up: the entry is there.
    assert_eq!(listing(&outputs), [staged.as_str()]);
    let app = musl_app(dir.path(), "hi");
    run_within(
        package_args(&app, format!("oci-archive:{}", archive.display()), &[]),
        &dir.path().join("cache"),
        Duration::from_secs(120),
    )
    .0
    .ok();
    assert_eq!(listing(&outputs), ["app.tar"]);
    let inspect = tool(
        "skopeo",
        &["inspect", &format!("oci-archive:{}", archive.display())],
    );
    assert!(inspect.contains("\"Digest\""), "{inspect}");
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
    if !require(&["root", "musl-gcc", "skopeo"]) {
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
