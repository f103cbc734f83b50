//! `--debug-variant` beyond the layout: refusals before anything is written, a push, and the
//! settings file's keys.

use std::fs;

use serde_json::Value;

use crate::support::registry::{Auth, Registry};
use crate::support::*;

#[test]
fn a_missing_or_unfit_shell_is_refused_before_anything_is_written() {
    if !require(&["musl-gcc", "aarch64-linux-gnu-gcc", "gcc"]) {
        return;
    }
    let dir = tempdir();
    let arm64 = compile_c(
        "aarch64-linux-gnu-gcc",
        &["-static"],
        HELLO_C,
        dir.path(),
        "app",
    );
    let layout = dir.path().join("out");
    let cache = dir.path().join("cache");
    let output = format!("oci:{}", layout.display());

    // No busybox for arm64 on this host, none given: the apt commands that get one.
    let ran = package_run(&arm64, &output, &cache, &["--debug-variant"])
        .run()
        .code(1);
    assert!(
        ran.stderr
            .contains("no static busybox for linux/arm64 to make the debug variant with"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("apt-get download busybox-static:arm64"),
        "{}",
        ran.stderr
    );
    assert!(!layout.exists());

    // A dynamic program is no shell for the variant.
    let dynamic = compile_c("gcc", &[], HELLO_C, dir.path(), "dynamic");
    let app = musl_app(dir.path(), "hi");
    let ran = package_run(
        &app,
        &output,
        &cache,
        &[
            "--debug-variant",
            "--debug-shell",
            dynamic.to_str().unwrap(),
        ],
    )
    .run()
    .code(1);
    assert!(
        ran.stderr.contains(&format!(
            "`{}` cannot be the debug variant's shell",
            dynamic.display()
        )),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("is not static"), "{}", ran.stderr);
    assert!(!layout.exists());

    // A static program that is not busybox has no applets to link.
    let ran = package_run(
        &app,
        &output,
        &cache,
        &["--debug-variant", "--debug-shell", app.to_str().unwrap()],
    )
    .run()
    .code(1);
    assert!(
        ran.stderr.contains("holds no busybox applet table"),
        "{}",
        ran.stderr
    );
    assert!(!layout.exists());

    // A FIFO is not read (it would block), a huge file is not taken in: both named.
    let fifo = dir.path().join("fifo");
    tool("mkfifo", &[fifo.to_str().unwrap()]);
    let huge = dir.path().join("huge");
    fs::copy(which::which("busybox").unwrap(), &huge).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    for (shell, why) in [
        (&fifo, "is not a regular file"),
        (&huge, "more than the 67108864 a busybox may be"),
    ] {
        let (ran, took) = run_within(
            package_args(
                &app,
                output.clone(),
                &["--debug-variant", "--debug-shell", shell.to_str().unwrap()],
            ),
            &cache,
            std::time::Duration::from_secs(30),
        );
        let ran = ran.code(1);
        assert!(ran.stderr.contains(why), "{}", ran.stderr);
        assert!(took < std::time::Duration::from_secs(30));
        // Refused before the images are assembled.
        assert!(!ran.stderr.contains("Packaging"), "{}", ran.stderr);
        assert!(!layout.exists());
    }

    // `--debug-shell` alone asks for nothing.
    let ran = package_run(&app, &output, &cache, &["--debug-shell", "/bin/busybox"])
        .run()
        .code(2);
    assert!(
        ran.stderr.contains("add `--debug-variant`"),
        "{}",
        ran.stderr
    );
    assert!(!layout.exists());
}

#[test]
fn a_push_puts_the_variant_under_the_debug_tag_of_the_same_repository() {
    if !require(&["musl-gcc", "skopeo", "busybox", "docker-registry"]) {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(&dir.path().join("registry"), None, Auth::None);
    let host = registry.host();
    let app = musl_app(dir.path(), "hi");
    let ran = package_run(
        &app,
        &format!("docker://{host}/team/app:v2"),
        &dir.path().join("cache"),
        &["--debug-variant", "--insecure", &host, "--json"],
    )
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    let inspect = |tag: &str| {
        serde_json::from_str::<Value>(&tool(
            "skopeo",
            &[
                "inspect",
                "--tls-verify=false",
                &format!("docker://{host}/team/app:{tag}"),
            ],
        ))
        .unwrap()
    };
    assert_eq!(inspect("v2")["Digest"], outcome["digest"]);
    let variant = inspect("v2-debug");
    assert_eq!(variant["Digest"], outcome["debug"]["digest"]);
    assert_eq!(
        variant["Layers"].as_array().unwrap().len(),
        inspect("v2")["Layers"].as_array().unwrap().len() + 1
    );
}

#[test]
fn the_settings_file_asks_for_the_variant_with_a_shell_inside_the_project() {
    if !require(&["musl-gcc", "busybox", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("c-bare", &dir.path().join("c-bare"));
    // A busybox the project keeps, named by a path relative to it.
    fs::create_dir_all(project.join("tools")).unwrap();
    let shell = project.join("tools/busybox");
    fs::copy(which::which("busybox").unwrap(), &shell).unwrap();
    fs::write(
        project.join("static-image.toml"),
        "debug-variant = true\ndebug-shell = \"tools/busybox\"\ntags = [\"v3\"]\n",
    )
    .unwrap();
    let layout = dir.path().join("layout");
    let ran = static_image(args![
        "--json",
        "build",
        project.display(),
        "-o",
        format!("oci:{}", layout.display())
    ])
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    let shells = outcome["debug"]["shells"].as_array().unwrap();
    assert_eq!(shells.len(), 1);
    assert_eq!(
        fs::canonicalize(shells[0]["path"].as_str().unwrap()).unwrap(),
        fs::canonicalize(&shell).unwrap()
    );
    let variant = skopeo_inspect(&layout_spec(&layout, "v3-debug"), false);
    assert_eq!(variant["Digest"], outcome["debug"]["digest"]);
    // `debug-variant = false` on the file, `--debug-variant` on the command line: the flag wins.
    fs::write(project.join("static-image.toml"), "debug-variant = false\n").unwrap();
    let other = dir.path().join("other");
    let ran = static_image(args![
        "--json",
        "build",
        project.display(),
        "--debug-variant",
        "-o",
        format!("oci:{}", other.display())
    ])
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert!(outcome["debug"]["digest"].is_string(), "{outcome}");
    skopeo_inspect(&layout_spec(&other, "latest-debug"), false);
}
