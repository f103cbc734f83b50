//! Real clients load and run what `static-image` writes: Docker (`dockerd`), containerd (`ctr`)
//! and podman, as Debian 12 ships them (Docker 20.10, containerd 1.6, podman 4.3). Each test
//! starts its own daemon or store under a temporary directory and stops it by PID; every
//! format is loaded into a store that has never seen the image's layers, so a layer the
//! client cannot read fails rather than being skipped as already present. They need root, as
//! the daemons and runc do.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::support::containerd::Containerd;
use crate::support::dockerd::Dockerd;
use crate::support::podman::Podman;
use crate::support::*;

/// Prints the uid it runs as and the size of the CA bundle it sees.
const PROBE: &str = r#"#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
    struct stat s;
    if (stat("/etc/ssl/certs/ca-certificates.crt", &s) != 0) {
        printf("uid=%d ca=missing\n", (int)getuid());
        return 1;
    }
    printf("uid=%d ca=%lld\n", (int)getuid(), (long long)s.st_size);
    return 0;
}
"#;

/// The probe packaged as `app` (built-in CA bundle) in each archive format.
struct Archives {
    dir: tempfile::TempDir,
    /// `docker-archive:`, gzip.
    docker: PathBuf,
    /// `oci-archive:`, gzip.
    oci: PathBuf,
    /// `oci-archive:`, zstd.
    zstd: PathBuf,
    /// What the probe prints in a container of the image: the non-root uid and the size of
    /// the CA bundle the image's layers carry.
    expected: String,
}

impl Archives {
    fn new() -> Archives {
        let dir = tempdir();
        let exe = compile_c("musl-gcc", &["-static"], PROBE, dir.path(), "app");
        let cache = dir.path().join("cache");
        let at = |name: &str| dir.path().join(name);
        let (docker, oci, zstd, layout) = (
            at("docker.tar"),
            at("oci.tar"),
            at("zstd.tar"),
            at("layout"),
        );
        let outputs = [
            "-o".to_string(),
            format!("oci-archive:{}", oci.display()),
            "-o".to_string(),
            format!("oci:{}", layout.display()),
        ];
        let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        package_run(
            &exe,
            &format!("docker-archive:{}", docker.display()),
            &cache,
            &outputs,
        )
        .run()
        .ok();
        package_run(
            &exe,
            &format!("oci-archive:{}", zstd.display()),
            &cache,
            &["--compression", "zstd"],
        )
        .run()
        .ok();
        let expected = format!("uid=65532 ca={}\n", ca_bundle_size(&layout));
        Archives {
            dir,
            docker,
            oci,
            zstd,
            expected,
        }
    }
}

/// The size of `/etc/ssl/certs/ca-certificates.crt` in the layers of `layout:latest`.
fn ca_bundle_size(layout: &Path) -> usize {
    let manifest = manifest_for(layout, "latest");
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| layer_entries(&blob(layout, l["digest"].as_str().unwrap())))
        .find(|e| e.path.trim_start_matches("./") == "etc/ssl/certs/ca-certificates.crt")
        .expect("the image carries a CA bundle")
        .data
        .len()
}

