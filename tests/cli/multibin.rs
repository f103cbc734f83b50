//! Several programs in one image: a Rust workspace's `--bin server --bin migrate`, a Go
//! module's `--package ./cmd/api --package ./cmd/worker` for two platforms, two `--artifact`s of
//! one C build, and `package --platform P BIN BIN`. Each image is run in runc from its own
//! rootfs (the entrypoint, and the other program named as the process), read with skopeo, and
//! its SBOM checked to describe every program.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::rewrite::sha256;
use crate::support::*;

/// The image's config, as skopeo reads it.
fn config(layout: &Path, tag: &str) -> Value {
    skopeo_inspect(&format!("oci:{}:{tag}", layout.display()), true)
}

/// The image's `Entrypoint`.
fn entrypoint(layout: &Path, tag: &str) -> Value {
    config(layout, tag)["config"]["Entrypoint"].clone()
}

/// The SBOM the image carries for `platform`, validated by the SPDX tools where they are.
fn sbom(layout: &Path, tag: &str, platform: &str, work: &Path) -> Value {
    let ran = static_image(args![
        "sbom",
        "--platform",
        platform,
        format!("oci:{}:{tag}", layout.display())
    ])
    .run()
    .ok();
    if require_for(&["pyspdxtools"], "validating the SBOM") {
        let file = work.join(format!("{tag}.spdx.json"));
        fs::write(&file, &ran.stdout).unwrap();
        let out = Command::new("pyspdxtools")
            .arg("-i")
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}\n{}", ran.stdout);
    }
    serde_json::from_str(&ran.stdout).unwrap()
}

/// The SBOM's files: each `fileName` with its SHA-256.
fn sbom_files(document: &Value) -> Vec<(String, String)> {
    document["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let sha256 = f["checksums"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["algorithm"] == "SHA256")
                .unwrap()["checksumValue"]
                .as_str()
                .unwrap()
                .to_string();
            (f["fileName"].as_str().unwrap().to_string(), sha256)
        })
        .collect()
}

