//! Verdicts that must not lie: images whose entrypoint cannot start once the layers are
//! stacked as a runtime stacks them, ELF files whose headers lie about how they load, and a
//! layer entry too large to hold in memory. Each image is made here: a tiny static binary
//! packaged by the tool, then a layer of our own added on top, with every digest updated.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::support::*;

/// An entry of a layer we add.
enum E<'a> {
    File(&'a str, u32, &'a [u8]),
    Dir(&'a str),
    Link(&'a str, &'a str),
}

fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn write_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = sha256(bytes);
    fs::write(blob(layout, &digest), bytes).unwrap();
    (digest, bytes.len())
}

/// An uncompressed layer tar holding `entries`, in that order.
fn layer_tar(entries: &[E]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        match entry {
            E::File(path, mode, data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, *data).unwrap();
            }
            E::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
            E::Link(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// Adds the uncompressed layer at `layer` (whose sha256 is `digest`) on top of `layout:v1`,
/// sets the entrypoint when given, and rewrites config, manifest and index to match.
fn add_layer(layout: &Path, layer: (String, u64), entrypoint: Option<&str>) {
    let index_path = layout.join("index.json");
    let mut index = read_json(&index_path);
    let slot = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "v1")
        .unwrap();
    let mut manifest = read_json(&blob(
        layout,
        index["manifests"][slot]["digest"].as_str().unwrap(),
    ));
    let mut config = read_json(&blob(
        layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ));
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(json!(layer.0));
    config["history"]
        .as_array_mut()
        .unwrap()
        .push(json!({"created_by": "test layer"}));
    if let Some(entrypoint) = entrypoint {
        config["config"]["Entrypoint"] = json!([entrypoint]);
    }
    let (config_digest, config_size) = write_blob(layout, &serde_json::to_vec(&config).unwrap());
    manifest["config"]["digest"] = json!(config_digest);
    manifest["config"]["size"] = json!(config_size);
    manifest["layers"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": layer.0,
        "size": layer.1,
    }));
    let (digest, size) = write_blob(layout, &serde_json::to_vec(&manifest).unwrap());
    index["manifests"][slot]["digest"] = json!(digest);
    index["manifests"][slot]["size"] = json!(size);
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

/// A copy of the packaged layout with a layer of `entries` and the entrypoint `entrypoint`.
fn image_with(base: &Path, dir: &Path, name: &str, entries: &[E], entrypoint: &str) -> String {
    let layout = dir.join(name);
    copy_dir(base, &layout);
    let (digest, size) = write_blob(&layout, &layer_tar(entries));
    add_layer(&layout, (digest, size as u64), Some(entrypoint));
    format!("oci:{}:v1", layout.display())
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A static musl program packaged as `oci:DIR/base:v1` (at `/app/tiny`, the entrypoint).
fn packaged(dir: &Path) -> (PathBuf, PathBuf) {
    let tiny = compile_c(
        "musl-gcc",
        &["-static"],
        "int main(void){return 0;}\n",
        dir,
        "tiny",
    );
    let base = dir.join("base");
    static_image(args![
        "package",
        tiny.display(),
        "--output",
        format!("oci:{}:v1", base.display()),
    ])
    .run()
    .ok();
    (tiny, base)
}

/// The image-level `problem:` lines `verify IMAGE` prints (a file's own are aligned further).
fn problems(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  problem: "))
        .filter(|rest| !rest.starts_with(' '))
        .collect()
}

#[test]
fn the_entrypoint_is_resolved_as_the_runtime_resolves_it() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let (tiny, base) = packaged(d);
    let static_bytes = fs::read(&tiny).unwrap();
    let dynamic = compile_c("musl-gcc", &[], "int main(void){return 0;}\n", d, "dyn");
    let dynamic_bytes = fs::read(&dynamic).unwrap();
    let mut arm64 = static_bytes.clone();
    arm64[18..20].copy_from_slice(&183u16.to_le_bytes()); // e_machine = EM_AARCH64

    let cases: Vec<(&str, Vec<E>, &str, &str)> = vec![
        (
            "dangling",
            vec![E::Link("entry", "/nowhere")],
            "/entry",
            "the entrypoint `/entry` cannot be resolved: `/entry` is a dangling link to `/nowhere`",
        ),
        (
            "loop",
            vec![E::Link("entry", "/loop"), E::Link("loop", "entry")],
            "/entry",
            "the entrypoint `/entry` cannot be resolved: symbolic link loop at `/entry` (more \
             than 40 links followed)",
        ),
        (
            "directory",
            vec![],
            "/app",
            "the entrypoint `/app` is a directory",
        ),
        (
            "missing",
            vec![],
            "/nope",
            "the entrypoint `/nope` is not in the image: it would fail with `exec /nope: no \
             such file or directory`",
        ),
        (
            "script",
            vec![E::File("entry", 0o755, b"#!/bin/sh\necho hi\n")],
            "/entry",
            "the entrypoint `/entry` is a script for `/bin/sh`, not a static binary; the image \
             does not have it",
        ),
        (
            "dynamic",
            vec![E::File("usr/bin/entry", 0o755, &dynamic_bytes)],
            "entry",
            "the entrypoint `entry` (resolving to `/usr/bin/entry`) is not static: interpreter \
             `/lib/ld-musl-x86_64.so.1`; needs `libc.so`",
        ),
        (
            "arm64",
            vec![E::File("entry", 0o755, &arm64)],
            "/entry",
            "the entrypoint `/entry` does not fit: built for aarch64, 64-bit, not for \
             linux/amd64 (x86_64)",
        ),
        (
            "no-exec",
            vec![E::File("entry", 0o644, &static_bytes)],
            "/entry",
            "the entrypoint `/entry` has no execute bit (mode 0644)",
        ),
        (
            "dir-replaced",
            vec![E::File("app", 0o755, &static_bytes)],
            "/app/tiny",
            "the entrypoint `/app/tiny` cannot be resolved: `/app` is not a directory",
        ),
        (
            "duplicate",
            vec![
                E::File("entry", 0o755, &static_bytes),
                E::File("./entry", 0o755, b"#!/bin/busybox sh\n"),
                E::File("bin/busybox", 0o755, &static_bytes),
            ],
            "/entry",
            "the entrypoint `/entry` is a script for `/bin/busybox`, not a static binary; the \
             image has it (`/bin/busybox`)",
        ),
    ];
    for (name, entries, entrypoint, expected) in cases {
        let image = image_with(&base, d, name, &entries, entrypoint);
        let ran = static_image(args!["verify", image]).run().code(1);
        assert_eq!(
            problems(&ran.stdout),
            vec![expected],
            "{name}: {}",
            ran.stdout
        );
    }

    // Absolute and relative links to the static binary, a `./` path against `WorkingDir`'s
    // default, and a directory opened by an upper layer's entry: all start.
    let good = [
        ("absolute", vec![E::Link("entry", "/app/tiny")], "/entry"),
        (
            "relative",
            vec![
                E::Dir("usr/bin"),
                E::Link("usr/bin/entry", "../../app/tiny"),
            ],
            "/usr/bin/entry",
        ),
        ("dot", vec![E::Link("entry", "app/./tiny")], "./entry"),
    ];
    for (name, entries, entrypoint) in good {
        let image = image_with(&base, d, name, &entries, entrypoint);
        let ran = static_image(args!["verify", image]).run().ok();
        assert!(problems(&ran.stdout).is_empty(), "{name}: {}", ran.stdout);
        assert!(ran.stdout.contains(": 1 ELF file, all static\n"), "{name}");
    }
}

