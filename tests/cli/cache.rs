//! What a run remembers, and when it may trust it: the layer cache (keyed by content, reused
//! without compressing, never trusted blindly), the record of a whole run (a run with nothing
//! changed is answered from it, and only then: any change to what it read or wrote makes it do
//! the work again), and cargo's answers a rebuild starts from while its plan still holds.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// Packages `exe` into `oci:layout:t` with the cache at `cache`; returns the JSON outcome.
fn package(exe: &Path, layout: &Path, cache: &Path, extra: &[&str]) -> (Value, String) {
    package_app(exe, &format!("oci:{}:t", layout.display()), cache, extra)
}

fn cached(outcome: &Value) -> Vec<bool> {
    outcome["image"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["cached"].as_bool().unwrap())
        .collect()
}

fn layer_digest(outcome: &Value, i: usize) -> String {
    outcome["image"]["layers"][i]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn binary(dir: &Path) -> PathBuf {
    musl_app(dir, "cached")
}

#[test]
fn the_same_bytes_are_reused_and_one_changed_byte_is_not() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let cache = dir.path().join("cache");
    let exe = binary(dir.path());
    let (first, _) = package(&exe, &dir.path().join("a"), &cache, &[]);
    assert_eq!(cached(&first), [false, false]);

    // A copy elsewhere has other inode and times but the same bytes: both layers come back.
    let copy = dir.path().join("copy/app");
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    fs::copy(&exe, &copy).unwrap();
    let (again, _) = package(&copy, &dir.path().join("b"), &cache, &[]);
    assert_eq!(cached(&again), [true, true]);
    assert_eq!(again["digest"], first["digest"]);

    // One byte more (appended: the ELF stays valid) is another app layer; the base is shared.
    let mut bytes = fs::read(&copy).unwrap();
    bytes.push(0);
    fs::write(&copy, &bytes).unwrap();
    let (changed, _) = package(&copy, &dir.path().join("c"), &cache, &[]);
    assert_eq!(cached(&changed), [true, false]);
    assert_ne!(layer_digest(&changed, 1), layer_digest(&first, 1));
    assert_eq!(layer_digest(&changed, 0), layer_digest(&first, 0));

    // --no-cache compresses everything again, to the same bytes.
    let (fresh, _) = package(&exe, &dir.path().join("d"), &cache, &["--no-cache"]);
    assert_eq!(cached(&fresh), [false, false]);
    assert_eq!(fresh["digest"], first["digest"]);
}

