//! Running an image as a runtime would: unpacked by umoci into a bundle, started by runc from
//! that rootfs alone.

use std::fs;
use std::path::Path;
use std::process::Command;

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
    run_bundle(layout, tag, work, host_network, &mut |args| {
        args.extend(extra_args.iter().map(|a| Value::String(a.to_string())));
    })
}

/// [`run_in_runc`] with the process's whole command line replaced by `argv` (another program
/// of the image than its entrypoint); each run unpacks into its own folder under `work`.
pub fn run_argv_in_runc(layout: &Path, tag: &str, work: &Path, argv: &[&str]) -> (i32, String) {
    run_bundle(layout, tag, work, false, &mut |args| {
        *args = argv.iter().map(|a| Value::String(a.to_string())).collect();
    })
}

fn run_bundle(
    layout: &Path,
    tag: &str,
    work: &Path,
    host_network: bool,
    edit_args: &mut dyn FnMut(&mut Vec<Value>),
) -> (i32, String) {
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