/// The program headers (offset, type) of a 64-bit little-endian ELF file.
fn program_headers(bytes: &[u8]) -> Vec<(usize, u32)> {
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(bytes[56..58].try_into().unwrap()) as usize;
    (0..phnum)
        .map(|i| {
            let at = phoff + 56 * i;
            (
                at,
                u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()),
            )
        })
        .collect()
}

/// Turns the program header at `at` into a `PT_INTERP` naming `len` bytes at `offset`.
fn make_interp(bytes: &mut [u8], at: usize, offset: u64, len: u64) {
    bytes[at..at + 4].copy_from_slice(&3u32.to_le_bytes());
    bytes[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
    bytes[at + 32..at + 40].copy_from_slice(&len.to_le_bytes());
}

#[test]
fn a_malformed_elf_is_never_static() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let tiny = compile_c(
        "musl-gcc",
        &["-static"],
        "int main(void){return 0;}\n",
        d,
        "tiny",
    );
    let original = fs::read(&tiny).unwrap();
    // `PT_GNU_STACK` is harmless to repurpose: it names no bytes.
    let (stack, _) = *program_headers(&original)
        .iter()
        .find(|(_, kind)| *kind == 0x6474_e551)
        .unwrap();

    // A `PT_INTERP` beyond the end of the file: malformed, exit 2.
    let mut outside = original.clone();
    make_interp(&mut outside, stack, 1 << 40, 32);
    let outside_path = d.join("interp-outside");
    fs::write(&outside_path, &outside).unwrap();
    let ran = static_image(args!["verify", outside_path.display()])
        .run()
        .code(2);
    assert_eq!(
        ran.stderr.trim_end(),
        format!(
            "error: `{}`: is a truncated or malformed ELF file: its `PT_INTERP` names bytes \
             1099511627776..1099511627808 of a {}-byte file",
            outside_path.display(),
            outside.len()
        )
    );

    // A `PT_INTERP` whose path is not UTF-8: dynamic, exit 1, shown escaped.
    let mut odd = original.clone();
    let at = odd.len() as u64;
    odd.extend_from_slice(b"/lib/ld-\xff\xfe.so\0");
    make_interp(&mut odd, stack, at, 14);
    let odd_path = d.join("interp-not-utf8");
    fs::write(&odd_path, &odd).unwrap();
    let ran = static_image(args!["verify", odd_path.display()])
        .run()
        .code(1);
    let lines: Vec<&str> = ran.stdout.lines().take(4).collect();
    assert_eq!(
        lines,
        vec![
            format!("{}: dynamic, NOT STATIC", odd_path.display()).as_str(),
            "  machine:     x86-64, 64-bit (linux/amd64)",
            "  interpreter: /lib/ld-\\xff\\xfe.so",
            "  needed:      none",
        ],
        "{}",
        ran.stdout
    );

    // A `DT_NEEDED` whose name lies outside the string table: still a needed library.
    let pie = compile_c(
        "gcc",
        &["-static-pie"],
        "int main(void){return 0;}\n",
        d,
        "pie",
    );
    let mut needy = fs::read(&pie).unwrap();
    let (dynamic, _) = *program_headers(&needy)
        .iter()
        .find(|(_, kind)| *kind == 2)
        .unwrap();
    let offset = u64::from_le_bytes(needy[dynamic + 8..dynamic + 16].try_into().unwrap()) as usize;
    let null = (offset..)
        .step_by(16)
        .find(|at| needy[*at..*at + 8] == [0; 8])
        .unwrap();
    needy[null..null + 8].copy_from_slice(&1u64.to_le_bytes()); // DT_NEEDED
    needy[null + 8..null + 16].copy_from_slice(&0x7fff_ffffu64.to_le_bytes());
    let needy_path = d.join("needed-out-of-range");
    fs::write(&needy_path, &needy).unwrap();
    let ran = static_image(args!["verify", needy_path.display()])
        .run()
        .code(1);
    assert!(
        ran.stdout.starts_with(&format!(
            "{}: dynamic, NOT STATIC\n  machine:     x86-64, 64-bit (linux/amd64)\n  \
             interpreter: none\n  needed:      <unreadable name at string offset 2147483647>\n",
            needy_path.display()
        )),
        "{}",
        ran.stdout
    );
}

