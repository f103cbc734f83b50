//! Reading what a run wrote: an OCI layout's index, manifests and blobs, a layer's tar
//! entries, and `skopeo inspect` of any image reference.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::run::tool;

/// `skopeo inspect [--config] SPEC` as JSON.
pub fn skopeo_inspect(spec: &str, config: bool) -> Value {
    let mut args = vec!["inspect"];
    if config {
        args.push("--config");
    }
    args.push(spec);
    serde_json::from_str(&tool("skopeo", &args)).expect("skopeo prints JSON")
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).expect("read json")).expect("valid json")
}

/// The blob `digest` of a layout.
pub fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// A tar entry as the tests compare them.
#[derive(Debug, PartialEq, Eq)]
pub struct TarEntry {
    /// Path in the archive.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time.
    pub mtime: u64,
    /// Contents (files).
    pub data: Vec<u8>,
}

/// Every entry of a gzip layer blob, in archive order.
pub fn layer_entries(path: &Path) -> Vec<TarEntry> {
    let gz = flate2::read::GzDecoder::new(fs::File::open(path).expect("open layer"));
    let mut archive = tar::Archive::new(gz);
    archive
        .entries()
        .expect("tar")
        .map(|e| {
            let mut e = e.expect("entry");
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("read entry");
            TarEntry {
                path: String::from_utf8(e.path_bytes().into_owned()).expect("utf8 path"),
                mode: h.mode().expect("mode"),
                uid: h.uid().expect("uid"),
                gid: h.gid().expect("gid"),
                mtime: h.mtime().expect("mtime"),
                data,
            }
        })
        .collect()
}

/// The manifest a layout's index points at under `tag`.
pub fn manifest_for(layout: &Path, tag: &str) -> Value {
    let index = read_json(&layout.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no `{tag}` in {index}"))
        .clone();
    read_json(&blob(layout, entry["digest"].as_str().expect("digest")))
}

/// Label and env maps from `skopeo inspect --config` output.
pub fn config_of(inspect: &Value) -> (BTreeMap<String, String>, Vec<String>) {
    let cfg = &inspect["config"];
    let labels = cfg["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let env = cfg["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    (labels, env)
}

/// `oci:LAYOUT:TAG`.
pub fn layout_spec(layout: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", layout.display())
}
