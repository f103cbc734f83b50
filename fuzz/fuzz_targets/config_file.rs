//! The project settings loader on arbitrary bytes, as a `static-image.toml` and as a
//! `Cargo.toml` with a `[package.metadata.static-image]` table: read, parse and apply to default
//! build arguments in a project folder that holds a file, a directory and a link out of it, so
//! the path checks run too. It must refuse with an error, never panic, and never write.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use static_image::config;
use static_image::request::BuildRequest;

/// One project folder for the whole run: applying settings only reads it.
fn project() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, root) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path().canonicalize().expect("it resolves");
        std::fs::write(root.join("a.txt"), "a").expect("a file");
        std::fs::create_dir(root.join("sub")).expect("a directory");
        std::os::unix::fs::symlink("/", root.join("out")).expect("a link");
        (dir, root)
    });
    root
}

/// Loads and applies `text` written to `root/name`.
fn apply(root: &Path, name: &str, text: &[u8]) {
    let file = root.join(name);
    if std::fs::write(&file, text).is_err() {
        return;
    }
    if let Ok(settings) = config::load(&file, root) {
        let mut args = BuildRequest::default();
        let _ = settings.apply(&mut args, root, &|_| false, &file);
    }
    let _ = std::fs::remove_file(&file);
}

fuzz_target!(|data: &[u8]| {
    let root = project();
    apply(root, config::FILE_NAME, data);
    let mut cargo = b"[package]\nname = \"x\"\n[package.metadata.static-image]\n".to_vec();
    cargo.extend_from_slice(data);
    apply(root, "Cargo.toml", &cargo);
    apply(root, "Cargo.toml", data);
});
