//! The ground a test stands on: a fresh temporary directory, copies of `tests/fixtures/`
//! projects, toolchain folders that switch built-in strategies off, and listings of what a run
//! left behind.

use std::fs;
use std::path::{Path, PathBuf};

use super::run::repo;

/// A fresh temporary directory, readable by everyone (runc, setpriv'd runs).
pub fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("static-image-test.")
        .tempdir()
        .expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Copies `tests/fixtures/<name>` (without build products) to `dest`.
pub fn copy_fixture(name: &str, dest: &Path) -> PathBuf {
    let src = repo().join("tests/fixtures").join(name);
    copy_tree(&src, dest);
    dest.to_owned()
}

fn copy_tree(src: &Path, dest: &Path) {
    fs::create_dir_all(dest).expect("mkdir");
    for entry in fs::read_dir(src).expect("read fixture") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let to = dest.join(&name);
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            fs::copy(entry.path(), &to).expect("copy");
        }
    }
}

/// A `--toolchains` folder whose `file` (`c.toml`, `rust.toml`) turns off the built-in
/// strategies `names` by replacing each with one that needs a program no machine has.
pub fn toolchains_without(dir: &Path, file: &str, names: &[&str]) -> PathBuf {
    fs::create_dir_all(dir).expect("toolchains dir");
    let mut text = String::new();
    for name in names {
        text += &format!(
            "[[strategy]]\nname = \"{name}\"\nsummary = \"off\"\nrequires = [\"no-such-{name}\"]\n\
             install = \"get no-such-{name}\"\n\n"
        );
    }
    fs::write(dir.join(file), text).expect("toolchain file");
    dir.to_owned()
}

/// Every file below `dir`, relative, sorted (to show that nothing was left behind).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).expect("prefix").display().to_string());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}