/// The names of the SBOM's packages.
fn sbom_packages(document: &Value) -> Vec<String> {
    document["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// A file's SHA-256, hex.
fn file_sha256(path: &Path) -> String {
    sha256(&fs::read(path).unwrap())
        .trim_start_matches("sha256:")
        .to_string()
}

#[test]
fn a_rust_workspace_ships_server_and_migrate_in_one_image() {
    if !require(&["cargo", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("rust-workspace", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    let build = |tag: &str, extra: &[&str]| {
        let mut args = args![
            "--json",
            "build",
            project.display(),
            "--bin",
            "server",
            "--bin",
            "migrate",
            "-o",
            format!("oci:{}:{tag}", layout.display()),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let ran = static_image(args).run().ok();
        serde_json::from_str::<Value>(&ran.stdout).unwrap()
    };
    let outcome = build("v", &[]);
    // Both programs were verified: the entrypoint's report, then the other's.
    let release = project.join("target/x86_64-unknown-linux-musl/release");
    assert_eq!(
        outcome["verify"]["path"],
        release.join("server").display().to_string()
    );
    let others = &outcome["platforms"][0]["others"];
    assert_eq!(
        others[0]["path"],
        release.join("migrate").display().to_string(),
        "{outcome}"
    );
    assert_eq!(others[0]["linkage"], outcome["verify"]["linkage"]);
    // One cargo command builds both (each plan takes its own binary from it).
    let plans = static_image(args![
        "--json",
        "plan",
        project.display(),
        "--bin",
        "server",
        "--bin",
        "migrate"
    ])
    .run()
    .ok();
    let plans: Value = serde_json::from_str(&plans.stdout).unwrap();
    for (plan, name) in plans.as_array().unwrap().iter().zip(["server", "migrate"]) {
        assert_eq!(plan["name"], name);
        let args = plan["steps"][0]["args"].to_string();
        assert!(
            args.contains(r#""--bin","server","--bin","migrate""#),
            "{args}"
        );
    }
    // The first `--bin` is the entrypoint; the history names both programs.
    assert_eq!(entrypoint(&layout, "v"), serde_json::json!(["/app/server"]));
    let history = config(&layout, "v")["history"].to_string();
    assert!(
        history.contains("static-image: app: /app/server, /app/migrate"),
        "{history}"
    );

    if require_for(&["root", "runc", "umoci"], "running both programs") {
        let (code, out) = run_in_runc(&layout, "v", &dir.path().join("run-server"));
        assert_eq!((code, out.trim()), (0, "server 1.4.0 ready, schema 3"));
        let (code, out) = run_argv_in_runc(
            &layout,
            "v",
            &dir.path().join("run-migrate"),
            &["/app/migrate", "up", "--all"],
        );
        assert_eq!((code, out.trim()), (0, "migrate to schema 3: up --all"));
    }

    // `verify IMAGE` checks every program, not only the entrypoint.
    let verified = static_image(args!["verify", format!("oci:{}:v", layout.display())])
        .run()
        .ok();
    assert!(
        verified.stdout.contains("2 ELF files, all static"),
        "{}",
        verified.stdout
    );

    // The SBOM describes each program: its package, the crate both link, each file.
    let document = sbom(&layout, "v", "linux/amd64", dir.path());
    let packages = sbom_packages(&document);
    for name in ["server", "migrate", "common", "musl"] {
        assert_eq!(
            packages.iter().filter(|p| *p == name).count(),
            1,
            "{packages:?}"
        );
    }
    assert_eq!(
        sbom_files(&document),
        [
            (
                "./app/server".to_string(),
                file_sha256(&release.join("server"))
            ),
            (
                "./app/migrate".to_string(),
                file_sha256(&release.join("migrate"))
            ),
        ]
    );

    // The same inputs give the same image, with no cache to lean on.
    let again = build("again", &["--no-cache"]);
    assert_eq!(again["digest"], outcome["digest"]);
    // The order decides the entrypoint: another order is another image.
    let swapped = static_image(args![
        "--json",
        "build",
        project.display(),
        "--bin",
        "migrate",
        "--bin",
        "server",
        "-o",
        format!("oci:{}:swapped", layout.display()),
    ])
    .run()
    .ok();
    let swapped: Value = serde_json::from_str(&swapped.stdout).unwrap();
    assert_ne!(swapped["digest"], outcome["digest"]);
    assert_eq!(
        entrypoint(&layout, "swapped"),
        serde_json::json!(["/app/migrate"])
    );
    // `--entrypoint-path` naming the second program's place makes the same image.
    let named = build("named", &["--entrypoint-path", "/app/migrate"]);
    assert_eq!(named["digest"], swapped["digest"]);

    // A run with nothing changed is answered from the last one's record; a change to the
    // program that is not the entrypoint is not missed. (A layout of its own: another tag
    // written into one changes what a record stamped.)
    let replayed = dir.path().join("replayed");
    let replay = |extra: &[&str]| {
        let mut args = args![
            "-v",
            "--json",
            "build",
            project.display(),
            "--bin",
            "server",
            "--bin",
            "migrate",
            "-o",
            format!("oci:{}:v", replayed.display()),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        static_image(args).run().ok()
    };
    let first = replay(&[]);
    assert!(
        !first.stderr.contains("its outcome stands"),
        "{}",
        first.stderr
    );
    let ran = replay(&[]);
    assert!(ran.stderr.contains("its outcome stands"), "{}", ran.stderr);
    let main = project.join("migrate/src/main.rs");
    let source = fs::read_to_string(&main).unwrap();
    fs::write(
        &main,
        source.replace("migrate to schema", "migrating to schema"),
    )
    .unwrap();
    let ran = replay(&[]);
    assert!(!ran.stderr.contains("its outcome stands"), "{}", ran.stderr);
    let changed: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_ne!(changed["digest"], outcome["digest"]);
    assert_eq!(
        sbom_files(&sbom(&replayed, "v", "linux/amd64", dir.path()))[1],
        (
            "./app/migrate".to_string(),
            file_sha256(&release.join("migrate"))
        )
    );
}

#[test]
fn a_go_module_ships_api_and_worker_for_two_platforms() {
    if !require(&["go", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("go-services", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    with_go(args![
        "build",
        project.display(),
        "--package",
        "./cmd/api",
        "--package",
        "./cmd/worker",
        "--platform",
        "linux/amd64,linux/arm64",
        "-o",
        format!("oci:{}:v", layout.display()),
    ])
    .run()
    .ok();
    let raw = skopeo_inspect(&format!("oci:{}:v", layout.display()), false);
    assert!(raw["Digest"].is_string(), "{raw}");
    let index = tool(
        "skopeo",
        &["inspect", "--raw", &format!("oci:{}:v", layout.display())],
    );
    let index: Value = serde_json::from_str(&index).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");

    for (platform, arch) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let built = project.join("target/static-image-build").join(arch);
        let document = sbom(&layout, "v", platform, dir.path());
        assert_eq!(
            sbom_files(&document),
            [
                ("./app/api".to_string(), file_sha256(&built.join("api"))),
                (
                    "./app/worker".to_string(),
                    file_sha256(&built.join("worker"))
                ),
            ],
            "{platform}"
        );
        assert!(sbom_packages(&document).contains(&"stdlib".to_string()));
        if arch == "arm64" && require_for(&["qemu-aarch64-static"], "running arm64's programs") {
            for (program, arg, expected) in [
                ("api", "", "api on linux/arm64"),
                ("worker", "job-7", "worker: job-7"),
            ] {
                let out = Command::new("qemu-aarch64-static")
                    .arg(built.join(program))
                    .args((!arg.is_empty()).then_some(arg))
                    .output()
                    .unwrap();
                assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
            }
        }
    }
    if require_for(&["root", "runc", "umoci"], "running both programs") {
        // umoci unpacks one image, not an index: skopeo takes this machine's (amd64) out.
        let single = dir.path().join("amd64");
        tool(
            "skopeo",
            &[
                "copy",
                &format!("oci:{}:v", layout.display()),
                &format!("oci:{}:v", single.display()),
            ],
        );
        let (code, out) = run_in_runc(&single, "v", &dir.path().join("run-api"));
        assert_eq!((code, out.trim()), (0, "api on linux/amd64"));
        let (code, out) = run_argv_in_runc(
            &single,
            "v",
            &dir.path().join("run-worker"),
            &["/app/worker", "job-7"],
        );
        assert_eq!((code, out.trim()), (0, "worker: job-7"));
    }
}

#[test]
fn one_c_build_gives_two_programs_to_one_image() {
    if !require(&["python3", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("c-programs", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    let ran = static_image(args![
        "build",
        project.display(),
        "--artifact",
        "encode",
        "--artifact",
        "decode",
        "-o",
        format!("oci:{}:v", layout.display()),
    ])
    .run()
    .ok();
    // One build made both: the second program is only looked for.
    assert_eq!(
        ran.stderr.matches("Compiling `").count(),
        1,
        "{}",
        ran.stderr
    );
    assert_eq!(entrypoint(&layout, "v"), serde_json::json!(["/app/encode"]));
    let document = sbom(&layout, "v", "linux/amd64", dir.path());
    let files: Vec<String> = sbom_files(&document).into_iter().map(|(f, _)| f).collect();
    assert_eq!(files, ["./app/encode", "./app/decode"]);
    if require_for(&["root", "runc", "umoci"], "running both programs") {
        let (code, out) = run_in_runc(&layout, "v", &dir.path().join("run-entry"));
        assert_eq!((code, out.trim()), (0, "encode:"));
        let (code, out) = run_argv_in_runc(
            &layout,
            "v",
            &dir.path().join("run-encode"),
            &["/app/encode", "Hello"],
        );
        assert_eq!((code, out.trim()), (0, "encode: Uryyb"));
        let (code, out) = run_argv_in_runc(
            &layout,
            "v",
            &dir.path().join("run-decode"),
            &["/app/decode", "Uryyb"],
        );
        assert_eq!((code, out.trim()), (0, "decode: Hello"));
    }
}

#[test]
fn package_with_a_platform_puts_several_binaries_in_one_image() {
    if !require(&["musl-gcc", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    let hello = compile_c(
        "musl-gcc",
        &["-static"],
        "#include <stdio.h>\nint main(void){puts(\"hello\");return 0;}\n",
        &a,
        "hello",
    );
    let bye = compile_c(
        "musl-gcc",
        &["-static"],
        "#include <stdio.h>\nint main(void){puts(\"bye\");return 0;}\n",
        &b,
        "bye",
    );
    let layout = dir.path().join("layout");
    static_image(args![
        "package",
        "--platform",
        "linux/amd64",
        hello.display(),
        bye.display(),
        "-o",
        format!("oci:{}:v", layout.display()),
    ])
    .run()
    .ok();
    assert_eq!(entrypoint(&layout, "v"), serde_json::json!(["/app/hello"]));
    assert_eq!(
        config(&layout, "v")["config"]["Labels"]["org.opencontainers.image.title"],
        "hello"
    );
    if require_for(&["root", "runc", "umoci"], "running both programs") {
        let (code, out) = run_in_runc(&layout, "v", &dir.path().join("run-hello"));
        assert_eq!((code, out.trim()), (0, "hello"));
        let (code, out) =
            run_argv_in_runc(&layout, "v", &dir.path().join("run-bye"), &["/app/bye"]);
        assert_eq!((code, out.trim()), (0, "bye"));
    }

    // Without `--platform`, binaries are one per platform. Two unrelated names are asked
    // about with both spellings; named, two binaries for one platform are refused with the
    // spelling for one image.
    let ran = static_image(args![
        "package",
        hello.display(),
        bye.display(),
        "-o",
        format!("oci:{}:w", layout.display()),
    ])
    .run()
    .code(2);
    assert!(
        ran.stderr.contains("share no stem")
            && ran.stderr.contains("`package --platform PLATFORM BIN BIN`"),
        "{}",
        ran.stderr
    );
    let ran = static_image(args![
        "package",
        "--name",
        "greeter",
        hello.display(),
        bye.display(),
        "-o",
        format!("oci:{}:w", layout.display()),
    ])
    .run()
    .code(2);
    assert!(
        ran.stderr.contains("are both for linux/amd64")
            && ran
                .stderr
                .contains("`package --platform linux/amd64 BIN BIN`"),
        "{}",
        ran.stderr
    );
    // A program that is not static is named among the others.
    let dynamic = compile_c("gcc", &[], "int main(void){return 0;}\n", dir.path(), "dyn");
    let ran = static_image(args![
        "package",
        "--platform",
        "linux/amd64",
        hello.display(),
        dynamic.display(),
        "-o",
        format!("oci:{}:x", layout.display()),
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr.contains(&format!("`{}`", dynamic.display())),
        "{}",
        ran.stderr
    );
    // Two programs of one name cannot both be /app/<name>.
    let twin = b.join("hello");
    fs::copy(&hello, &twin).unwrap();
    let ran = static_image(args![
        "package",
        "--platform",
        "linux/amd64",
        hello.display(),
        twin.display(),
    ])
    .run()
    .code(2);
    assert!(
        ran.stderr.contains("would both be `/app/hello`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn settings_lists_and_plans_name_every_program() {
    if !require(&["go"]) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("go-services", &dir.path().join("src"));
    let plan = |extra: &[&str]| {
        let mut args = args!["--json", "plan", project.display()];
        args.extend(extra.iter().map(|a| a.to_string()));
        let ran = with_go(args).run().ok();
        let plans: Value = serde_json::from_str(&ran.stdout).unwrap();
        plans
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p["platform"].as_str().unwrap(),
                    p["name"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    fs::write(
        project.join("static-image.toml"),
        "package = [\"./cmd/worker\", \"./cmd/api\"]\n",
    )
    .unwrap();
    assert_eq!(
        plan(&["--platform", "linux/amd64,linux/arm64"]),
        [
            "linux/amd64 worker",
            "linux/amd64 api",
            "linux/arm64 worker",
            "linux/arm64 api"
        ]
    );
    // The command line's list replaces the file's.
    assert_eq!(
        plan(&["--package", "./cmd/api", "--platform", "linux/amd64"]),
        ["linux/amd64 api"]
    );
    // One string, as the setting took before it took lists, still works.
    fs::write(
        project.join("static-image.toml"),
        "package = \"./cmd/api\"\n",
    )
    .unwrap();
    assert_eq!(plan(&["--platform", "linux/amd64"]), ["linux/amd64 api"]);
    // The same program twice is a mistake, said before anything runs.
    let ran = with_go(args![
        "plan",
        project.display(),
        "--package",
        "./cmd/api",
        "--package",
        "./cmd/api"
    ])
    .run()
    .code(2);
    assert!(
        ran.stderr.contains("`--package ./cmd/api` is given twice"),
        "{}",
        ran.stderr
    );
}
