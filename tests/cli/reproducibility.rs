//! The same inputs give the same image: `build --check-reproducible` on the Rust, Go and C
//! fixtures (a second build of a copy at another path, with no layer cache, gives the same
//! image, and no build path or home directory, so no user name in `/home/<user>` and not
//! CARGO_HOME, reaches the binary, the SBOM or the config; a project that stamps the build time
//! is caught, with the differing file named); builds and packages repeated from other
//! directories, byte for byte; and `SOURCE_DATE_EPOCH`.

use std::fs;
use std::path::Path;

use crate::support::*;

/// Builds `fixture` from a copy with the check on; returns the layout and the copy's path.
fn check(fixture: &str, dir: &Path, go: bool) -> (std::path::PathBuf, std::path::PathBuf) {
    let project = copy_fixture(fixture, &dir.join("some/where").join(fixture));
    let layout = dir.join("image");
    let mut run = static_image(args![
        "build",
        project.display(),
        "--check-reproducible",
        "--output",
        format!("oci:{}:v1", layout.display()),
    ]);
    if go {
        run = run.env("PATH", path_with_go());
    }
    let ran = run.run().ok();
    assert!(ran.stderr.contains("Reproducible"), "{}", ran.stderr);
    assert_eq!(
        ran.stdout.lines().count(),
        1,
        "only the asked output: {}",
        ran.stdout
    );
    (layout, project)
}

/// Neither the build path nor the home directory appears in the app layer or the config.
fn assert_no_host_paths(layout: &Path, project: &Path) {
    let manifest = manifest_for(layout, "v1");
    let app = manifest["layers"][1]["digest"].as_str().unwrap();
    let config =
        fs::read_to_string(blob(layout, manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let leaks = [project.display().to_string(), format!("{home}/")];
    for entry in layer_entries(&blob(layout, app)) {
        for leak in &leaks {
            let found = entry.data.windows(leak.len()).any(|w| w == leak.as_bytes());
            assert!(!found, "`{leak}` is in `{}`", entry.path);
        }
    }
    for leak in &leaks {
        assert!(!config.contains(leak.as_str()), "`{leak}` is in the config");
    }
}

#[test]
fn rust_go_and_c_fixtures_are_reproducible_across_paths() {
    if !require(&["rust-musl", "go", "make", "python3"]) {
        return;
    }
    let dir = tempdir();
    // rust-cdep links a crate whose panic locations name its source under CARGO_HOME; c-bare
    // compiles by absolute path and asserts (recording `__FILE__`); c-make builds in a copy.
    for (fixture, go) in [
        ("rust-cdep", false),
        ("go-vendor", true),
        ("c-bare", false),
        ("c-make", false),
    ] {
        let here = dir.path().join(fixture);
        let (layout, project) = check(fixture, &here, go);
        assert_no_host_paths(&layout, &project);
    }
}

#[test]
fn a_build_that_stamps_the_time_is_caught_with_the_file_named() {
    if !require(&["make"]) {
        return;
    }
    let dir = tempdir();
    let project = dir.path().join("stamp");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("main.c"),
        "#include <stdio.h>\nint main(void){puts(STAMP);return 0;}\n",
    )
    .unwrap();
    fs::write(
        project.join("Makefile"),
        "STAMP_DEF = -DSTAMP=\\\"$(shell date +%s%N)\\\"\n\
         stamp: main.c\n\t$(CC) $(CFLAGS) $(STAMP_DEF) $(LDFLAGS) -o $@ main.c\n",
    )
    .unwrap();
    let ran = static_image(args!["build", project.display(), "--check-reproducible"])
        .run()
        .code(1);
    assert!(ran.stderr.contains("not reproducible"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("`/app/stamp` differs"),
        "{}",
        ran.stderr
    );
    // The two images and the copy are kept for the user; this test removes them.
    let kept = ran
        .stderr
        .split("kept in `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("the error names where the images are kept");
    assert!(Path::new(kept).join("first/index.json").is_file());
    assert!(Path::new(kept).join("second/index.json").is_file());
    fs::remove_dir_all(kept).unwrap();
}

#[test]
fn builds_are_reproducible_across_runs_and_source_directories() {
    if !require(&["rust-musl"]) {
        return;
    }
    let dir = tempdir();
    let one = copy_fixture("rust-hello", &dir.path().join("one"));
    let two = copy_fixture("rust-hello", &dir.path().join("somewhere/else/two"));
    let layout = dir.path().join("layout");
    let first = build_into(&one, &layout, &[]);
    let again = build_into(&one, &layout, &[]);
    let elsewhere = build_into(&two, &dir.path().join("layout2"), &[]);
    assert_eq!(first, again);
    assert_eq!(first, elsewhere);
    // No trace of where it was built in the image config.
    let manifest = manifest_for(&layout, "test");
    let config = fs::read_to_string(blob(
        &layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    assert!(
        !config.contains(&dir.path().display().to_string()),
        "{config}"
    );
}

#[test]
fn same_inputs_give_the_same_digest_and_bytes_from_any_directory() {
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let package = |cwd: &Path, out: &str, epoch: Option<&str>| {
        let mut run = static_image(args![
            "package",
            exe.display(),
            "-o",
            format!("oci-archive:{out}"),
            "--port",
            "80",
            "--label",
            "a=1",
            "--label",
            "b=2",
        ])
        .cwd(cwd);
        if let Some(e) = epoch {
            run = run.env("SOURCE_DATE_EPOCH", e);
        }
        run.run().ok().digest()
    };
    let elsewhere = dir.path().join("elsewhere/deeper");
    fs::create_dir_all(&elsewhere).unwrap();
    let first = package(dir.path(), "one.tar", None);
    let second = package(dir.path(), "two.tar", None);
    let third = package(&elsewhere, "three.tar", None);
    assert_eq!(first, second);
    assert_eq!(first, third);
    let bytes = fs::read(dir.path().join("one.tar")).unwrap();
    assert_eq!(bytes, fs::read(dir.path().join("two.tar")).unwrap());
    assert_eq!(bytes, fs::read(elsewhere.join("three.tar")).unwrap());
    // SOURCE_DATE_EPOCH is honoured: a different time is a different image, reproducibly.
    let dated = package(dir.path(), "dated.tar", Some("1700000000"));
    assert_ne!(dated, first);
    assert_eq!(dated, package(&elsewhere, "dated2.tar", Some("1700000000")));
    let ran = static_image(args!["package", exe.display()])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .cwd(dir.path())
        .run()
        .code(1);
    let far = static_image(args!["package", exe.display()])
        .env("SOURCE_DATE_EPOCH", "253402300800")
        .cwd(dir.path())
        .run()
        .code(1);
    assert_output(
        &far.stderr,
        r#"error: SOURCE_DATE_EPOCH is `253402300800`, not a whole number of seconds from 1970 to 9999
help: unset it, or set it to e.g. `$(git log -1 --format=%ct)`"#,
    );
    assert_output(
        &ran.stderr,
        r#"error: SOURCE_DATE_EPOCH is `yesterday`, not a whole number of seconds from 1970 to 9999
help: unset it, or set it to e.g. `$(git log -1 --format=%ct)`"#,
    );
}