#[test]
fn a_damaged_cache_entry_is_detected_rebuilt_and_never_shipped() {
    if !require(&["musl-gcc", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let cache = dir.path().join("cache");
    let exe = binary(dir.path());
    let (first, _) = package(&exe, &dir.path().join("a"), &cache, &[]);
    let app = layer_digest(&first, 1);

    // Same size, other bytes: only hashing can tell.
    let cached_blob = blob(&cache, &app);
    let mut bytes = fs::read(&cached_blob).unwrap();
    for b in bytes.iter_mut().skip(20).take(64) {
        *b ^= 0xff;
    }
    fs::write(&cached_blob, &bytes).unwrap();

    let layout = dir.path().join("b");
    let (second, stderr) = package(&exe, &layout, &cache, &[]);
    assert!(
        stderr.contains(&format!("the cached layer `{app}` was damaged")),
        "{stderr}"
    );
    assert_eq!(cached(&second), [true, false]);
    assert_eq!(second["digest"], first["digest"]);
    // The layout holds the right bytes: skopeo checks every blob's digest as it copies.
    let spec = format!("oci:{}:t", layout.display());
    tool(
        "skopeo",
        &[
            "copy",
            &spec,
            &format!("oci:{}:t", dir.path().join("check").display()),
        ],
    );
    // And the cache holds them again.
    let (third, _) = package(&exe, &dir.path().join("c"), &cache, &[]);
    assert_eq!(cached(&third), [true, true]);
}

/// What a replayed run says under `-v`.
const REPLAYED: &str = "its outcome stands";

/// A record is written only for inputs that last changed over a second before the run.
fn settle() {
    std::thread::sleep(Duration::from_millis(1100));
}

/// `package` as `package_app` does it, verbose.
fn package_verbose(exe: &Path, output: &str, cache: &Path, extra: &[&str]) -> (Value, String) {
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
    if !require(&["musl-gcc", "skopeo"]) {
        return;
    }
    let (dir, cache, exe, _, output) = setup();

    let (first, stderr) = package_verbose(&exe, &output, &cache, &[]);
    assert!(!stderr.contains(REPLAYED), "{stderr}");
    let (replayed, stderr) = package_verbose(&exe, &output, &cache, &[]);
    assert!(stderr.contains(REPLAYED), "{stderr}");
    assert!(
        !stderr.contains("reused cached layer"),
        "nothing read: {stderr}"
    );
    assert_eq!(replayed["digest"], first["digest"]);
    assert!(all_cached(&replayed), "{replayed:#}");

    // The same report as a run that does the work (whose layers all come from the cache).
    fs::remove_dir_all(cache.join("runs")).unwrap();
    let (full, stderr) = package_verbose(&exe, &output, &cache, &[]);
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
    if !require(&["musl-gcc", "skopeo"]) {
        return;
    }
    let (dir, cache, exe, layout, output) = setup();
    let (first, _) = package_verbose(&exe, &output, &cache, &[]);
    // Each change below is checked against a record that held just before it.
    let replays = |extra: &[&str]| {
        let (outcome, stderr) = package_verbose(&exe, &output, &cache, extra);
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
    let (other, _) = package_verbose(&exe, &output, &cache, &["--label", "other=1"]);
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
    let (changed, stderr) = package_verbose(&exe, &output, &cache, &[]);
    assert!(!stderr.contains(REPLAYED), "{stderr}");
    assert_ne!(changed["digest"], first["digest"]);
    fs::write(&exe, &bytes).unwrap();
    assert!(!replays(&[]));

    // An archive: answered while it is there, written again when it is not.
    settle();
    let archive = dir.path().join("app.tar");
    let spec = format!("oci-archive:{}:t", archive.display());
    let (a, _) = package_verbose(&exe, &spec, &cache, &[]);
    let (b, stderr) = package_verbose(&exe, &spec, &cache, &[]);
    assert!(stderr.contains(REPLAYED), "{stderr}");
    assert_eq!(a, b);
    fs::remove_file(&archive).unwrap();
    let (_, stderr) = package_verbose(&exe, &spec, &cache, &[]);
    assert!(!stderr.contains(REPLAYED), "{stderr}");
    skopeo_inspect(&spec, false);
}

#[test]
fn runs_that_read_what_stamps_cannot_vouch_for_are_never_recorded() {
    if !require(&["musl-gcc"]) {
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
        let (_, stderr) = package_verbose(&exe, &output, &cache, &["--add", &add]);
        assert!(!stderr.contains(REPLAYED), "{stderr}");
    }
    assert!(!cache.join("runs").exists());
}

/// A no-op `build` is answered from the record while cargo, started ahead, finds nothing to
/// do; a source change rebuilds the binary, and the image follows.
#[test]
fn a_no_op_build_is_answered_and_a_source_change_is_not() {
    if !require(&["rust-musl"]) {
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

/// The second build starts cargo from the first build's answers: while nothing they depend on
/// has changed they are trusted (cargo metadata and rustc are not asked again); when
/// Cargo.toml or the files that make targets change, they are asked again, and a cargo started
/// on the old answers is set aside if the new plan differs.
#[test]
fn a_rebuild_starts_cargo_early_only_while_the_plan_holds() {
    if !require(&["rust-musl"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    // Answers are kept only when the files they were worked out from had settled.
    settle();
    let layout = dir.path().join("layout");
    let build = |verbose: bool| {
        let mut args = vec![
            "build".to_string(),
            project.display().to_string(),
            "--output".into(),
            format!("oci:{}:test", layout.display()),
        ];
        if verbose {
            args.push("-v".into());
        }
        static_image(&args).run().ok()
    };
    let first = build(false);
    let again = build(true);
    assert!(
        again
            .stderr
            .contains("started ahead from the last build's answers"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("not asking again"),
        "{}",
        again.stderr
    );
    assert!(
        !again.stderr.contains("+ cargo metadata"),
        "{}",
        again.stderr
    );
    assert_eq!(first.digest(), again.digest());

    // Rename the binary: the remembered `--bin rust-hello` no longer fits.
    let manifest = project.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replace(
            "[workspace]",
            "[[bin]]\nname = \"renamed\"\npath = \"src/main.rs\"\n\n[workspace]",
        ),
    )
    .unwrap();
    settle();
    let renamed = build(true);
    assert!(
        renamed.stderr.contains("no longer hold"),
        "{}",
        renamed.stderr
    );
    assert!(!renamed.stderr.contains("not asking again"));
    assert!(
        renamed.stderr.contains("cargo metadata"),
        "{}",
        renamed.stderr
    );
    let config = skopeo_inspect(&format!("oci:{}:test", layout.display()), true);
    assert_eq!(config["config"]["Entrypoint"][0], "/app/renamed");
    // And the answers learnt now serve the next build.
    let third = build(true);
    assert!(third.stderr.contains("started ahead"), "{}", third.stderr);
    assert!(
        third.stderr.contains("not asking again"),
        "{}",
        third.stderr
    );
    assert_eq!(third.digest(), renamed.digest());

    // A new file in src/bin is a new target: the answers are asked for again, and the
    // project now has two binaries to choose from.
    fs::create_dir_all(project.join("src/bin")).unwrap();
    fs::write(project.join("src/bin/extra.rs"), "fn main() {}\n").unwrap();
    let mut args = args![
        "-v",
        "build",
        project.display(),
        "--output",
        format!("oci:{}:test", layout.display()),
    ];
    let two = static_image(&args).run().code(1);
    assert!(
        two.stderr.contains("several binary targets"),
        "{}",
        two.stderr
    );
    args.extend(["--bin".to_string(), "extra".to_string()]);
    let extra = static_image(&args).run().ok();
    assert!(
        !extra.stderr.contains("not asking again"),
        "{}",
        extra.stderr
    );
    let config = skopeo_inspect(&format!("oci:{}:test", layout.display()), true);
    assert_eq!(config["config"]["Entrypoint"][0], "/app/extra");
}
