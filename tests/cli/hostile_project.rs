//! A cloned project cannot reach outside itself: the paths its own settings name must stay in
//! the project (after `..` and links), an archive output may only replace one of ours, and the
//! same values given on the command line are the user's to give. Names from images and binaries
//! reach the terminal with their control characters escaped.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::support::*;

/// A one-file C project at `dir/proj` with `settings` as its static-image.toml; returns the
/// project and its resolved path (as messages name it).
fn project(dir: &Path, settings: &str) -> (PathBuf, PathBuf) {
    let project = dir.join("proj");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("main.c"),
        "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n",
    )
    .unwrap();
    fs::write(project.join("static-image.toml"), settings).unwrap();
    let real = project.canonicalize().unwrap();
    (project, real)
}

/// A toolchains folder that puts musl-gcc first, so the builds here take a second.
fn musl_gcc_first(dir: &Path) -> PathBuf {
    let toolchains = dir.join("toolchains");
    fs::create_dir_all(&toolchains).unwrap();
    fs::write(
        toolchains.join("c.toml"),
        "[[strategy]]\nname = \"musl-gcc\"\nsummary = \"musl-gcc first\"\nhost_only = true\n\
         requires = [\"musl-gcc\"]\ncc = [\"musl-gcc\"]\nar = [\"ar\"]\nldflags = [\"-static\"]\n\
         install = \"apt-get install musl-tools\"\n",
    )
    .unwrap();
    toolchains
}

/// `build PROJECT EXTRA…` with the layer cache beside the project.
fn build(dir: &Path, project: &Path, extra: &[String]) -> Ran {
    let mut words = args!["build", project.display()];
    words.extend(extra.iter().cloned());
    static_image(words)
        .env("STATIC_IMAGE_TOOLCHAINS", musl_gcc_first(dir))
        .env("STATIC_IMAGE_CACHE_DIR", dir.join("cache"))
        .run()
}

/// The refusal of `value` (as joined to the project), leading to `resolved` if given.
fn outside(
    settings: &Path,
    key: &str,
    value: &str,
    resolved: Option<&Path>,
    root: &Path,
) -> String {
    let leads = resolved
        .map(|r| format!(" (it leads to `{}`)", r.display()))
        .unwrap_or_default();
    format!(
        "error: `{}`: `{key}`: `{value}`{leads} is outside the project `{}`; a project's settings \
         may only name files inside it (give it on the command line to use it anyway)\n",
        settings.display(),
        root.display()
    )
}

#[test]
fn paths_in_a_projects_settings_must_stay_inside_it() {
    let dir = tempdir();
    let base = dir.path().canonicalize().unwrap();
    let (project, root) = project(dir.path(), "");
    let settings = project.join("static-image.toml");
    fs::create_dir_all(base.join("outside")).unwrap();
    fs::write(base.join("outside/secret"), "secret").unwrap();
    symlink(base.join("outside"), project.join("link")).unwrap();

    let cases: [(&str, &str, String, Option<PathBuf>); 8] = [
        (
            "add = [\"/etc/hostname:/etc/hostname\"]",
            "add",
            "/etc/hostname".into(),
            None,
        ),
        (
            "add = [\"../outside:/data/\"]",
            "add",
            format!("{}/../outside", root.display()),
            Some(base.join("outside")),
        ),
        (
            "add = [\"link/secret:/secret\"]",
            "add",
            format!("{}/link/secret", root.display()),
            Some(base.join("outside/secret")),
        ),
        (
            "ca-bundle = \"/etc/hostname\"",
            "ca-bundle",
            "/etc/hostname".into(),
            None,
        ),
        (
            "extra-ca = [\"link/secret\"]",
            "extra-ca",
            format!("{}/link/secret", root.display()),
            Some(base.join("outside/secret")),
        ),
        (
            "sign-key = \"link/secret\"",
            "sign-key",
            format!("{}/link/secret", root.display()),
            Some(base.join("outside/secret")),
        ),
        (
            "debug-variant = true\ndebug-shell = \"link/secret\"",
            "debug-shell",
            format!("{}/link/secret", root.display()),
            Some(base.join("outside/secret")),
        ),
        (
            "outputs = [\"oci-archive:../x.tar\"]",
            "outputs",
            format!("{}/../x.tar", root.display()),
            Some(base.join("x.tar")),
        ),
    ];
    for (text, key, value, resolved) in cases {
        fs::write(&settings, text).unwrap();
        // Refused before anything is built: no build tool is needed to see it.
        let ran = static_image(args!["build", project.display()])
            .run()
            .code(2);
        assert_eq!(
            ran.stderr,
            outside(&settings, key, &value, resolved.as_deref(), &root),
            "{text}"
        );
    }
    assert!(!base.join("x.tar").exists());

    // A base image named by path is a file like any other.
    fs::write(&settings, "base = \"oci-archive:/etc/hostname\"").unwrap();
    let ran = static_image(args!["build", project.display()])
        .run()
        .code(2);
    assert_eq!(
        ran.stderr,
        outside(&settings, "base", "/etc/hostname", None, &root)
    );

    // A missing file is named with its key, not as a flag nobody typed.
    fs::write(&settings, "add = [\"LICENSE:/LICENSE\"]").unwrap();
    let ran = static_image(args!["build", project.display()])
        .run()
        .code(2);
    assert_eq!(
        ran.stderr,
        format!(
            "error: `{}`: `add`: `{}/LICENSE` cannot be read\n  caused by: No such file or \
             directory (os error 2)\n",
            settings.display(),
            root.display()
        )
    );
}