/// `path` as a string for a client's command line.
fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A copy of the OCI archive `oci` with Docker's `manifest.json` added, naming `repo_tag`:
/// a docker-archive whose layers are what `oci`'s are (zstd), which `static-image` itself
/// refuses to write.
fn with_docker_manifest(oci: &Path, repo_tag: &str, out: &Path) -> PathBuf {
    let mut files = Vec::new();
    let mut archive = tar::Archive::new(fs::File::open(oci).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        files.push((path, entry.header().clone(), data));
    }
    let file = |name: &str| -> Value {
        let (_, _, data) = files.iter().find(|(p, _, _)| p == name).unwrap();
        serde_json::from_slice(data).unwrap()
    };
    let digest = file("index.json")["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .replace("sha256:", "blobs/sha256/");
    let manifest = file(&digest);
    let path = |d: &Value| {
        d["digest"]
            .as_str()
            .unwrap()
            .replace("sha256:", "blobs/sha256/")
    };
    let docker = serde_json::json!([{
        "Config": path(&manifest["config"]),
        "RepoTags": [repo_tag],
        "Layers": manifest["layers"].as_array().unwrap().iter().map(path).collect::<Vec<_>>(),
    }]);
    let mut builder = tar::Builder::new(fs::File::create(out).unwrap());
    for (path, mut header, data) in files {
        builder.append_data(&mut header, path, &data[..]).unwrap();
    }
    let docker = serde_json::to_vec(&docker).unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_mode(0o644);
    header.set_size(docker.len() as u64);
    builder
        .append_data(&mut header, "manifest.json", &docker[..])
        .unwrap();
    builder.finish().unwrap();
    out.to_owned()
}

/// The `org.opencontainers.image.ref.name` of each entry of an archive's `index.json`.
fn ref_names(archive: &Path) -> Vec<String> {
    let mut archive = tar::Archive::new(fs::File::open(archive).unwrap());
    let mut entry = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap() == Path::new("index.json"))
        .expect("index.json");
    let mut text = String::new();
    entry.read_to_string(&mut text).unwrap();
    let index: Value = serde_json::from_str(&text).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Milliseconds since `start`, for the timings the tests print.
fn ms(start: Instant) -> u128 {
    start.elapsed().as_millis()
}

#[test]
fn docker_loads_and_runs_a_docker_archive_but_not_an_oci_archive_nor_zstd_layers() {
    if !require(&["root", "dockerd", "docker", "musl-gcc", "skopeo"]) {
        return;
    }
    let archives = Archives::new();
    let zstd_docker = with_docker_manifest(
        &archives.zstd,
        "app:zstd",
        &archives.dir.path().join("zstd-docker.tar"),
    );
    let dockerd = Dockerd::start();
    let docker = |args: &[&str]| dockerd.docker(args);
    let images = || docker(&["image", "ls", "--quiet"]).ok().stdout;
    eprintln!(
        "dockerd answered after {} ms",
        dockerd.startup().as_millis()
    );

    // Docker 20.10 reads no zstd: the layer goes to tar undecompressed. The store is empty,
    // so the layer is really read.
    let ran = docker(&["load", "--input", s(&zstd_docker)]).code(1);
    assert_eq!(
        ran.stderr,
        "ApplyLayer exit status 1 stdout:  stderr: archive/tar: invalid tar header\n",
        "{}",
        dockerd.log()
    );
    assert_eq!(images(), "");

    // ... and no OCI archive: without `manifest.json` it takes the tar for the older
    // `repositories` format and looks for a layer's `json`.
    let ran = docker(&["load", "--input", s(&archives.oci)]).code(1);
    let data_root = format!("{}/", dockerd.data_root.display());
    let stderr = ran.stderr.replace(&data_root, "DATA/");
    let (head, tail) = stderr
        .split_once("docker-import-")
        .unwrap_or_else(|| panic!("{stderr}"));
    let tail = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    assert_eq!(
        format!("{head}docker-import-N{tail}"),
        "open DATA/tmp/docker-import-N/blobs/json: no such file or directory\n"
    );
    assert_eq!(images(), "");

    // A docker-archive loads under the repository and tag it names, and runs as nonroot
    // with the CA bundle the image carries.
    let start = Instant::now();
    let ran = docker(&["load", "--input", s(&archives.docker)]).ok();
    let load = ms(start);
    assert_eq!(ran.stdout, "Loaded image: app:latest\n");
    let start = Instant::now();
    let run = ["run", "--rm", "--pull", "never", "--network", "none"];
    let ran = docker(&[&run[..], &["app:latest"]].concat()).ok();
    eprintln!("docker load: {load} ms, docker run: {} ms", ms(start));
    assert_eq!(ran.stdout, archives.expected);

    // An OCI archive reaches Docker 20.10 through skopeo, as the README shows.
    tool(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-daemon-host",
            &dockerd.host(),
            &format!("oci-archive:{}", s(&archives.oci)),
            "docker-daemon:app:from-oci",
        ],
    );
    let ran = docker(&[&run[..], &["app:from-oci"]].concat()).ok();
    assert_eq!(ran.stdout, archives.expected);
}

