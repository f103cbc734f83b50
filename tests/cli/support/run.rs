//! Running the binary under test and the tools around it: [`static_image`] builds a run with
//! colour off and a pinned environment, [`Ran`] is its finished result, [`tool`] runs anything
//! else and insists it succeeds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `static-image` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_static-image"))
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

/// Runs `static-image ARGS…` and fails the test if it takes longer than `limit` (a FIFO that
/// is read would block forever); returns the run and its wall time.
pub fn run_within(args: Vec<String>, cache: &Path, limit: Duration) -> (Ran, Duration) {
    let started = Instant::now();
    let mut child = static_image(args)
        .env("STATIC_IMAGE_CACHE_DIR", cache)
        .spawn();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the run took more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    (Ran::of(child.wait_with_output().unwrap()), elapsed)
}

/// `package APP --name app -o OUTPUT EXTRA…` as words.
pub fn package_args(app: &Path, output: String, extra: &[&str]) -> Vec<String> {
    let mut words = args!["package", app.display(), "--name", "app", "-o", output];
    words.extend(extra.iter().map(|s| s.to_string()));
    words
}

/// `build PROJECT --output oci:LAYOUT:test EXTRA…`, which must succeed; returns the digest.
pub fn build_into(project: &Path, layout: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "build".to_string(),
        project.display().to_string(),
        "--output".into(),
        format!("oci:{}:test", layout.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    static_image(&args).run().ok().digest()
}