#[test]
fn an_archive_output_from_settings_replaces_only_an_archive_of_ours() {
    let dir = tempdir();
    let (project, root) = project(dir.path(), "outputs = [\"oci-archive:notes.txt\"]\n");
    let settings = project.join("static-image.toml");
    let notes = project.join("notes.txt");
    fs::write(&notes, "my notes\n").unwrap();
    let ran = static_image(args!["build", project.display()])
        .run()
        .code(2);
    assert_eq!(
        ran.stderr,
        format!(
            "error: `{}`: `outputs`: `{}/notes.txt` exists and is not an image archive written \
             by static-image; a project's settings may not replace it (remove it, or give the \
             output on the command line)\n",
            settings.display(),
            root.display()
        )
    );
    assert_eq!(fs::read_to_string(&notes).unwrap(), "my notes\n");

    // A tar of something else is not ours either.
    let other = project.join("other.tar");
    tool(
        "tar",
        &[
            "-cf",
            other.to_str().unwrap(),
            "-C",
            project.to_str().unwrap(),
            "main.c",
        ],
    );
    let before = fs::read(&other).unwrap();
    fs::write(&settings, "outputs = [\"oci-archive:other.tar\"]\n").unwrap();
    let ran = static_image(args!["build", project.display()])
        .run()
        .code(2);
    assert!(
        ran.stderr.starts_with(&format!(
            "error: `{}`: `outputs`: `{}/other.tar` exists and is not an image archive",
            settings.display(),
            root.display()
        )),
        "{}",
        ran.stderr
    );
    assert_eq!(fs::read(&other).unwrap(), before);
}

#[test]
fn the_user_may_name_any_path_and_settings_may_rewrite_our_archive() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let base = dir.path().canonicalize().unwrap();
    let (project, _) = project(dir.path(), "");
    fs::create_dir_all(base.join("outside")).unwrap();
    fs::write(base.join("outside/secret"), "secret").unwrap();
    symlink(base.join("outside"), project.join("link")).unwrap();
    fs::copy(
        "/etc/ssl/certs/ca-certificates.crt",
        base.join("outside/ca.pem"),
    )
    .unwrap();

    // Every value refused from the settings above, given on the command line instead.
    let archive = project.join("img.tar");
    let words = args![
        "--add",
        "/etc/hostname:/etc/hostname",
        "--add",
        format!("{}/../outside:/data/", project.display()),
        "--add",
        format!("{}/link/secret:/secret", project.display()),
        "--ca-bundle",
        base.join("outside/ca.pem").display(),
        "-o",
        format!("oci-archive:{}/../x.tar", project.display()),
        "-o",
        format!("oci-archive:{}", archive.display()),
    ];
    let ran = build(dir.path(), &project, &words).ok();
    assert!(base.join("x.tar").is_file(), "{}", ran.stderr);
    let first = fs::read(&archive).unwrap();

    // The settings now name the archive the tool just wrote: it may be replaced.
    fs::write(
        project.join("static-image.toml"),
        "outputs = [\"oci-archive:img.tar\"]\nlabels = { again = \"yes\" }\n",
    )
    .unwrap();
    build(dir.path(), &project, &[]).ok();
    assert_ne!(
        fs::read(&archive).unwrap(),
        first,
        "rewritten with the label"
    );
}

