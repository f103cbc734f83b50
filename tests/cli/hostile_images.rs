//! Images that lie or try to exhaust the reader, for every command that reads one (`verify
//! IMAGE`, `package --base`): layers whose uncompressed bytes are not their diff_id, index
//! chains too deep, index graphs that fan out, descriptors claiming a terabyte, decompression
//! bombs, blobs that are links, FIFOs or devices, archives with sparse files, hard links or a
//! flood of entries, archives with absolute paths or links, blobs that are damaged or missing.
//! Each starts from an image the tool writes, rewritten here with fresh digests, and each
//! asserts the exit code, the message and, where the attack is on resources, the wall time, the
//! peak memory of the process and the bytes it left on disk.
//!
//! Exit codes: `verify` says 2 for an image it cannot read or trust (as for any blob that does
//! not match its descriptor), `package --base` says 1 (as for any base it refuses), and
//! nothing is written.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::measure::{bytes_under, measured};
use crate::support::rewrite::{INDEX, Image, errors, sha256};
use crate::support::*;

#[test]
fn a_layer_whose_uncompressed_bytes_are_not_its_diff_id_is_refused() {
    let Some(image) = Image::new() else { return };
    let mut config = image.config();
    let real = config["rootfs"]["diff_ids"][1]
        .as_str()
        .unwrap()
        .to_string();
    let wrong = sha256(b"not the layer");
    config["rootfs"]["diff_ids"][1] = json!(wrong);
    image.rewrite(image.manifest(), Some(config));
    let (layer, _) = image.app_layer();
    let layer = layer["digest"].as_str().unwrap();
    let said = format!(
        "image `{}`: layer `{layer}` does not match its config: its uncompressed digest is \
         {real}, the config's diff_id is {wrong}",
        image.spec()
    );
    let ran = image.verify(&[]).run().code(2);
    assert_eq!(errors(&ran), std::slice::from_ref(&said), "{}", ran.stderr);
    assert!(ran.stdout.is_empty(), "{}", ran.stdout);

    let ran = image.package_on(&image.spec(), &[]);
    assert_eq!(errors(&ran), [said], "{}", ran.stderr);
}

/// A chain of `depth` indexes above the image's manifest, each naming the next for
/// linux/amd64; the tag points at the outermost.
fn chain(image: &Image, depth: usize) {
    let mut below = image.root();
    below.as_object_mut().unwrap().remove("annotations");
    below["platform"] = json!({"os": "linux", "architecture": "amd64"});
    for _ in 0..depth {
        let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [below]});
        below = image.put(INDEX, &serde_json::to_vec(&index).unwrap());
        below["platform"] = json!({"os": "linux", "architecture": "amd64"});
    }
    image.retag(below);
}

#[test]
fn indexes_nested_past_eight_are_refused_and_eight_are_read() {
    let Some(image) = Image::new() else { return };
    let original = image.root();
    chain(&image, 8);
    let ran = image.verify(&[]).run().ok();
    assert!(ran.stdout.contains("linux/amd64"), "{}", ran.stdout);

    image.retag(original);
    chain(&image, 9);
    let ran = image.verify(&[]).run().code(2);
    // The innermost index, the ninth, is the one refused.
    let said = errors(&ran);
    assert_eq!(said.len(), 1, "{}", ran.stderr);
    let prefix = format!("image `{}`: index `sha256:", image.spec());
    assert!(said[0].starts_with(&prefix), "{}", said[0]);
    assert!(
        said[0].ends_with("` is nested more than 8 indexes deep"),
        "{}",
        said[0]
    );
    let ran = image.package_on(&image.spec(), &[]);
    assert_eq!(errors(&ran), said, "{}", ran.stderr);

    // Twenty thousand deep (a stack overflow for a recursive walk): the same refusal, at once.
    chain(&image, 20_000);
    let ran = image.verify(&[]).run().code(2);
    let said = errors(&ran);
    assert!(
        said.len() == 1 && said[0].ends_with("` is nested more than 8 indexes deep"),
        "{}",
        ran.stderr
    );
}

