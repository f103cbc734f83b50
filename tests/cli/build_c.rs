//! `static-image build` of C projects: make, CMake, autotools and a bare folder, each for amd64
//! (run in runc) and arm64 (run under qemu), built outside the user's tree.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Files of a project, without the `target/` the tool writes into.
fn sources(project: &Path) -> Vec<String> {
    listing(project)
        .into_iter()
        .filter(|p| p != "target" && !p.starts_with("target/"))
        .collect()
}

/// Builds `fixture` for both platforms and checks each binary where it can run.
fn builds_for_both_platforms(fixture: &str, tools: &[&str]) {
    if !(require(&["python3"]) && require(tools)) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture(fixture, &dir.path().join("src"));
    let before = sources(&project);
    let layout = dir.path().join("layout");

    for (platform, tag) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let ran = static_image(args![
            "--json",
            "build",
            project.display(),
            "--platform",
            platform,
            "-o",
            format!("oci:{}:{tag}", layout.display()),
        ])
        .run()
        .ok();
        let outcome: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
        let verify = &outcome["verify"];
        assert_eq!(verify["linkage"], "static", "{verify}");
        let exe = verify["path"].as_str().expect("path").to_string();
        // The same file, judged again for the platform it was built for.
        static_image(args!["verify", "--platform", platform, &exe])
            .run()
            .ok();
        if tag == "arm64" {
            assert_eq!(verify["machine"]["platform"], "linux/arm64", "{verify}");
            if require_for(&["qemu-aarch64-static"], "running the arm64 binary") {
                let out = Command::new("qemu-aarch64-static")
                    .arg(&exe)
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(out.status.success() && text.contains("aarch64"), "{out:?}");
            }
        } else if require_for(&["root", "runc", "umoci"], "running the amd64 image") {
            let (code, out) = run_in_runc(&layout, tag, &dir.path().join("run"));
            assert_eq!(code, 0, "{out}");
            assert!(out.contains("x86_64"), "{out}");
        }
    }
    assert_eq!(sources(&project), before, "the project's own files changed");
}

#[test]
fn make_project_builds_for_amd64_and_arm64() {
    builds_for_both_platforms("c-make", &["make"]);
}

#[test]
fn cmake_project_builds_out_of_tree_for_amd64_and_arm64() {
    builds_for_both_platforms("c-cmake", &["cmake", "make"]);
}

#[test]
fn autotools_project_is_bootstrapped_and_built_for_amd64_and_arm64() {
    builds_for_both_platforms("c-autotools", &["autoreconf", "make"]);
}

#[test]
fn bare_folder_of_c_builds_and_names_the_image_after_the_folder() {
    if !require(&["python3"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("c-bare", &dir.path().join("c-bare"));
    let layout = dir.path().join("layout");
    static_image(args![
        "build",
        project.display(),
        "-o",
        format!("oci:{}:x", layout.display())
    ])
    .run()
    .ok();
    let inspect = skopeo_inspect(&format!("oci:{}:x", layout.display()), true);
    assert_eq!(inspect["config"]["Entrypoint"][0], "/app/c-bare");
}

#[test]
fn several_programs_need_artifact_and_the_error_lists_them() {
    if !require(&["make", "musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    // Named after neither program: a project's own name would be picked without asking.
    let project = dir.path().join("pair");
    fs::create_dir_all(&project).unwrap();
    fs::write(project.join("a.c"), "int main(void){return 0;}\n").unwrap();
    fs::write(project.join("b.c"), "int main(void){return 0;}\n").unwrap();
    fs::write(
        project.join("Makefile"),
        "all: one two\none: a.c\n\t$(CC) $(CFLAGS) $(LDFLAGS) -o $@ a.c\ntwo: b.c\n\t$(CC) $(CFLAGS) $(LDFLAGS) -o bin/$@ b.c\n",
    )
    .unwrap();
    fs::create_dir_all(project.join("bin")).unwrap();
    // musl-gcc keeps this test quick; a user folder puts it first (zig is tested above).
    let toolchains = dir.path().join("toolchains");
    fs::create_dir_all(&toolchains).unwrap();
    fs::write(
        toolchains.join("c.toml"),
        "[[strategy]]\nname = \"musl-gcc\"\nsummary = \"musl-gcc first\"\nhost_only = true\n\
         requires = [\"musl-gcc\"]\ncc = [\"musl-gcc\"]\nar = [\"ar\"]\nldflags = [\"-static\"]\n\
         install = \"apt-get install musl-tools\"\n",
    )
    .unwrap();
    let ran = static_image(args![
        "build",
        project.display(),
        "--toolchains",
        toolchains.display()
    ])
    .run()
    .code(1);
    assert_output(
        &ran.stderr,
        r#"   Compiling `pair` for linux/amd64 (C `musl-gcc`)
[TMP]/pair/target/static-image-build/amd64/bin/cc   -o one a.c
[TMP]/pair/target/static-image-build/amd64/bin/cc   -o bin/two b.c
error: the build made several executables under `[TMP]/pair/target/static-image-build/amd64/src`: `bin/two`, `one`
help: pick one with `--artifact`, e.g. `--artifact bin/two`"#,
    );
    let layout = dir.path().join("layout");
    let ran = static_image(args![
        "build",
        project.display(),
        "--toolchains",
        toolchains.display(),
        "--artifact",
        "bin/two",
        "-o",
        format!("oci:{}:x", layout.display())
    ])
    .run()
    .ok();
    assert!(ran.stderr.contains("C `musl-gcc`"), "{}", ran.stderr);
    let inspect = skopeo_inspect(&format!("oci:{}:x", layout.display()), true);
    assert_eq!(inspect["config"]["Entrypoint"][0], "/app/two");
}

#[test]
fn the_static_glibc_fallback_builds_and_warns() {
    if !require(&["x86_64-linux-gnu-gcc"]) {
        return;
    }
    let dir = tempdir();
    // Rule out the musl strategies, as on a machine without zig and musl-gcc.
    let toolchains = toolchains_without(&dir.path().join("tc"), "c.toml", &["zig", "musl-gcc"]);
    let project = copy_fixture("c-bare", &dir.path().join("c-bare"));
    let ran = static_image(args![
        "--json",
        "build",
        project.display(),
        "--platform",
        "linux/amd64",
        "--toolchains",
        toolchains.display(),
        "-o",
        format!("oci:{}:x", dir.path().join("layout").display())
    ])
    .run()
    .ok();
    assert!(
        ran.stderr
            .contains("links glibc statically (strategy `gnu-static`"),
        "{}",
        ran.stderr
    );
    let outcome: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(outcome["verify"]["libc"], "glibc", "{outcome}");
    assert!(
        outcome["verify"]["glibc"]["version"].is_string(),
        "{outcome}"
    );
}