/// A layer holding one entry of `size` bytes that starts like an ELF file, written sparse: a
/// tar header, `\x7fELF`, zeros, the end blocks.
fn huge_layer(path: &Path, size: u64) -> (String, u64) {
    let mut header = tar::Header::new_gnu();
    header.set_path("big").unwrap();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_size(size);
    header.set_cksum();
    let mut file = fs::File::create(path).unwrap();
    file.write_all(header.as_bytes()).unwrap();
    file.write_all(b"\x7fELF").unwrap();
    let len = 512 + size + 1024;
    file.set_len(len).unwrap();
    drop(file);
    let sum = Command::new("sha256sum").arg(path).output().unwrap();
    let hex = String::from_utf8(sum.stdout).unwrap();
    (format!("sha256:{}", &hex[..64]), len)
}

/// `verify` on an image whose top layer holds one `size`-byte ELF-looking entry: the peak
/// memory of the child (KiB) and the wall time, after checking its verdict.
fn verify_huge_entry(size: u64) -> (u64, std::time::Duration) {
    let dir = tempdir();
    let d = dir.path();
    let (_, base) = packaged(d);
    let layer = d.join("huge.tar");
    let (digest, len) = huge_layer(&layer, size);
    fs::rename(&layer, blob(&base, &digest)).unwrap();
    add_layer(&base, (digest, len), None);

    // Python waits for the child alone, so its RUSAGE_CHILDREN peak is the tool's.
    let started = Instant::now();
    let out = Command::new("python3")
        .args([
            "-c",
            "import resource, subprocess, sys\n\
             r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n\
             print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
             print(r.stdout, end='')",
        ])
        .arg(crate::support::bin())
        .args(["verify", &format!("oci:{}:v1", base.display())])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (first, report) = stdout.split_once('\n').unwrap();
    let (code, peak_kib) = first.split_once(' ').unwrap();
    let peak_kib: u64 = peak_kib.parse().unwrap();
    assert_eq!(code, "1", "{stdout}");
    assert_eq!(
        problems(report),
        vec!["`/big`: is a truncated or malformed ELF file: Malformed entity: invalid ELF class 0"],
        "{report}"
    );
    (peak_kib, elapsed)
}

#[test]
fn a_large_entry_is_read_in_bounded_memory() {
    if !require(&["musl-gcc", "python3"]) {
        return;
    }
    // 256 MiB: read whole, it alone would be over the bound.
    let (peak_kib, elapsed) = verify_huge_entry(256 << 20);
    assert!(peak_kib < 100 * 1024, "peak RSS {peak_kib} KiB");
    assert!(elapsed.as_secs() < 300, "took {elapsed:?}");
    eprintln!("256 MiB entry: peak RSS {peak_kib} KiB, {elapsed:?}");
}

/// The same with 4 GiB: minutes in a debug build (reading the image copies and hashes the
/// layer), so run on demand: `cargo test --test cli -- --ignored a_4_gib_entry`.
#[test]
#[ignore]
fn a_4_gib_entry_is_read_in_bounded_memory() {
    if !require(&["musl-gcc", "python3"]) {
        return;
    }
    let (peak_kib, elapsed) = verify_huge_entry(4 << 30);
    assert!(peak_kib < 100 * 1024, "peak RSS {peak_kib} KiB");
    eprintln!("4 GiB entry: peak RSS {peak_kib} KiB, {elapsed:?}");
}
