//! `--base`: our layers on top of another image. The bases are made in the test with umoci,
//! another tool, so nothing of ours shapes what is read.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

const HELLO_C: &str =
    "#include <stdio.h>\nint main(void) { puts(\"hello from the app\"); return 0; }\n";

/// A base layout at `dir:v1` (amd64, as umoci makes it on this machine) holding one file and
/// its own env, user, label and port.
fn umoci_base(dir: &Path, work: &Path) -> PathBuf {
    let layout = dir.join("base");
    let image = format!("{}:v1", layout.display());
    tool(
        "umoci",
        &["init", "--layout", &layout.display().to_string()],
    );
    tool("umoci", &["new", "--image", &image]);
    let marker = work.join("marker");
    fs::write(&marker, "corporate base\n").unwrap();
    tool(
        "umoci",
        &[
            "insert",
            "--image",
            &image,
            &marker.display().to_string(),
            "/etc/corp-marker",
        ],
    );
    tool(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--config.env",
            "BASE_ENV=1",
            "--config.env",
            "PATH=/corp/bin",
            "--config.user",
            "1234:1234",
            "--config.label",
            "corp.approved=yes",
            "--config.exposedports",
            "9000/tcp",
        ],
    );
    layout
}

fn raw_manifest(spec: &str) -> Value {
    serde_json::from_str(&tool("skopeo", &["inspect", "--raw", spec])).unwrap()
}

#[test]
fn layers_go_on_a_base_whose_config_is_merged_under_ours() {
    if !require(&["umoci", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let binary = compile_c("gcc", &["-static-pie", "-O2"], HELLO_C, dir.path(), "app");
    let base = umoci_base(dir.path(), dir.path());
    let base_spec = format!("oci:{}:v1", base.display());
    let base_digest = skopeo_inspect(&base_spec, false)["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    let base_layers = raw_manifest(&base_spec)["layers"]
        .as_array()
        .unwrap()
        .clone();

    let out = dir.path().join("out");
    let spec = format!("oci:{}:app", out.display());
    let ran = static_image(args![
        "package",
        binary.display(),
        "--base",
        &base_spec,
        "--env",
        "MINE=2",
        "--env",
        "PATH=/app",
        "--label",
        "app=x",
        "-o",
        &spec,
        "--json",
    ])
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    let layers = outcome["image"]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), base_layers.len() + 1, "{outcome}");
    assert!(
        layers[..base_layers.len()]
            .iter()
            .all(|l| l["base"] == true)
    );

    // The base's layers, untouched, then ours; the base named in the annotations.
    let manifest = raw_manifest(&spec);
    let ours = manifest["layers"].as_array().unwrap();
    for (theirs, ours) in base_layers.iter().zip(ours) {
        assert_eq!(theirs["digest"], ours["digest"]);
    }
    let notes = &manifest["annotations"];
    assert_eq!(
        notes["org.opencontainers.image.base.digest"],
        base_digest.as_str()
    );
    assert_eq!(
        notes["org.opencontainers.image.base.name"],
        base_spec.as_str()
    );

    let config = skopeo_inspect(&spec, true);
    let (labels, env) = config_of(&config);
    assert!(env.contains(&"BASE_ENV=1".to_string()), "{env:?}");
    assert!(env.contains(&"MINE=2".to_string()), "{env:?}");
    assert!(env.contains(&"PATH=/app".to_string()), "ours wins: {env:?}");
    assert!(!env.iter().any(|e| e == "PATH=/corp/bin"), "{env:?}");
    assert_eq!(labels["corp.approved"], "yes");
    assert_eq!(labels["app"], "x");
    assert_eq!(
        config["config"]["User"], "1234:1234",
        "the base's user stands"
    );
    assert!(
        config["config"]["ExposedPorts"]["9000/tcp"].is_object(),
        "{config}"
    );
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        ours.len()
    );

    // `--user` wins over the base's; the same base from an oci-archive gives the same image.
    let archive = dir.path().join("base.tar");
    tool(
        "tar",
        &[
            "-C",
            &base.display().to_string(),
            "-cf",
            &archive.display().to_string(),
            ".",
        ],
    );
    let out2 = dir.path().join("out2");
    let spec2 = format!("oci:{}:app", out2.display());
    static_image(args![
        "package",
        binary.display(),
        "--base",
        format!("oci-archive:{}:v1", archive.display()),
        "--env",
        "MINE=2",
        "--env",
        "PATH=/app",
        "--label",
        "app=x",
        "-o",
        &spec2,
        "--user",
        "7",
    ])
    .run()
    .ok();
    let config2 = skopeo_inspect(&spec2, true);
    assert_eq!(config2["config"]["User"], "7");
}