#[test]
fn containerd_imports_every_archive_and_runs_the_amd64_image() {
    if !require(&[
        "root",
        "containerd",
        "ctr",
        "runc",
        "musl-gcc",
        "aarch64-linux-gnu-gcc",
    ]) {
        return;
    }
    let archives = Archives::new();
    // One binary per platform, named after their common stem `a`.
    let dir = archives.dir.path();
    let amd = compile_c("musl-gcc", &["-static"], PROBE, dir, "a-amd64");
    let arm = compile_c("aarch64-linux-gnu-gcc", &["-static"], PROBE, dir, "a-arm64");
    let multi = dir.join("multi.tar");
    let packaged = static_image(args![
        "package",
        amd.display(),
        arm.display(),
        "--ca-bundle",
        "builtin",
        "-o",
        format!("oci-archive:{}", multi.display())
    ])
    .env("STATIC_IMAGE_CACHE_DIR", dir.join("cache"))
    .run()
    .ok();

    let containerd = Containerd::start();
    eprintln!(
        "containerd answered after {} ms",
        containerd.startup().as_millis()
    );
    // A namespace per format: containerd shares neither images nor snapshots across them.
    for (namespace, archive, name, flags) in [
        ("oci", &archives.oci, "app:latest", &[][..]),
        (
            "docker",
            &archives.docker,
            "docker.io/library/app:latest",
            &[],
        ),
        ("zstd", &archives.zstd, "app:latest", &[]),
        ("multi", &multi, "a:latest", &["--all-platforms"]),
    ] {
        let ctr = |args: &[&str]| containerd.ctr(namespace, args);
        let start = Instant::now();
        ctr(&[&["images", "import"], flags, &[s(archive)]].concat()).ok();
        let import = ms(start);
        assert_eq!(
            ctr(&["images", "ls", "--quiet"]).ok().stdout,
            format!("{name}\n")
        );
        let start = Instant::now();
        let ran = ctr(&["run", "--rm", name, &format!("probe-{namespace}")]);
        eprintln!("ctr {namespace}: import {import} ms, run {} ms", ms(start));
        assert_eq!(ran.ok().stdout, archives.expected, "{namespace}");
    }

    // The arm64 image, imported with the rest, starts `/app/a` too: named once for both.
    let content = |digest: &str| -> Value {
        let ran = containerd.ctr("multi", &["content", "get", digest]).ok();
        serde_json::from_str(&ran.stdout).unwrap()
    };
    let index = content(&packaged.digest());
    let arm64 = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "arm64")
        .expect("an arm64 manifest");
    let manifest = content(arm64["digest"].as_str().unwrap());
    let config = content(manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/app/a"])
    );
}

#[test]
fn podman_loads_and_runs_each_archive_in_a_fresh_store() {
    if !require(&["root", "podman", "runc", "musl-gcc"]) {
        return;
    }
    let archives = Archives::new();
    for (archive, name) in [
        (&archives.docker, "docker.io/library/app:latest"),
        (&archives.oci, "localhost/app:latest"),
        (&archives.zstd, "localhost/app:latest"),
    ] {
        let podman = Podman::new();
        let start = Instant::now();
        let ran = podman
            .podman(&["load", "--quiet", "--input", s(archive)])
            .ok();
        let load = ms(start);
        assert_eq!(ran.stdout, format!("Loaded image: {name}\n"));
        let start = Instant::now();
        let ran = podman.run(name);
        eprintln!(
            "podman {name} from {archive:?}: load {load} ms, run {} ms",
            ms(start)
        );
        assert_eq!(ran.ok().stdout, archives.expected, "{archive:?}");
    }
}

/// How an archive written as `oci-archive:FILE{suffix}` with `flags` is named, and how podman
/// and ctr name it once loaded.
struct Naming {
    suffix: &'static str,
    flags: &'static [&'static str],
    written: &'static str,
    in_podman: &'static str,
    in_ctr: &'static str,
}

