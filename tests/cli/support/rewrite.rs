//! What the hostile-image tests start from and measure with: a layout the tool writes, rewritten
//! blob by blob with fresh digests, and the cost of a run (time, CPU, peak memory, disk).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::{Ran, Run, blob, compile_c, read_json, require, static_image, tempdir};

pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A layout written by the tool (tag `v1`) around a tiny static program, to be rewritten.
pub struct Image {
    pub _dir: tempfile::TempDir,
    pub dir: PathBuf,
    pub layout: PathBuf,
    pub app: PathBuf,
}

impl Image {
    pub fn new() -> Option<Image> {
        if !require("musl-gcc") {
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

    pub fn manifest(&self) -> Value {
        read_json(&blob(&self.layout, self.root()["digest"].as_str().unwrap()))
    }

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

/// What a run cost: its wall time, its peak resident memory (VmHWM, polled from
/// `/proc/<pid>/status`) and the most bytes it held at once under its own TMPDIR.
pub struct Cost {
    pub wall: Duration,
    /// User and system CPU time: what the work cost, whatever else the machine is doing.
    pub cpu: Duration,
    pub peak_rss_kib: u64,
    pub peak_tmp_bytes: u64,
}

/// Runs `run` with TMPDIR at `tmp`, killing it (and failing) past `limit`.
pub fn measured(run: Run, tmp: &Path, limit: Duration) -> (Ran, Cost) {
    fs::create_dir_all(tmp).unwrap();
    let start = Instant::now();
    let mut child = run.env("TMPDIR", tmp).spawn();
    let status_path = format!("/proc/{}/status", child.id());
    // Read the pipes while polling, so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut s).unwrap();
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut s).unwrap();
        s
    });
    let (mut peak_rss_kib, mut peak_tmp_bytes, mut cpu_ticks) = (0, 0, 0);
    let stat_path = format!("/proc/{}/stat", child.id());
    let status = loop {
        if let Ok(text) = fs::read_to_string(&status_path)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_rss_kib = peak_rss_kib.max(kib);
        }
        peak_tmp_bytes = peak_tmp_bytes.max(bytes_under(tmp));
        // utime and stime, the 14th and 15th fields, after the parenthesised command name.
        if let Ok(text) = fs::read_to_string(&stat_path)
            && let Some((_, rest)) = text.rsplit_once(')')
        {
            let fields: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            cpu_ticks = cpu_ticks.max(fields.iter().sum());
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ran = Ran::of(std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    });
    let cost = Cost {
        wall: start.elapsed(),
        // Clock ticks are 1/100 s on Linux.
        cpu: Duration::from_millis(cpu_ticks * 10),
        peak_rss_kib,
        peak_tmp_bytes,
    };
    (ran, cost)
}

/// The bytes of every file below `dir` (allocated blocks: a sparse file counts what it holds).
pub fn bytes_under(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            total += bytes_under(&entry.path());
        } else {
            total += meta.blocks() * 512;
        }
    }
    total
}