#[test]
fn an_index_graph_that_fans_out_is_read_once_per_document() {
    let Some(image) = Image::new() else { return };
    // C names the manifest; B names C 20,000 times; A names B 20,000 times: 400 million
    // paths from A to the manifest, three documents.
    let mut manifest = image.root();
    manifest.as_object_mut().unwrap().remove("annotations");
    manifest["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut below = manifest;
    for fan_out in [1, 20_000, 20_000] {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": vec![below; fan_out],
        });
        // Nested indexes are walked whatever their platform: none is named, to keep them small.
        below = image.put(INDEX, &serde_json::to_vec(&index).unwrap());
    }
    image.retag(below);
    let tmp = image.dir.join("tmp");
    let (ran, cost) = measured(image.verify(&[]), &tmp, Duration::from_secs(120));
    let ran = ran.ok();
    let lines: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.contains("ELF file"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", ran.stdout);
    assert!(cost.cpu < Duration::from_secs(60), "{:?}", cost.cpu);

    // Ten thousand distinct indexes are more documents than an image is allowed.
    let empties: Vec<Value> = (0..10_000)
        .map(|i| {
            let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [],
                               "annotations": {"n": i.to_string()}});
            image.put(INDEX, &serde_json::to_vec(&index).unwrap())
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": empties});
    image.retag(image.put(INDEX, &serde_json::to_vec(&index).unwrap()));
    let ran = image.verify(&[]).run().code(2);
    assert_eq!(
        errors(&ran),
        [format!(
            "image `{}` holds more than 10000 manifests, indexes and configs; it is refused",
            image.spec()
        )],
        "{}",
        ran.stderr
    );
}