impl Naming {
    fn new(
        suffix: &'static str,
        flags: &'static [&'static str],
        written: &'static str,
        in_podman: &'static str,
        in_ctr: &'static str,
    ) -> Naming {
        Naming {
            suffix,
            flags,
            written,
            in_podman,
            in_ctr,
        }
    }
}

#[test]
fn an_oci_archive_is_named_repo_and_tag_by_default_as_a_docker_archive_is() {
    if !require(&["root", "podman", "containerd", "ctr", "skopeo", "musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let exe = compile_c("musl-gcc", &["-static"], PROBE, dir.path(), "app");
    let cache = dir.path().join("cache");
    let podman = Podman::new();
    let containerd = Containerd::start();
    // A bare tag is taken by podman and ctr for the repository, or given one of their own.
    let cases = [
        Naming::new("", &[], "app:latest", "localhost/app:latest", "app:latest"),
        Naming::new("", &["-t", "v2"], "app:v2", "localhost/app:v2", "app:v2"),
        Naming::new(
            ":team/app:v1",
            &[],
            "team/app:v1",
            "localhost/team/app:v1",
            "team/app:v1",
        ),
        Naming::new(":v1", &[], "v1", "localhost/v1:latest", "import-DATE:v1"),
    ];
    for (n, case) in cases.into_iter().enumerate() {
        let file = dir.path().join(format!("{n}.tar"));
        let spec = format!("oci-archive:{}{}", file.display(), case.suffix);
        let ran = package_run(&exe, &spec, &cache, case.flags).run().ok();
        // The line printed names the image as skopeo takes it.
        let named = format!("oci-archive:{}:{}", file.display(), case.written);
        assert_eq!(ran.stdout, format!("{named} {}\n", ran.digest()));
        assert_eq!(ref_names(&file), [case.written]);
        assert_eq!(skopeo_inspect(&named, false)["Digest"], ran.digest());

        let ran = podman
            .podman(&["load", "--quiet", "--input", s(&file)])
            .ok();
        let in_podman = case.in_podman;
        assert_eq!(ran.stdout, format!("Loaded image: {in_podman}\n"), "{spec}");

        let namespace = format!("n{n}");
        containerd
            .ctr(&namespace, &["images", "import", s(&file)])
            .ok();
        let listed = containerd
            .ctr(&namespace, &["images", "ls", "--quiet"])
            .ok()
            .stdout;
        // ctr names an image with a bare tag after the day of the import.
        let listed = match listed.strip_prefix("import-") {
            Some(rest) => format!("import-DATE{}", &rest[rest.find(':').unwrap()..]),
            None => listed,
        };
        assert_eq!(listed, format!("{}\n", case.in_ctr), "{spec}");
    }

    // A docker-archive names its `RepoTags` the same way.
    let docker = dir.path().join("docker.tar");
    package_run(
        &exe,
        &format!("docker-archive:{}", docker.display()),
        &cache,
        &[],
    )
    .run()
    .ok();
    let manifest = tool("tar", &["xOf", s(&docker), "manifest.json"]);
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["app:latest"]));

    // Two tags are two entries: ctr imports both, podman 4.3 loads none.
    let two = dir.path().join("two.tar");
    let spec = format!("oci-archive:{}", two.display());
    package_run(&exe, &spec, &cache, &["-t", "v1", "-t", "v2"])
        .run()
        .ok();
    assert_eq!(ref_names(&two), ["app:v1", "app:v2"]);
    containerd.ctr("two", &["images", "import", s(&two)]).ok();
    let listed = containerd
        .ctr("two", &["images", "ls", "--quiet"])
        .ok()
        .stdout;
    assert_eq!(listed, "app:v1\napp:v2\n");
    let ran = podman
        .podman(&["load", "--quiet", "--input", s(&two)])
        .code(125);
    assert!(
        ran.stderr.contains(
            " * oci-archive: loading index: more than one image in oci, choose an image\n"
        ),
        "{}",
        ran.stderr
    );
}
