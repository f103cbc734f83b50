//! What the hostile-image tests start from: a layout the tool writes around a tiny static
//! program, then rewritten blob by blob with fresh digests into the image a test needs.

use std::fs;
use std::path::PathBuf;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::fixtures::tempdir;
use super::layout::{blob, read_json};
use super::programs::compile_c;
use super::run::{Ran, Run, static_image};
use super::tools::require;

/// The media type of an image index.
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The media type of an image manifest.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A layout written by the tool (tag `v1`) around a tiny static program, to be rewritten.
pub struct Image {
    /// Kept so the directory lives as long as the image.
    pub _dir: tempfile::TempDir,
    /// The test's directory (the program, the layout, the layer cache).
    pub dir: PathBuf,
    /// The layout.
    pub layout: PathBuf,
    /// The program packaged in it.
    pub app: PathBuf,
}

impl Image {
    /// Writes it; None (the test skips) without musl-gcc.
    pub fn new() -> Option<Image> {
        if !require(&["musl-gcc"]) {
            return None;
        }
        let dir = tempdir();
        let path = dir.path().to_owned();
        let app = compile_c(
            "musl-gcc",
            &["-static"],
            "int main(void){return 0;}\n",
            &path,
            "tiny",
        );
        let layout = path.join("image");
        static_image(args![
            "package",
            app.display(),
            "--name",
            "tiny",
            "--ca-bundle",
            "builtin",
            "--output",
            format!("oci:{}:v1", layout.display()),
        ])
        .env("STATIC_IMAGE_CACHE_DIR", path.join("cache"))
        .run()
        .ok();
        Some(Image {
            _dir: dir,
            dir: path,
            layout,
            app,
        })
    }

    /// `oci:LAYOUT:v1`.
    pub fn spec(&self) -> String {
        format!("oci:{}:v1", self.layout.display())
    }

    /// The `index.json` entry tagged `v1`.
    pub fn root(&self) -> Value {
        let index = read_json(&self.layout.join("index.json"));
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
            .unwrap()
            .clone()
    }

    /// The manifest tagged `v1`.
    pub fn manifest(&self) -> Value {
        read_json(&blob(&self.layout, self.root()["digest"].as_str().unwrap()))
    }

    /// Its config.
    pub fn config(&self) -> Value {
        let manifest = self.manifest();
        read_json(&blob(
            &self.layout,
            manifest["config"]["digest"].as_str().unwrap(),
        ))
    }

    /// Stores `bytes` as a blob; returns a descriptor of `media_type` for it.
    pub fn put(&self, media_type: &str, bytes: &[u8]) -> Value {
        let digest = sha256(bytes);
        fs::write(blob(&self.layout, &digest), bytes).unwrap();
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    /// Points the tag `v1` at `descriptor`.
    pub fn retag(&self, mut descriptor: Value) {
        let path = self.layout.join("index.json");
        let mut index = read_json(&path);
        descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": "v1"});
        for entry in index["manifests"].as_array_mut().unwrap() {
            if entry["annotations"]["org.opencontainers.image.ref.name"] == "v1" {
                *entry = descriptor.clone();
            }
        }
        fs::write(path, serde_json::to_vec(&index).unwrap()).unwrap();
    }

    /// Writes `manifest` (and `config`, when given) and tags it `v1`.
    pub fn rewrite(&self, mut manifest: Value, config: Option<Value>) {
        if let Some(config) = config {
            let config = self.put(
                "application/vnd.oci.image.config.v1+json",
                &serde_json::to_vec(&config).unwrap(),
            );
            manifest["config"] = config;
        }
        let mut descriptor = self.put(MANIFEST, &serde_json::to_vec(&manifest).unwrap());
        descriptor["platform"] = json!({"os": "linux", "architecture": "amd64"});
        self.retag(descriptor);
    }

    /// The app layer's descriptor, and its blob's path.
    pub fn app_layer(&self) -> (Value, PathBuf) {
        let layer = self.manifest()["layers"][1].clone();
        let path = blob(&self.layout, layer["digest"].as_str().unwrap());
        (layer, path)
    }

    /// `verify SPEC EXTRA…`.
    pub fn verify(&self, extra: &[&str]) -> Run {
        let mut words = args!["verify", self.spec()];
        words.extend(extra.iter().map(|s| s.to_string()));
        static_image(words)
    }

    /// `package APP --base SPEC -o oci:OUT`, which must fail and write nothing.
    pub fn package_on(&self, base: &str, extra: &[&str]) -> Ran {
        let out = self.dir.join("out");
        let mut words = args![
            "package",
            self.app.display(),
            "--ca-bundle",
            "builtin",
            "--base",
            base,
            "--output",
            format!("oci:{}", out.display()),
        ];
        words.extend(extra.iter().map(|s| s.to_string()));
        let ran = static_image(words)
            .env("STATIC_IMAGE_CACHE_DIR", self.dir.join("cache"))
            .run()
            .code(1);
        assert!(!out.exists(), "a refused base wrote an image");
        assert!(ran.stdout.is_empty(), "{}", ran.stdout);
        ran
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// The `error:` lines of a run's stderr (the first line of each error, without causes).
pub fn errors(ran: &Ran) -> Vec<String> {
    ran.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
        .collect()
}