#[test]
fn an_index_that_cannot_name_itself_is_caught_by_its_digest() {
    // An index cannot hold its own digest (it would be a SHA-256 fixed point), so a layout
    // that tries points at a blob whose bytes are not that digest's: refused by the digest
    // check before the walk could loop.
    let Some(image) = Image::new() else { return };
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": []});
    let mut me = image.put(INDEX, &serde_json::to_vec(&index).unwrap());
    let digest = me["digest"].as_str().unwrap().to_string();
    me["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let selfish = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [me]});
    let bytes = serde_json::to_vec(&selfish).unwrap();
    fs::write(blob(&image.layout, &digest), &bytes).unwrap();
    me["size"] = json!(bytes.len());
    image.retag(me);
    let ran = image.verify(&[]).run().code(2);
    assert_eq!(
        errors(&ran),
        [format!(
            "image `{}`: blob `{digest}` does not match its descriptor: {} bytes with digest \
             {}, expected {} bytes",
            image.spec(),
            bytes.len(),
            sha256(&bytes),
            bytes.len()
        )],
        "{}",
        ran.stderr
    );
}

#[test]
fn a_blob_claiming_a_terabyte_is_refused_before_it_is_read() {
    let Some(image) = Image::new() else { return };
    let mut manifest = image.manifest();
    let (layer, path) = image.app_layer();
    let real = fs::metadata(&path).unwrap().len();
    manifest["layers"][1]["size"] = json!(1u64 << 40);
    image.rewrite(manifest, None);
    let digest = layer["digest"].as_str().unwrap();
    let ran = image.verify(&[]).run().code(2);
    let refused = format!(
        "image `{}`: `{digest}` claims 1099511627776 bytes, more than the limit of 8GiB; if \
         the image is trusted, raise it with `--max-blob-size` or STATIC_IMAGE_MAX_BLOB_SIZE",
        image.spec()
    );
    assert_eq!(
        errors(&ran),
        std::slice::from_ref(&refused),
        "{}",
        ran.stderr
    );
    let ran = image.package_on(&image.spec(), &[]);
    assert_eq!(errors(&ran), [refused], "{}", ran.stderr);

    // Allowed, by flag or environment: read to its real end, and named as not matching.
    let mismatch = format!(
        "image `{}`: blob `{digest}` does not match its descriptor: {real} bytes with digest \
         {digest}, expected 1099511627776 bytes",
        image.spec()
    );
    let ran = image.verify(&["--max-blob-size", "2TiB"]).run().code(2);
    assert_eq!(
        errors(&ran),
        std::slice::from_ref(&mismatch),
        "{}",
        ran.stderr
    );
    let ran = image
        .verify(&[])
        .env("STATIC_IMAGE_MAX_BLOB_SIZE", "1TiB")
        .run()
        .code(2);
    assert_eq!(errors(&ran), [mismatch], "{}", ran.stderr);
    let ran = image.verify(&["--max-blob-size", "8GB"]).run().code(2);
    assert!(ran.stderr.contains("`8GB` is not a size"), "{}", ran.stderr);

    // A blob longer than it claims is read one byte past its size, however long it is.
    let mut manifest = image.manifest();
    manifest["layers"][1]["size"] = json!(real);
    image.rewrite(manifest, None);
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    let tmp = image.dir.join("tmp");
    let (ran, cost) = measured(image.verify(&[]), &tmp, Duration::from_secs(120));
    let ran = ran.code(2);
    let said = errors(&ran);
    let head = format!(
        "image `{}`: blob `{digest}` does not match its descriptor: {} bytes with digest",
        image.spec(),
        real + 1
    );
    assert!(
        said.len() == 1 && said[0].starts_with(&head),
        "{}",
        ran.stderr
    );
    assert!(cost.cpu < Duration::from_secs(60), "{:?}", cost.cpu);
    assert!(cost.peak_tmp_bytes < 64 << 20, "{}", cost.peak_tmp_bytes);
}

/// A gzip layer of a few MB whose tar holds one 2 GiB file that starts like an ELF file:
/// 128 gzip members of 16 MiB each (a gzip stream may be several members), compressed by
/// `gzip` itself for speed.
fn bomb(work: &Path) -> Vec<u8> {
    let chunk = 16usize << 20;
    let mut header = tar::Header::new_ustar();
    header.set_path("app/bomb").unwrap();
    header.set_size((chunk * 128) as u64);
    header.set_mode(0o755);
    header.set_cksum();
    let member = |name: &str, bytes: &[u8]| {
        let path = work.join(name);
        fs::write(&path, bytes).unwrap();
        let out = std::process::Command::new("gzip")
            .args(["-9", "-n", "-c"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    let mut first = header.as_bytes().to_vec();
    let mut data = vec![0u8; chunk];
    data[..4].copy_from_slice(b"\x7fELF");
    first.extend_from_slice(&data);
    let mut out = member("first", &first);
    let zeros = member("zeros", &vec![0u8; chunk]);
    for _ in 1..128 {
        out.extend_from_slice(&zeros);
    }
    out
}

#[test]
fn a_decompression_bomb_layer_is_refused_in_bounded_memory_time_and_disk() {
    if !require(&["gzip"]) {
        return;
    }
    let Some(image) = Image::new() else { return };
    let bomb = bomb(&image.dir);
    assert!(bomb.len() < 4 << 20, "{}", bomb.len());
    let layer = image.put("application/vnd.oci.image.layer.v1.tar+gzip", &bomb);
    let mut manifest = image.manifest();
    manifest["layers"][1] = layer.clone();
    image.rewrite(manifest, None);
    let digest = layer["digest"].as_str().unwrap();
    let said = format!(
        "image `{}`: layer `{digest}` expands to more than 16777216 bytes when decompressed \
         (4x the blob limit of 4MiB); if the image is trusted, raise the limit with \
         `--max-blob-size` or STATIC_IMAGE_MAX_BLOB_SIZE",
        image.spec()
    );
    let tmp = image.dir.join("tmp");
    let run = image.verify(&["--max-blob-size", "4MiB"]);
    let (ran, cost) = measured(run, &tmp, Duration::from_secs(600));
    let ran = ran.code(2);
    assert_eq!(errors(&ran), std::slice::from_ref(&said), "{}", ran.stderr);
    // 16 MiB decompressed and hashed, not 2 GiB: seconds of CPU, even in a debug build.
    assert!(cost.cpu < Duration::from_secs(60), "{:?}", cost.cpu);
    assert!(cost.peak_rss_kib < 200 << 10, "{} KiB", cost.peak_rss_kib);
    // Only the compressed blobs were ever staged, and nothing is left.
    assert!(cost.peak_tmp_bytes < 16 << 20, "{}", cost.peak_tmp_bytes);
    assert_eq!(bytes_under(&tmp), 0);
    eprintln!(
        "bomb: {} bytes, {:?} wall, {:?} cpu, peak {} KiB, staged at most {} bytes",
        bomb.len(),
        cost.wall,
        cost.cpu,
        cost.peak_rss_kib,
        cost.peak_tmp_bytes
    );

    let ran = image.package_on(&image.spec(), &["--max-blob-size", "4MiB"]);
    assert_eq!(errors(&ran), [said], "{}", ran.stderr);
}

#[test]
fn blobs_that_are_links_fifos_or_devices_are_refused_without_waiting() {
    let Some(image) = Image::new() else { return };
    let (_, path) = image.app_layer();
    fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    let ran = image.verify(&[]).run().code(2);
    let said = |kind: &str| {
        vec![format!(
            "image `{}`: `{}` is {kind}, not a regular file",
            image.spec(),
            path.display()
        )]
    };
    assert_eq!(errors(&ran), said("a symbolic link"), "{}", ran.stderr);
    let ran = image.package_on(&image.spec(), &[]);
    assert_eq!(errors(&ran), said("a symbolic link"), "{}", ran.stderr);

    // A FIFO with no writer: opening it for reading would wait forever.
    fs::remove_file(&path).unwrap();
    tool("mkfifo", &[path.to_str().unwrap()]);
    let tmp = image.dir.join("tmp");
    let (ran, cost) = measured(image.verify(&[]), &tmp, Duration::from_secs(60));
    assert_eq!(errors(&ran.code(2)), said("a FIFO"));
    // Blocked on the FIFO it would never finish: a bound far below forever, kind to a busy machine.
    assert!(cost.wall < Duration::from_secs(45), "{:?}", cost.wall);

    // index.json itself as a link to a device.
    let index = image.layout.join("index.json");
    fs::remove_file(&index).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &index).unwrap();
    let ran = image.verify(&[]).run().code(2);
    assert_eq!(
        errors(&ran),
        [format!(
            "image `{}`: `{}` is a symbolic link, not a regular file",
            image.spec(),
            index.display()
        )],
        "{}",
        ran.stderr
    );

    // A FIFO named as the base archive: refused at once, not waited on.
    let fifo = image.dir.join("base.tar");
    tool("mkfifo", &[fifo.to_str().unwrap()]);
    let spec = format!("oci-archive:{}", fifo.display());
    let start = Instant::now();
    let ran = image.package_on(&spec, &[]);
    assert!(start.elapsed() < Duration::from_secs(45));
    assert_eq!(
        errors(&ran),
        [format!(
            "image `{spec}`: `{}` is a FIFO, not a regular file",
            fifo.display()
        )],
        "{}",
        ran.stderr
    );
}

#[test]
fn archives_with_sparse_files_hard_links_or_a_flood_of_entries_are_refused() {
    if !require(&["tar"]) {
        return;
    }
    let Some(image) = Image::new() else { return };
    let work = image.dir.join("archives");
    fs::create_dir_all(&work).unwrap();
    let run_tar = |args: &[&str]| {
        let out = std::process::Command::new("tar")
            .args(args)
            .current_dir(&work)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    // A 1 TiB file that is all hole: GNU tar stores it as a sparse entry of a few bytes.
    let sparse = work.join("sparse");
    fs::File::create(&sparse).unwrap().set_len(1 << 40).unwrap();
    run_tar(&["--sparse", "-cf", "sparse.tar", "sparse"]);
    fs::write(work.join("file"), "x").unwrap();
    fs::hard_link(work.join("file"), work.join("link")).unwrap();
    run_tar(&["-cf", "link.tar", "file", "link"]);
    for (archive, entry, kind) in [
        ("sparse.tar", "sparse", "sparse file"),
        ("link.tar", "link", "hard link"),
    ] {
        let spec = format!("oci-archive:{}", work.join(archive).display());
        let tmp = image.dir.join("tmp");
        let (ran, cost) = measured(
            static_image(args!["verify", spec]),
            &tmp,
            Duration::from_secs(60),
        );
        assert_eq!(
            errors(&ran.code(2)),
            [format!(
                "image `{spec}`: archive entry `{entry}` is a {kind}, not a file or directory"
            )]
        );
        assert!(cost.peak_tmp_bytes < 1 << 20, "{}", cost.peak_tmp_bytes);
        assert_eq!(bytes_under(&tmp), 0);
    }

    // More entries than any image holds.
    let flood = work.join("flood.tar");
    let mut builder = tar::Builder::new(fs::File::create(&flood).unwrap());
    for _ in 0..100_001 {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_path("d/").unwrap();
        header.set_size(0);
        header.set_mode(0o755);
        header.set_cksum();
        builder.append(&header, std::io::empty()).unwrap();
    }
    builder.finish().unwrap();
    drop(builder);
    let spec = format!("oci-archive:{}", flood.display());
    let ran = image.package_on(&spec, &[]);
    assert_eq!(
        errors(&ran),
        [format!(
            "image `{spec}` holds more than 100000 archive entries; it is refused"
        )],
        "{}",
        ran.stderr
    );

    // An entry larger than the limit is refused before its bytes are unpacked.
    let archive = work.join("image.tar");
    static_image(args![
        "package",
        image.app.display(),
        "--ca-bundle",
        "builtin",
        "--output",
        format!("oci-archive:{}", archive.display()),
    ])
    .env("STATIC_IMAGE_CACHE_DIR", image.dir.join("cache"))
    .run()
    .ok();
    let spec = format!("oci-archive:{}", archive.display());
    let ran = static_image(args!["verify", spec, "--max-blob-size", "64KiB"])
        .run()
        .code(2);
    let said = errors(&ran);
    let head = format!("image `{spec}`: `blobs/sha256/");
    let tail = "bytes, more than the limit of 64KiB; if the image is trusted, raise it with \
                `--max-blob-size` or STATIC_IMAGE_MAX_BLOB_SIZE";
    assert!(
        said.len() == 1 && said[0].starts_with(&head) && said[0].ends_with(tail),
        "{}",
        ran.stderr
    );
}

#[test]
fn lying_bases_are_refused_before_anything_is_written() {
    if !require(&["musl-gcc", "python3"]) {
        return;
    }
    let dir = tempdir();
    let app = tiny(dir.path());
    let out = dir.path().join("out");
    let package = |base: String| {
        static_image(args![
            "package",
            app.display(),
            "--base",
            base,
            "--output",
            format!("oci:{}", out.display()),
        ])
        .run()
        .code(1)
    };
    // Archives with an absolute path, and with a link, inside.
    for (name, setup) in [
        (
            "absolute",
            "i=tarfile.TarInfo('/etc/evil'); i.size=1; t.addfile(i, io.BytesIO(b'x'))",
        ),
        (
            "link",
            "i=tarfile.TarInfo('blobs'); i.type=tarfile.SYMTYPE; i.linkname='/etc'; t.addfile(i)",
        ),
    ] {
        let evil = dir.path().join(format!("{name}.tar"));
        let script = format!(
            "import tarfile,io\nt=tarfile.open('{}','w')\n{setup}\nt.close()\n",
            evil.display()
        );
        tool("python3", &["-c", &script]);
        let ran = package(format!("oci-archive:{}", evil.display()));
        let said = ran.stderr.contains("escapes the archive")
            || ran.stderr.contains("not a file or directory");
        assert!(said, "{name}: {}", ran.stderr);
        assert!(!Path::new("/etc/evil").exists());
    }

    // A base made here, then damaged two ways.
    let base = dir.path().join("base");
    static_image(args![
        "package",
        app.display(),
        "--output",
        format!("oci:{}:v1", base.display()),
    ])
    .run()
    .ok();
    let manifest = manifest_for(&base, "v1");
    let layer = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = blob(&base, &layer);
    let original = fs::read(&path).unwrap();

    // The same number of bytes, one of them different.
    let mut flipped = original.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    fs::write(&path, &flipped).unwrap();
    let ran = package(format!("oci:{}:v1", base.display()));
    // The layer's size follows what the test built: the message is checked against it.
    let size = original.len();
    assert_output(
        &ran.stderr,
        &format!(
            "    Verified `[TMP]/tiny`: static, x86-64
     Reading base image `oci:[TMP]/base:v1`
error: image `oci:[TMP]/base:v1`: blob `sha256:<digest>` does not match its descriptor: {size} \
             bytes with digest sha256:<digest>, expected {size} bytes"
        ),
    );
    assert!(ran.stderr.contains(&layer), "{}", ran.stderr);

    // A manifest naming a blob that is not there.
    fs::remove_file(&path).unwrap();
    let ran = package(format!("oci:{}:v1", base.display()));
    assert_output(
        &ran.stderr,
        r#"    Verified `[TMP]/tiny`: static, x86-64
     Reading base image `oci:[TMP]/base:v1`
error: image `oci:[TMP]/base:v1`: cannot read `[TMP]/base/blobs/sha256/<digest>`
  caused by: No such file or directory (os error 2)"#,
    );
    assert!(
        ran.stderr.contains(layer.trim_start_matches("sha256:")),
        "{}",
        ran.stderr
    );
    assert!(!out.exists(), "a refused base wrote an image");
}
