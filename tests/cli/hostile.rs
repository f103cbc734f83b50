//! Hostile and broken input: `--add` sources and destinations that would escape or smuggle
//! special files, and base images whose archives, blobs or manifests lie. Each is a clear error
//! naming what is wrong, with nothing extracted outside a private directory and no output
//! written.

use std::fs;
use std::path::Path;

use crate::support::{
    blob, compile_c, layer_entries, manifest_for, require, static_image, tempdir, tool,
};

fn tiny(dir: &Path) -> std::path::PathBuf {
    compile_c(
        "musl-gcc",
        &["-static"],
        "int main(void){return 0;}\n",
        dir,
        "tiny",
    )
}

#[test]
fn add_refuses_escapes_and_special_files_and_normalises_modes() {
    if !require("musl-gcc") {
        return;
    }
    let dir = tempdir();
    let app = tiny(dir.path());
    let out = dir.path().join("out");
    let package = |add: String| {
        static_image(args![
            "package",
            app.display(),
            "--add",
            add,
            "--output",
            format!("oci:{}:v1", out.display()),
        ])
        .run()
    };
    let file = dir.path().join("conf");
    fs::write(&file, "x").unwrap();

    let ran = package(format!("{}:/app/../etc/passwd", file.display())).code(2);
    assert!(ran.stderr.contains("`.` or `..`"), "{}", ran.stderr);

    // A link inside an added folder, pointing out of it, is refused (not followed).
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", tree.join("shadow")).unwrap();
    let ran = package(format!("{}:/data/", tree.display())).code(1);
    assert!(ran.stderr.contains("is a symbolic link"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains(&tree.join("shadow").display().to_string())
    );
    fs::remove_file(tree.join("shadow")).unwrap();

    let ran = package("/dev/null:/dev/null".into()).code(1);
    assert!(
        ran.stderr.contains("`/dev/null` is a character device"),
        "{}",
        ran.stderr
    );
    let fifo = dir.path().join("fifo");
    tool("mkfifo", &[&fifo.display().to_string()]);
    let ran = package(format!("{}:/fifo", fifo.display())).code(1);
    assert!(ran.stderr.contains("is a FIFO"), "{}", ran.stderr);
    assert!(!out.exists(), "a refused add wrote an image");

    // Modes are normalised: 0600 becomes 0644 and 0700 becomes 0755, owned by root.
    use std::os::unix::fs::PermissionsExt;
    fs::write(tree.join("secret"), "s").unwrap();
    fs::set_permissions(tree.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(tree.join("tool"), "t").unwrap();
    fs::set_permissions(tree.join("tool"), fs::Permissions::from_mode(0o700)).unwrap();
    package(format!("{}:/data/", tree.display())).ok();
    let manifest = manifest_for(&out, "v1");
    let app_layer = manifest["layers"][1]["digest"].as_str().unwrap();
    let entries = layer_entries(&blob(&out, app_layer));
    let mode = |path: &str| {
        let e = entries.iter().find(|e| e.path == path).unwrap();
        assert_eq!((e.uid, e.gid), (0, 0));
        e.mode
    };
    assert_eq!(mode("data/tree/secret"), 0o644);
    assert_eq!(mode("data/tree/tool"), 0o755);
}

#[test]
fn lying_bases_are_refused_before_anything_is_written() {
    if !(require("musl-gcc") && require("python3")) {
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
    assert!(
        ran.stderr.contains("does not match its descriptor"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains(&layer), "{}", ran.stderr);

    // A manifest naming a blob that is not there.
    fs::remove_file(&path).unwrap();
    let ran = package(format!("oci:{}:v1", base.display()));
    assert!(ran.stderr.contains("cannot read"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(layer.trim_start_matches("sha256:")),
        "{}",
        ran.stderr
    );
    assert!(!out.exists(), "a refused base wrote an image");
}
