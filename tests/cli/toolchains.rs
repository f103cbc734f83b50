//! `static-image toolchains`, a user's toolchain folder, and Rust with C code for arm64.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

#[test]
fn the_table_covers_every_language_and_platform() {
    let ran = static_image(args!["toolchains", "--json"]).run().ok();
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    let rows = doc["builds"].as_array().expect("builds");
    let cells: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}{} {}",
                r["language"].as_str().unwrap(),
                if r["cgo"] == true { "+cgo" } else { "" },
                r["platform"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            "rust linux/amd64",
            "rust linux/arm64",
            "go linux/amd64",
            "go linux/arm64",
            "go+cgo linux/amd64",
            "go+cgo linux/arm64",
            "c linux/amd64",
            "c linux/arm64"
        ]
    );
    // Each row either names a strategy or says what every strategy lacks.
    for row in rows {
        assert!(
            row["strategy"].is_string() || !row["rejected"].as_array().unwrap().is_empty(),
            "{row}"
        );
    }
    let human = static_image(args!["toolchains"]).run().ok();
    assert!(human.stdout.lines().count() >= 8, "{}", human.stdout);
}

#[test]
fn when_no_strategy_fits_the_error_says_what_was_tried_and_how_to_install() {
    let dir = tempdir();
    let toolchains = toolchains_without(
        &dir.path().join("tc"),
        "c.toml",
        &["zig", "musl-gcc", "gnu-static"],
    );
    let project = dir.path().join("p");
    fs::create_dir_all(&project).unwrap();
    fs::write(project.join("main.c"), "int main(void){return 0;}\n").unwrap();
    let ran = static_image(args![
        "build",
        project.display(),
        "--toolchains",
        toolchains.display(),
        "--platform",
        "linux/arm64"
    ])
    .run()
    .code(1);
    assert_output(
        &ran.stderr,
        r#"error: no toolchain here builds C for linux/arm64; tried `zig` (`no-such-zig` not found); `musl-gcc` (`no-such-musl-gcc` not found); `gnu-static` (`no-such-gnu-static` not found)
help: install one of: get no-such-zig; or get no-such-musl-gcc; or get no-such-gnu-static"#,
    );
    // The same facts in the table.
    let ran = static_image(args!["toolchains", "--json"])
        .env("STATIC_IMAGE_TOOLCHAINS", &toolchains)
        .run()
        .ok();
    let doc: Value = serde_json::from_str(&ran.stdout).unwrap();
    let c_arm = doc["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "c" && r["platform"] == "linux/arm64")
        .unwrap()
        .clone();
    assert_eq!(c_arm["strategy"], Value::Null, "{c_arm}");
    assert_eq!(c_arm["rejected"][0]["install"], "get no-such-zig");
}

#[test]
fn a_broken_toolchain_file_is_named_with_the_problem() {
    let dir = tempdir();
    fs::write(
        dir.path().join("go.toml"),
        "[[strategy]]\nname = \"x\"\nsummary = \"s\"\ninstall = \"i\"\nenvv = {}\n",
    )
    .unwrap();
    let ran = static_image(args!["toolchains", "--toolchains", dir.path().display()])
        .run()
        .code(1);
    assert_output(
        &ran.stderr,
        "error: `[TMP]/go.toml` is not a valid toolchain file: TOML parse error at line 5, column 1   | 5 | envv = {}   | ^^^^ unknown field `envv`, expected one of `name`, `summary`, `host_only`, `platforms`, `requires`, `rust_target`, `cgo`, `libc`, `host`, `cc`, `cc_drop`, `ar`, `cxx`, `strip`, `cflags`, `ldflags`, `tags`, `env`, `env_default`, `install`",
    );
}

/// Builds rust-cdep for arm64 (with `toolchains` first, if given) and runs it under qemu.
fn rust_with_c_for_arm64(toolchains: Option<&Path>, expect_strategy: &str) {
    if !require(&["rust-aarch64-musl", "qemu-aarch64-static"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-cdep", &dir.path().join("src"));
    let mut words = args!["build", project.display(), "--platform", "linux/arm64"];
    if let Some(t) = toolchains {
        words.extend(args!["--toolchains", t.display()]);
    }
    let ran = static_image(words).run().ok();
    assert!(
        ran.stderr.contains(&format!("Rust `{expect_strategy}`")),
        "{}",
        ran.stderr
    );
    let exe = project.join("target/aarch64-unknown-linux-musl/release/rust-cdep");
    static_image(args!["verify", "--platform", "linux/arm64", exe.display()])
        .run()
        .ok();
    let out = Command::new("qemu-aarch64-static")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("from C compiled for aarch64, Rust for aarch64"),
        "{out:?}"
    );
}

#[test]
fn rust_with_c_code_builds_for_arm64_with_zig() {
    if !require(&["python3"]) {
        return;
    }
    rust_with_c_for_arm64(None, "musl-zig");
}

#[test]
fn rust_with_c_code_builds_for_arm64_with_the_gnu_cross_compiler() {
    if !require(&["aarch64-linux-gnu-gcc"]) {
        return;
    }
    // A user folder can rule out a strategy as well as add one: without zig, the next wins.
    let dir = tempdir();
    let toolchains = toolchains_without(dir.path(), "rust.toml", &["musl-zig"]);
    rust_with_c_for_arm64(Some(&toolchains), "musl-gnu-cross");
}

#[test]
fn a_platform_added_as_data_is_built_verified_and_run() {
    if !require(&["go", "qemu-riscv64-static", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let toolchains = dir.path().join("tc");
    fs::create_dir_all(&toolchains).unwrap();
    fs::write(
        toolchains.join("platforms.toml"),
        "[[platform]]\nname = \"linux/riscv64\"\narch = \"riscv64\"\ncpu = \"riscv64\"\n\
         rust_cpu = \"riscv64gc\"\nelf_machine = 243\n",
    )
    .unwrap();
    let table = static_image(args!["toolchains", "--toolchains", toolchains.display()])
        .run()
        .ok();
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("Go") && l.contains("linux/riscv64")),
        "{}",
        table.stdout
    );

    let project = copy_fixture("go-multi", &dir.path().join("src"));
    let path = path_with_go();
    let layout = dir.path().join("layout");
    let spec = format!("oci:{}:rv", layout.display());
    static_image(args![
        "build",
        project.display(),
        "--toolchains",
        toolchains.display(),
        "--package",
        "./cmd/server",
        "--platform",
        "linux/riscv64",
        "-o",
        &spec
    ])
    .env("PATH", path)
    .env("GOFLAGS", "")
    .run()
    .ok();
    let config = skopeo_inspect(&spec, true);
    assert_eq!(config["architecture"], "riscv64");

    // verify knows the platform from the same data (here through the environment variable).
    let exe = project.join("target/static-image-build/riscv64/server");
    let ran = static_image(args![
        "verify",
        "--json",
        "--platform",
        "linux/riscv64",
        exe.display()
    ])
    .env("STATIC_IMAGE_TOOLCHAINS", &toolchains)
    .run()
    .ok();
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(
        report[0]["machine"]["platform"], "linux/riscv64",
        "{report}"
    );
    let out = Command::new("qemu-riscv64-static")
        .arg(&exe)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "server");
}
