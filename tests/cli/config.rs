//! Project settings: `[package.metadata.static-image]` in Cargo.toml, `static-image.toml` for
//! Go and C; flags on the command line win; `init` writes a starter file.

use std::fs;

use crate::support::*;

const RUST_SETTINGS: &str = r#"
[package.metadata.static-image]
ports = ["8080/tcp"]
tags = ["cfg"]
user = "1000:1000"
outputs = ["oci:img"]
env = { MODE = "prod" }
labels = { "org.example.team" = "payments" }
"#;

#[test]
fn cargo_metadata_settings_take_effect_and_flags_replace_them() {
    if !require(&["rust-musl", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let manifest = project.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replace(
            "\n# A project of its own",
            &format!("{RUST_SETTINGS}\n# A project of its own"),
        ),
    )
    .unwrap();

    // Run from elsewhere: the file's relative output is the project's.
    static_image(args!["build", project.display()])
        .cwd(dir.path())
        .run()
        .ok();
    let spec = format!("oci:{}:cfg", project.join("img").display());
    let config = skopeo_inspect(&spec, true);
    let (labels, env) = config_of(&config);
    assert_eq!(labels["org.example.team"], "payments");
    assert!(env.contains(&"MODE=prod".to_string()), "{env:?}");
    assert_eq!(config["config"]["User"], "1000:1000");
    assert!(
        config["config"]["ExposedPorts"]["8080/tcp"].is_object(),
        "{config}"
    );

    // A flag replaces the file's value for its key, lists included; the rest still applies.
    let out = dir.path().join("cli-out");
    static_image(args![
        "build",
        project.display(),
        "--port",
        "9090",
        "-o",
        format!("oci:{}:x", out.display()),
    ])
    .run()
    .ok();
    let config = skopeo_inspect(&format!("oci:{}:x", out.display()), true);
    let ports = config["config"]["ExposedPorts"].as_object().unwrap();
    assert_eq!(ports.keys().collect::<Vec<_>>(), ["9090/tcp"]);
    assert_eq!(config["config"]["User"], "1000:1000");
}

#[test]
fn an_unknown_key_is_an_error_naming_it_and_the_file_and_nothing_is_built() {
    let dir = tempdir();
    let project = copy_fixture("c-bare", &dir.path().join("c-bare"));
    let file = project.join("static-image.toml");
    fs::write(&file, "ports = [\"8080\"]\nportz = [\"1\"]\n").unwrap();
    let ran = static_image(args!["build", project.display()])
        .run()
        .code(2);
    assert_output(
        &ran.stderr,
        r#"error: `[TMP]/c-bare/static-image.toml`: TOML parse error at line 2, column 1; 2 | portz = ["1"]; unknown field `portz`, expected one of `platforms`, `outputs`, `tags`, `name`, `entrypoint-path`, `args`, `env`, `ports`, `labels`, `user`, `workdir`, `add`, `ca-bundle`, `extra-ca`, `sign-key`, `compression`, `compression-level`, `no-cache`, `base`, `insecure`, `sbom-packages`, `no-sbom`, `sbom-format`, `closure`, `sysroot`, `add-libs`, `gconv`, `debug-variant`, `debug-shell`, `offline`, `bin`, `package`, `cgo`, `artifact`, `make-target`, `build-args`"#,
    );
    assert!(!project.join("target").exists(), "nothing built or written");

    fs::write(&file, "ports = [\"http\"]\n").unwrap();
    let ran = static_image(args!["build", project.display()])
        .run()
        .code(2);
    assert_output(
        &ran.stderr,
        "error: `[TMP]/c-bare/static-image.toml`: `ports`: `http`: the port must be a number from 1 to 65535",
    );
}

#[test]
fn a_platform_the_table_lacks_is_blamed_on_the_settings_file_or_the_flag() {
    let dir = tempdir();
    let project = copy_fixture("c-bare", &dir.path().join("c-bare"));
    let file = project.join("static-image.toml");
    fs::write(&file, "platforms = [\"linux/amd64\", \"s390x\"]\n").unwrap();
    let ran = static_image(args!["build", project.display()])
        .run()
        .code(2);
    assert_eq!(
        ran.stderr.trim_end(),
        format!(
            "error: `{}`: `platforms`: unsupported platform `s390x`; supported: linux/amd64, \
             linux/arm64 (more can be added in a `--toolchains` folder's platforms.toml)\n\
             help: change `platforms` in `{}`, or give `--platform` on the command line",
            file.display(),
            file.display()
        )
    );
    assert!(!project.join("target").exists(), "nothing built or written");

    // On the command line, the same table answers, and the flag's value is named.
    fs::remove_file(&file).unwrap();
    let ran = static_image(args!["build", project.display(), "--platform", "riscv64"])
        .run()
        .code(2);
    assert_eq!(
        ran.stderr.trim_end(),
        "error: unsupported platform `riscv64`; supported: linux/amd64, linux/arm64 (more can \
         be added in a `--toolchains` folder's platforms.toml)"
    );
}

#[test]
fn static_image_toml_configures_a_c_project_and_init_writes_one() {
    if !require(&["skopeo", "musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("c-bare", &dir.path().join("c-bare"));

    // init: a commented file that changes nothing, refused a second time unless --force.
    let ran = static_image(args!["init", project.display()]).run().ok();
    let file = project.join("static-image.toml");
    assert_eq!(ran.stdout.trim(), file.display().to_string());
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("# ports = [\"8080/tcp\"]"), "{text}");
    let ran = static_image(args!["init", project.display()]).run().code(1);
    assert!(ran.stderr.contains("already exists"), "{}", ran.stderr);
    static_image(args!["init", project.display(), "--force"])
        .run()
        .ok();
    static_image(args!["build", project.display()]).run().ok();

    fs::write(
        &file,
        "ports = [\"7000/udp\"]\nname = \"greeter\"\noutputs = [\"oci-archive:greeter.tar\"]\n",
    )
    .unwrap();
    static_image(args!["build", project.display()])
        .cwd(dir.path())
        .run()
        .ok();
    let config = skopeo_inspect(
        &format!("oci-archive:{}", project.join("greeter.tar").display()),
        true,
    );
    assert_eq!(config["config"]["Entrypoint"][0], "/app/greeter");
    assert!(
        config["config"]["ExposedPorts"]["7000/udp"].is_object(),
        "{config}"
    );
}

#[test]
fn init_appends_a_section_to_cargo_toml_once() {
    if !require(&["rust-musl"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-hello", &dir.path().join("src"));
    let manifest = project.join("Cargo.toml");
    let before = fs::read_to_string(&manifest).unwrap();
    static_image(args!["init", project.display()]).run().ok();
    let after = fs::read_to_string(&manifest).unwrap();
    assert!(
        after.starts_with(&before),
        "the manifest's own text is kept"
    );
    assert!(after.contains("[package.metadata.static-image]"), "{after}");
    assert!(after.contains("# bin = \"rust-hello\""), "{after}");
    let ran = static_image(args!["init", project.display()]).run().code(1);
    assert!(
        ran.stderr
            .contains("already has [package.metadata.static-image]"),
        "{}",
        ran.stderr
    );
    // cargo still reads it, and a build with it behaves as without.
    static_image(args!["build", project.display()]).run().ok();
}