#[test]
fn a_settings_file_that_is_huge_a_fifo_or_a_link_out_is_refused() {
    let dir = tempdir();
    let base = dir.path().canonicalize().unwrap();
    let (project, _) = project(dir.path(), "");
    let settings = project.join("static-image.toml");
    let refused = |detail: &str| {
        let ran = static_image(args!["build", project.display()])
            .run()
            .code(2);
        assert_eq!(
            ran.stderr,
            format!("error: settings file `{}` {detail}\n", settings.display())
        );
    };

    let mut huge = "# padding\n".repeat(200_000);
    huge.push_str("ports = [\"80\"]\n");
    fs::write(&settings, huge).unwrap();
    refused("is larger than 1024 KiB; a settings file is a few lines");

    fs::remove_file(&settings).unwrap();
    tool("mkfifo", &[settings.to_str().unwrap()]);
    // Judged without opening it: opening a FIFO with no writer would wait forever.
    refused("is a FIFO, not a regular file");

    fs::remove_file(&settings).unwrap();
    fs::write(base.join("elsewhere.toml"), "ports = [\"80\"]\n").unwrap();
    symlink(base.join("elsewhere.toml"), &settings).unwrap();
    refused(&format!(
        "is a symbolic link to `{}`, outside the project `{}`",
        base.join("elsewhere.toml").display(),
        project.canonicalize().unwrap().display()
    ));
}

#[test]
fn a_settings_value_that_fails_later_is_blamed_on_the_file_and_key() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let (project, root) = project(dir.path(), "add = [\"pipe:/pipe\"]\n");
    let settings = project.join("static-image.toml");
    tool("mkfifo", &[project.join("pipe").to_str().unwrap()]);
    let ran = build(dir.path(), &project, &[]).code(1);
    let errors: Vec<&str> = ran
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("error:"))
        .collect();
    assert_eq!(
        errors,
        [
            format!(
                "error: `{}`: `add`: `{}/pipe` is a FIFO; only regular files and directories \
                 can be added",
                settings.display(),
                root.display()
            ),
            format!(
                "help: change `add` in `{}`, or give `--add` on the command line",
                settings.display()
            ),
        ],
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("--add source"), "{}", ran.stderr);
}

/// Replaces the first `from` in `bytes` by `to`, of the same length.
fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the bytes to patch");
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn control_characters_in_names_from_binaries_and_images_are_escaped() {
    if !require(&["gcc", "musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    // A dynamic binary whose interpreter path clears the screen and forges a line.
    let dynamic = compile_c("gcc", &[], "int main(void){return 0;}\n", dir.path(), "dyn");
    let mut bytes = fs::read(&dynamic).unwrap();
    let interp = b"/lib64/ld-linux-x86-64.so.2";
    let raw = b"/x\x1b[2J\nok: static\x1b[0m";
    let padding = interp.len() - raw.len();
    let mut forged = raw.to_vec();
    forged.resize(interp.len(), b'y');
    patch(&mut bytes, interp, &forged);
    let evil = dir.path().join("evil");
    fs::write(&evil, &bytes).unwrap();
    let ran = static_image(args!["verify", evil.display()]).run().code(1);
    assert!(!ran.stdout.contains('\x1b'), "{:?}", ran.stdout);
    let line = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("  interpreter:"))
        .unwrap_or_else(|| panic!("{}", ran.stdout));
    assert_eq!(
        line,
        format!(
            "  interpreter: /x\\x1b[2J\\nok: static\\x1b[0m{}",
            "y".repeat(padding)
        )
    );

    // An image whose layer holds a file named with ESC and a newline.
    let app = musl_app(dir.path(), "hi");
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    fs::copy(&app, data.join("tool\x1b]0;pwned\x07\nok")).unwrap();
    let image = format!("oci-archive:{}", dir.path().join("img.tar").display());
    package_run(
        &app,
        &image,
        &dir.path().join("cache"),
        &["--add", &format!("{}:/data/", data.display())],
    )
    .run()
    .ok();
    let ran = static_image(args!["verify", &image]).run().ok();
    assert!(!ran.stdout.contains('\x1b'), "{:?}", ran.stdout);
    assert!(!ran.stdout.contains('\x07'), "{:?}", ran.stdout);
    assert!(
        ran.stdout
            .lines()
            .any(|l| l == "/data/data/tool\\x1b]0;pwned\\x07\\nok: static, ok"),
        "{}",
        ran.stdout
    );
}
