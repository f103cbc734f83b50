//! `--compression gzip|zstd|none`: valid OCI layers of each kind, read back by skopeo.

use serde_json::Value;

use crate::support::*;

#[test]
fn each_compression_gives_its_media_type_and_the_same_tar() {
    if !require(&["musl-gcc", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let exe = compile_c(
        "musl-gcc",
        &["-static"],
        "int main(void){return 0;}\n",
        dir.path(),
        "app",
    );
    let mut diff_ids = Vec::new();
    for (kind, level, media) in [
        ("gzip", None, "application/vnd.oci.image.layer.v1.tar+gzip"),
        (
            "zstd",
            Some("19"),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        ("none", None, "application/vnd.oci.image.layer.v1.tar"),
    ] {
        let layout = dir.path().join(kind);
        let spec = format!("oci:{}:t", layout.display());
        let mut words = args!["package", exe.display(), "--compression", kind, "-o", &spec];
        if let Some(level) = level {
            words.extend(args!["--compression-level", level]);
        }
        static_image(words).run().ok();
        let raw: Value =
            serde_json::from_str(&tool("skopeo", &["inspect", "--raw", &spec])).unwrap();
        for layer in raw["layers"].as_array().unwrap() {
            assert_eq!(layer["mediaType"], media, "{raw}");
        }
        // skopeo checks every blob against its digest while copying.
        let copy = format!(
            "oci:{}:t",
            dir.path().join(format!("{kind}-copy")).display()
        );
        tool("skopeo", &["copy", &spec, &copy]);
        let config = skopeo_inspect(&spec, true);
        diff_ids.push(config["rootfs"]["diff_ids"].clone());
    }
    // The same tars underneath, whatever the compression.
    assert_eq!(diff_ids[0], diff_ids[1]);
    assert_eq!(diff_ids[0], diff_ids[2]);
}

#[test]
fn compression_flags_that_do_not_fit_are_usage_errors() {
    let dir = tempdir();
    let exe = dir.path().join("app");
    std::fs::write(&exe, "not even read").unwrap();
    let tar = dir.path().join("a.tar");
    let ran = static_image(args![
        "package",
        exe.display(),
        "--compression",
        "zstd",
        "-o",
        format!("docker-archive:{}", tar.display())
    ])
    .run()
    .code(2);
    assert_output(
        &ran.stderr,
        "error: `docker-archive:[TMP]/a.tar` takes gzip or uncompressed layers (`docker load` reads no zstd); use `--compression gzip` or `none`, or an `oci-archive:`",
    );
    let ran = static_image(args![
        "package",
        exe.display(),
        "--compression",
        "gzip",
        "--compression-level",
        "12"
    ])
    .run()
    .code(2);
    assert_output(
        &ran.stderr,
        "error: `--compression-level 12`: gzip levels are 0 to 9",
    );
    assert!(!tar.exists());
}
