//! Multi-platform images: one build for linux/amd64 and linux/arm64 → an OCI image index.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// Builds go-multi's server for both platforms into `output`; returns the printed digest.
fn build_both(project: &Path, output: &str) -> Ran {
    static_image(args![
        "build",
        project.display(),
        "--package",
        "./cmd/server",
        "--platform",
        "linux/amd64,linux/arm64",
        "-o",
        output
    ])
    .env("PATH", path_with_go())
    .env("GOFLAGS", "")
    .run()
}

#[test]
fn two_platforms_make_one_index_sharing_the_base_layer() {
    if !require(&["go", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("go-multi", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    let spec = format!("oci:{}:multi", layout.display());
    let first = build_both(&project, &spec).ok().digest();

    let raw: Value = serde_json::from_str(&tool("skopeo", &["inspect", "--raw", &spec])).unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let platforms: Vec<String> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let variant = p["variant"]
                .as_str()
                .map(|v| format!("/{v}"))
                .unwrap_or_default();
            format!(
                "{}/{}{variant}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    // The printed digest is the index's.
    assert_eq!(read_json(&blob(&layout, &first)), raw);

    // Both manifests start with the same base layer, and the layout stores it once.
    let manifests: Vec<Value> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| read_json(&blob(&layout, m["digest"].as_str().unwrap())))
        .collect();
    let base = manifests[0]["layers"][0]["digest"].clone();
    assert_eq!(manifests[1]["layers"][0]["digest"], base);
    assert_ne!(
        manifests[0]["layers"][1]["digest"],
        manifests[1]["layers"][1]["digest"]
    );
    let blobs = fs::read_dir(layout.join("blobs/sha256")).unwrap().count();
    assert_eq!(
        blobs, 13,
        "index, 2 manifests, 2 configs, 2 app layers, 1 base layer; an SBOM and its artifact \
         manifest per platform, and the one empty config they share"
    );

    // skopeo picks the arm64 image out of the index when asked to.
    let picked = dir.path().join("picked");
    tool(
        "skopeo",
        &[
            "copy",
            "--override-arch",
            "arm64",
            &spec,
            &format!("oci:{}:x", picked.display()),
        ],
    );
    let config = skopeo_inspect(&format!("oci:{}:x", picked.display()), true);
    assert_eq!(config["architecture"], "arm64");

    // The same inputs give the same index, in an archive too.
    let archive = dir.path().join("multi.tar");
    let archived = build_both(&project, &format!("oci-archive:{}", archive.display()))
        .ok()
        .digest();
    assert_eq!(archived, first);
    let raw: Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci-archive:{}", archive.display()),
        ],
    ))
    .unwrap();
    assert_eq!(raw["manifests"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_docker_archive_takes_one_platform_and_says_so_before_building() {
    let dir = tempdir();
    let project = copy_fixture("go-multi", &dir.path().join("src"));
    let tar = dir.path().join("app.tar");
    let ran = static_image(args![
        "build",
        project.display(),
        "--package",
        "./cmd/server",
        "--platform",
        "linux/amd64,linux/arm64",
        "-o",
        format!("docker-archive:{}", tar.display())
    ])
    .run()
    .code(1);
    assert_output(
        &ran.stderr,
        "error: `[TMP]/app.tar`: a docker-archive holds one platform; write several platforms to `oci:` or `oci-archive:`, or build one `--platform`",
    );
    assert!(!tar.exists());
    assert!(!project.join("target").exists(), "nothing may be built");
}

#[test]
fn package_takes_one_binary_per_platform() {
    if !require(&["musl-gcc", "aarch64-linux-gnu-gcc", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let src = "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n";
    let amd = compile_c("musl-gcc", &["-static"], src, dir.path(), "hi-amd64");
    let arm = compile_c(
        "aarch64-linux-gnu-gcc",
        &["-static"],
        src,
        dir.path(),
        "hi-arm64",
    );
    let layout = dir.path().join("layout");
    let spec = format!("oci:{}:two", layout.display());
    let ran = static_image(args![
        "--json",
        "package",
        amd.display(),
        arm.display(),
        "--name",
        "hi",
        "-o",
        &spec
    ])
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(outcome["index"], outcome["digest"]);
    let platforms: Vec<&str> = outcome["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["image"]["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);

    // Without `--name`, the image is named once for every platform, after the stem the
    // binaries' names share, and says so.
    let unnamed = format!("oci:{}:unnamed", layout.display());
    let ran = static_image(args![
        "package",
        amd.display(),
        arm.display(),
        "-o",
        &unnamed
    ])
    .run()
    .ok();
    let lines: Vec<&str> = ran
        .stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("Naming") || l.starts_with("Packaging"))
        .collect();
    assert_eq!(
        lines,
        [
            "Naming the image `hi`, the stem the binaries' names share (`--name` sets another)",
            "Packaging `hi` for linux/amd64",
            "Packaging `hi` for linux/arm64",
        ],
        "{}",
        ran.stderr
    );
    for arch in ["amd64", "arm64"] {
        let config: Value = serde_json::from_str(&tool(
            "skopeo",
            &["inspect", "--config", "--override-arch", arch, &unnamed],
        ))
        .unwrap();
        assert_eq!(config["architecture"], arch);
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/app/hi"])
        );
    }
    let other = dir.path().join("other-arm64");
    fs::copy(&arm, &other).unwrap();
    let ran = static_image(args![
        "package",
        amd.display(),
        other.display(),
        "-o",
        &unnamed
    ])
    .run()
    .code(2);
    assert_eq!(
        ran.stderr.trim(),
        "error: the binaries' names (`hi-amd64`, `other-arm64`) share no stem to name the \
         image after; give it one with `--name` (for one binary per platform), or name the \
         platform to put them all in its one image: `package --platform PLATFORM BIN BIN`"
    );

    let ran = static_image(args!["package", amd.display(), amd.display()])
        .run()
        .code(2);
    assert!(
        ran.stderr.contains("are both for linux/amd64"),
        "{}",
        ran.stderr
    );
}
