//! The layer cache: keyed by content, reused without compressing, and never trusted blindly.

use std::fs;
use std::path::{Path, PathBuf};

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
    if !require("musl-gcc") {
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
    if !(require("musl-gcc") && require("skopeo")) {
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
