//! Running an image as a runtime would: unpacked by umoci into a bundle, started by runc from
//! that rootfs alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::layout::read_json;
use super::run::tool;

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
    let bundle = unpack_bundle(layout, tag, work, host_network, &mut |args| {
        args.extend(extra_args.iter().map(|a| Value::String(a.to_string())));
    });
    run_bundle(&bundle, work)
}

/// [`run_in_runc`] with the process's whole command line replaced by `argv` (another program
/// of the image than its entrypoint); each run unpacks into its own folder under `work`.
pub fn run_argv_in_runc(layout: &Path, tag: &str, work: &Path, argv: &[&str]) -> (i32, String) {
    let bundle = unpack_bundle(layout, tag, work, false, &mut |args| {
        *args = argv.iter().map(|a| Value::String(a.to_string())).collect();
    });
    run_bundle(&bundle, work)
}

/// Runs the unpacked `bundle` to its end with runc; (exit code, stdout and stderr).
fn run_bundle(bundle: &Path, work: &Path) -> (i32, String) {
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
        .arg(bundle)
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

/// Unpacks `layout:tag` into `work/bundle` and edits its runtime config: no TTY, the command
/// line edited by `edit_args`, the host's network with `host_network`.
fn unpack_bundle(
    layout: &Path,
    tag: &str,
    work: &Path,
    host_network: bool,
    edit_args: &mut dyn FnMut(&mut Vec<Value>),
) -> PathBuf {
    fs::create_dir_all(work).expect("work dir");
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
        edit_args(args);
    }
    if host_network && let Some(namespaces) = config["linux"]["namespaces"].as_array_mut() {
        namespaces.retain(|n| n["type"] != "network");
    }
    fs::write(&config_path, serde_json::to_vec(&config).expect("json")).expect("write config");
    bundle
}

/// A server started with runc from an image's rootfs alone, in the host's network namespace
/// (it listens on the host's 127.0.0.1); killed and deleted when dropped.
pub struct RuncServer {
    state: PathBuf,
    id: String,
    child: Child,
    log: PathBuf,
}

impl RuncServer {
    /// Starts `layout:tag` with `extra_args` appended to its command line.
    pub fn start(layout: &Path, tag: &str, work: &Path, extra_args: &[&str]) -> RuncServer {
        let bundle = unpack_bundle(layout, tag, work, true, &mut |args| {
            args.extend(extra_args.iter().map(|a| Value::String(a.to_string())));
        });
        let state = work.join("runc-state");
        let id = format!("static-image-server-{}-{tag}", std::process::id());
        let log = work.join("server.log");
        let out = fs::File::create(&log).expect("log file");
        let child = Command::new("runc")
            .arg("--root")
            .arg(&state)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("runc starts");
        RuncServer {
            state,
            id,
            child,
            log,
        }
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the container has already ended.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for RuncServer {
    fn drop(&mut self) {
        let runc = |args: &[&str]| {
            let _ = Command::new("runc")
                .arg("--root")
                .arg(&self.state)
                .args(args)
                .output();
        };
        runc(&["kill", &self.id, "KILL"]);
        let _ = self.child.wait();
        runc(&["delete", "-f", &self.id]);
    }
}
