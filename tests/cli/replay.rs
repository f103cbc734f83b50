//! A run with nothing changed is answered from the last run's record, and only then: any
//! change to what it read or wrote makes it do the work again.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// What a replayed run says under `-v`.
const REPLAYED: &str = "its outcome stands";

/// A record is written only for inputs that last changed over a second before the run.
fn settle() {
    std::thread::sleep(Duration::from_millis(1100));
}

/// `package` as `package_app` does it, verbose.
fn package(exe: &Path, output: &str, cache: &Path, extra: &[&str]) -> (Value, String) {
    let mut words = vec!["-v"];
    words.extend(extra);
    package_app(exe, output, cache, &words)
}

/// A new directory with a settled binary, a cache and an `oci:` layout (path and spec).
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf, String) {
    let dir = tempdir();
    let exe = musl_app(dir.path(), "again");
    settle();
    let layout = dir.path().join("out");
    let output = format!("oci:{}:t", layout.display());
    let cache = dir.path().join("cache");
    (dir, cache, exe, layout, output)
}

/// Whether every layer the outcome lists is marked as taken from the cache.
fn all_cached(outcome: &Value) -> bool {
    let images = outcome["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["image"])
        .chain([&outcome["image"]]);
    images
        .flat_map(|i| i["layers"].as_array().unwrap())
        .all(|l| l["cached"] == true)
}

#[test]
fn an_unchanged_run_is_answered_from_its_record_with_what_the_full_run_reports() {
    if !(require("musl-gcc") && require("skopeo")) {
        return;
    }
    let (dir, cache, exe, _, output) = setup();

    let (first, stderr) = package(&exe, &output, &cache, &[]);
    assert!(!stderr.contains(REPLAYED), "{stderr}");
    let (replayed, stderr) = package(&exe, &output, &cache, &[]);
    assert!(stderr.contains(REPLAYED), "{stderr}");
    assert!(
        !stderr.contains("reused cached layer"),
        "nothing read: {stderr}"
    );
    assert_eq!(replayed["digest"], first["digest"]);
    assert!(all_cached(&replayed), "{replayed:#}");

    // The same report as a run that does the work (whose layers all come from the cache).
    fs::remove_dir_all(cache.join("runs")).unwrap();
    let (full, stderr) = package(&exe, &output, &cache, &[]);
    assert!(!stderr.contains(REPLAYED), "{stderr}");
    assert!(stderr.contains("reused cached layer"), "{stderr}");
    assert_eq!(replayed, full);

    // And the same lines for a person.
    let human = || package_run(&exe, &output, &cache, &[]).run().ok();
    fs::remove_dir_all(cache.join("runs")).unwrap();
    let worked = human();
    let answered = human();
    assert!(worked.stderr.contains("Verified"), "{}", worked.stderr);
    assert_eq!(worked.stderr, answered.stderr);
    assert_eq!(worked.stdout, answered.stdout);
    // The layout is whole: skopeo checks every blob's digest as it copies.
    let copy = format!("oci:{}:t", dir.path().join("copy").display());
    tool("skopeo", &["copy", &output, &copy]);
}

#[test]
fn a_change_to_what_a_run_read_or_wrote_makes_it_work_again() {
    if !(require("musl-gcc") && require("skopeo")) {
        return;
    }
    let (dir, cache, exe, layout, output) = setup();
    let (first, _) = package(&exe, &output, &cache, &[]);
    // Each change below is checked against a record that held just before it.
    let replays = |extra: &[&str]| {
        let (outcome, stderr) = package(&exe, &output, &cache, extra);
        assert_eq!(outcome["digest"], first["digest"]);
        stderr.contains(REPLAYED)
    };
    assert!(replays(&[]));

    // A blob gone from the layout: written again.
    let config = first["image"]["config"].as_str().unwrap();
    fs::remove_file(blob(&layout, config)).unwrap();
    assert!(!replays(&[]));
    assert!(blob(&layout, config).is_file());
    assert!(replays(&[]));

    // index.json written again with the very same bytes: still not trusted.
    let index = layout.join("index.json");
    fs::write(&index, fs::read(&index).unwrap()).unwrap();
    assert!(!replays(&[]));
    assert!(replays(&[]));

    // Another tag moved onto another image in the same layout: this one is written again.
    let (other, _) = package(&exe, &output, &cache, &["--label", "other=1"]);
    assert_ne!(other["digest"], first["digest"]);
    assert!(!replays(&[]));
    let tagged = skopeo_inspect(&output, false);
    assert_eq!(
        tagged["Digest"].as_str(),
        first["digest"].as_str(),
        "{tagged:#}"
    );

    // Another SOURCE_DATE_EPOCH is another image, never the recorded one.
    let ran = package_run(&exe, &output, &cache, &["--json"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run()
        .ok();
    let dated: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_ne!(dated["digest"], first["digest"]);

    assert!(!replays(&[]));
    assert!(replays(&[]));

    // The binary written afresh with the same bytes (as `go build -o` does): still answered,
    // binaries are compared by contents.
    let bytes = fs::read(&exe).unwrap();
    fs::remove_file(&exe).unwrap();
    fs::write(&exe, &bytes).unwrap();
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(replays(&[]));
    // One byte more (appended: the ELF stays valid) is another image.
    let mut longer = bytes.clone();
    longer.push(0);
    fs::write(&exe, &longer).unwrap();
    let (changed, stderr) = package(&exe, &output, &cache, &[]);
    assert!(!stderr.contains(REPLAYED), "{stderr}");
    assert_ne!(changed["digest"], first["digest"]);
    fs::write(&exe, &bytes).unwrap();
    assert!(!replays(&[]));

    // An archive: answered while it is there, written again when it is not.
    settle();
    let archive = dir.path().join("app.tar");
    let spec = format!("oci-archive:{}:t", archive.display());
    let (a, _) = package(&exe, &spec, &cache, &[]);
    let (b, stderr) = package(&exe, &spec, &cache, &[]);
    assert!(stderr.contains(REPLAYED), "{stderr}");
    assert_eq!(a, b);
    fs::remove_file(&archive).unwrap();
    let (_, stderr) = package(&exe, &spec, &cache, &[]);
    assert!(!stderr.contains(REPLAYED), "{stderr}");
    skopeo_inspect(&spec, false);
}

#[test]
fn runs_that_read_what_stamps_cannot_vouch_for_are_never_recorded() {
    if !require("musl-gcc") {
        return;
    }
    let dir = tempdir();
    let cache = dir.path().join("cache");
    let exe = musl_app(dir.path(), "again");
    let extra = dir.path().join("extra.txt");
    fs::write(&extra, "one").unwrap();
    settle();
    let output = format!("oci:{}:t", dir.path().join("out").display());
    let add = format!("{}:/etc/extra.txt", extra.display());
    for _ in 0..2 {
        let (_, stderr) = package(&exe, &output, &cache, &["--add", &add]);
        assert!(!stderr.contains(REPLAYED), "{stderr}");
    }
    assert!(!cache.join("runs").exists());
}

/// A no-op `build` is answered from the record while cargo, started ahead, finds nothing to
/// do; a source change rebuilds the binary, and the image follows.
#[test]
fn a_no_op_build_is_answered_and_a_source_change_is_not() {
    if !require("rust-musl") {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    let build = || {
        static_image(args![
            "-v",
            "build",
            project.display(),
            "--output",
            format!("oci:{}:test", layout.display())
        ])
        .run()
        .ok()
    };
    let first = build();
    settle();
    build();
    let again = build();
    assert!(again.stderr.contains(REPLAYED), "{}", again.stderr);
    assert!(again.stderr.contains("started ahead"), "{}", again.stderr);
    assert_eq!(again.digest(), first.digest());

    let main = project.join("src/main.rs");
    let text = fs::read_to_string(&main).unwrap();
    fs::write(
        &main,
        text.replace("fn main() {", "fn main() {\n    println!(\"changed\");"),
    )
    .unwrap();
    let changed = build();
    assert!(!changed.stderr.contains(REPLAYED), "{}", changed.stderr);
    assert_ne!(changed.digest(), first.digest());

    // Other build flags: the last command is not started ahead, but the build is right.
    let offline = static_image(args![
        "-v",
        "build",
        project.display(),
        "--offline",
        "--output",
        format!("oci:{}:test", layout.display())
    ])
    .run()
    .ok();
    assert!(
        !offline.stderr.contains("started ahead"),
        "{}",
        offline.stderr
    );
    assert_eq!(offline.digest(), changed.digest());
}
