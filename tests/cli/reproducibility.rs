//! `build --check-reproducible` on the Rust, Go and C fixtures: a second build of a copy at
//! another path, with no layer cache, gives the same image; and no build path or home directory
//! (so no user name in `/home/<user>`, and not CARGO_HOME) reaches the binary, the SBOM or the
//! config. A project that stamps the build time is caught, with the
//! differing file named.

use std::fs;
use std::path::Path;

use crate::support::{
    blob, copy_fixture, layer_entries, manifest_for, path_with_go, require, static_image, tempdir,
};

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
    if !(require("rust-musl") && require("go") && require("make") && require("python3")) {
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
    if !require("make") {
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