#[test]
fn the_base_image_runs_under_our_binary_in_runc() {
    if !require(&["umoci", "runc", "root"]) {
        return;
    }
    let dir = tempdir();
    let binary = compile_c(
        "gcc",
        &["-static-pie", "-O2"],
        "#include <stdio.h>\nint main(void){FILE*f=fopen(\"/etc/corp-marker\",\"r\");char b[64]={0};\
         if(!f)return 3;fgets(b,sizeof b,f);printf(\"marker: %s\",b);return 0;}\n",
        dir.path(),
        "app",
    );
    let base = umoci_base(dir.path(), dir.path());
    let out = dir.path().join("out");
    static_image(args![
        "package",
        binary.display(),
        "--base",
        format!("oci:{}:v1", base.display()),
        "-o",
        format!("oci:{}:app", out.display()),
        "--user",
        "0",
    ])
    .run()
    .ok();
    let (code, output) = run_in_runc(&out, "app", dir.path());
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("marker: corporate base"), "{output}");
}

#[test]
fn a_damaged_or_unsuitable_base_is_refused_and_nothing_is_written() {
    if !require(&["umoci"]) {
        return;
    }
    let dir = tempdir();
    let binary = compile_c("gcc", &["-static-pie", "-O2"], HELLO_C, dir.path(), "app");
    let base = umoci_base(dir.path(), dir.path());
    let out = dir.path().join("out");
    let package = |base_spec: String| {
        static_image(args![
            "package",
            binary.display(),
            "--base",
            base_spec,
            "-o",
            format!("oci:{}", out.display()),
        ])
        .run()
    };

    let ran = package(format!("oci:{}:nope", base.display())).code(1);
    assert_output(
        &ran.stderr,
        r#"    Verified `[TMP]/app`: static-pie, x86-64
     Reading base image `oci:[TMP]/base:nope`
error: image `oci:[TMP]/base:nope`: no image tagged `nope` (tags: v1)"#,
    );

    // An arm64 binary on an amd64-only base.
    if require_for(
        &["aarch64-linux-gnu-gcc"],
        "an arm64 binary on an amd64 base",
    ) {
        let arm = compile_c(
            "aarch64-linux-gnu-gcc",
            &["-static", "-O2"],
            HELLO_C,
            dir.path(),
            "arm",
        );
        let ran = static_image(args![
            "package",
            arm.display(),
            "--base",
            format!("oci:{}:v1", base.display()),
            "-o",
            format!("oci:{}", out.display()),
        ])
        .run()
        .code(1);
        assert_output(
            &ran.stderr,
            r#"    Verified `[TMP]/arm`: static, aarch64
     Reading base image `oci:[TMP]/base:v1`
error: image `oci:[TMP]/base:v1` has no image for linux/arm64 (it has: linux/amd64)
help: build for a platform the base has (`--platform`), or pick a base that has it"#,
        );
    }

    // A layer blob whose bytes no longer match its digest.
    let manifest = raw_manifest(&format!("oci:{}:v1", base.display()));
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let path = blob(&base, layer);
    let mut bytes = fs::read(&path).unwrap();
    // The layer's size follows the test's temporary paths: the message is checked against it.
    let whole = bytes.len();
    bytes.truncate(whole / 2);
    fs::write(&path, &bytes).unwrap();
    let ran = package(format!("oci:{}:v1", base.display())).code(1);
    assert_output(
        &ran.stderr,
        &format!(
            "    Verified `[TMP]/app`: static-pie, x86-64
     Reading base image `oci:[TMP]/base:v1`
error: image `oci:[TMP]/base:v1`: blob `sha256:<digest>` does not match its descriptor: {} \
             bytes with digest sha256:<digest>, expected {whole} bytes",
            bytes.len()
        ),
    );
    assert!(ran.stderr.contains(layer), "{}", ran.stderr);

    // An archive entry that climbs out.
    let evil = dir.path().join("evil.tar");
    let script = format!(
        "import tarfile,io\nt=tarfile.open('{}','w')\ni=tarfile.TarInfo('../escape')\n\
         i.size=1\nt.addfile(i,io.BytesIO(b'x'))\nt.close()\n",
        evil.display()
    );
    tool("python3", &["-c", &script]);
    let ran = package(format!("oci-archive:{}", evil.display())).code(1);
    assert_output(
        &ran.stderr,
        r#"    Verified `[TMP]/app`: static-pie, x86-64
     Reading base image `oci-archive:[TMP]/evil.tar`
error: image `oci-archive:[TMP]/evil.tar`: archive entry `../escape` escapes the archive"#,
    );
    assert!(!dir.path().parent().unwrap().join("escape").exists());
    assert!(!out.exists(), "nothing written");
}
