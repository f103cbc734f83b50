//! Pushing to and pulling from a real registry (Debian's `docker-registry`, distribution 2.8)
//! started by each test on 127.0.0.1: plain HTTP, TLS with a CA made in the test, htpasswd
//! basic auth, and token auth through a small token service written for the test (Python,
//! signing RS256 JWTs with `openssl`). skopeo reads back everything pushed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::support::http::Proxy;
use crate::support::registry::{Auth, PASSWORD, Registry, TokenService, USER, auth_file, isolated};
use crate::support::tls::TestCa;
use crate::support::*;

/// A static hello binary (musl-gcc) printing `text`.
fn hello(dir: &Path, name: &str, text: &str) -> PathBuf {
    let source = format!("#include <stdio.h>\nint main(void){{puts(\"{text}\");return 0;}}\n");
    compile_c("musl-gcc", &["-static", "-O2"], &source, dir, name)
}

/// The `pushed` record of the first output in a `--json` outcome.
fn pushed(json: &str) -> Value {
    let outcome: Value = serde_json::from_str(json).unwrap();
    outcome["outputs"][0]["pushed"].clone()
}

fn digests(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect()
}

/// What every test here needs (some need more).
const REGISTRY_TOOLS: [&str; 5] = [
    "docker-registry",
    "skopeo",
    "musl-gcc",
    "openssl",
    "htpasswd",
];

#[test]
fn push_over_tls_with_basic_auth_pull_back_and_share_the_base_layer() {
    if !require(&REGISTRY_TOOLS) {
        return;
    }
    let dir = tempdir();
    let ca = TestCa::new(&dir.path().join("ca"));
    let registry = Registry::start(&dir.path().join("registry"), Some(&ca), Auth::Htpasswd);
    let host = registry.host();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let auth = auth_file(dir.path(), &host, USER, PASSWORD);
    let app = hello(dir.path(), "app", "one");
    let layout = dir.path().join("layout");

    let ran = isolated(
        static_image(args![
            "--json",
            "package",
            app.display(),
            "--output",
            format!("docker://{host}/team/app:v1"),
            "--output",
            format!("oci:{}:v1", layout.display()),
        ]),
        &home,
    )
    .env("REGISTRY_AUTH_FILE", &auth)
    .env("SSL_CERT_FILE", &ca.cert_pem)
    .run()
    .ok();
    assert!(!ran.stderr.contains(PASSWORD) && !ran.stdout.contains(PASSWORD));
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    let digest = outcome["digest"].as_str().unwrap().to_string();
    let first = pushed(&ran.stdout);
    assert_eq!(
        first["reference"].as_str().unwrap(),
        format!("{host}/team/app@{digest}")
    );
    let base_layer = outcome["image"]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(digests(&first["uploaded"]).contains(&base_layer));

    // skopeo, with its own TLS and credentials, sees the same image and copies it out intact.
    let certs = dir.path().join("certs");
    fs::create_dir_all(&certs).unwrap();
    fs::copy(&ca.cert_pem, certs.join("ca.crt")).unwrap();
    let creds = format!("{USER}:{PASSWORD}");
    let cert_dir = certs.display().to_string();
    let remote = format!("docker://{host}/team/app:v1");
    let inspect: Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--cert-dir",
            &cert_dir,
            "--creds",
            &creds,
            &remote,
        ],
    ))
    .unwrap();
    assert_eq!(inspect["Digest"], digest.as_str());
    let pulled = dir.path().join("pulled");
    tool(
        "skopeo",
        &[
            "copy",
            "--src-cert-dir",
            &cert_dir,
            "--src-creds",
            &creds,
            &remote,
            &format!("oci:{}:v1", pulled.display()),
        ],
    );
    let local = skopeo_inspect(&format!("oci:{}:v1", layout.display()), false);
    let copied = skopeo_inspect(&format!("oci:{}:v1", pulled.display()), false);
    assert_eq!(local["Digest"], digest.as_str());
    assert_eq!(copied["Layers"], local["Layers"]);

    // Another app in another repository: its base layer is mounted, not uploaded again. Its
    // credentials come from a credential helper this time, through Docker's config.json.
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-test");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread host\n\
             [ \"$host\" = {host} ] || {{ echo 'credentials not found'; exit 1; }}\n\
             echo '{{\"ServerURL\":\"{host}\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let docker = home.join("docker");
    fs::create_dir_all(&docker).unwrap();
    fs::write(docker.join("config.json"), r#"{"credsStore":"test"}"#).unwrap();
    let other = hello(dir.path(), "other", "two");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let ran = isolated(
        static_image(args![
            "--json",
            "package",
            other.display(),
            "--output",
            format!("docker://{host}/team/other:v1"),
        ]),
        &home,
    )
    .env("SSL_CERT_FILE", &ca.cert_pem)
    .env("PATH", &path)
    .run()
    .ok();
    let second = pushed(&ran.stdout);
    assert!(
        digests(&second["mounted"]).contains(&base_layer),
        "{second}"
    );
    assert!(
        !digests(&second["uploaded"]).contains(&base_layer),
        "{second}"
    );
    assert_eq!(registry.uploads_of(&base_layer), 1, "{}", registry.log());
    let inspect: Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--cert-dir",
            &cert_dir,
            "--creds",
            &creds,
            &format!("docker://{host}/team/other:v1"),
        ],
    ))
    .unwrap();
    assert_eq!(inspect["Layers"][0], base_layer.as_str());
}

#[test]
fn wrong_or_missing_credentials_are_refused_by_name_without_the_secret() {
    if !require(&REGISTRY_TOOLS) {
        return;
    }
    let dir = tempdir();
    let ca = TestCa::new(&dir.path().join("ca"));
    let registry = Registry::start(&dir.path().join("registry"), Some(&ca), Auth::Htpasswd);
    let host = registry.host();
    let home = dir.path().join("home");
    let app = hello(dir.path(), "app", "x");
    let push = || {
        isolated(
            static_image(args![
                "package",
                app.display(),
                "--output",
                format!("docker://{host}/app:v1"),
            ]),
            &home,
        )
        .env("SSL_CERT_FILE", &ca.cert_pem)
    };

    let wrong = "wrong-password-123";
    let auth = auth_file(dir.path(), &host, USER, wrong);
    let ran = push().env("REGISTRY_AUTH_FILE", &auth).run().code(1);
    assert!(ran.stdout.is_empty(), "{}", ran.stdout);
    assert!(
        ran.stderr.contains(&format!("registry `{host}`")),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(&format!("user `{USER}`")),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(&auth.display().to_string()),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("skopeo login"), "{}", ran.stderr);
    assert!(!ran.stderr.contains(wrong), "{}", ran.stderr);

    // No credentials anywhere: the message lists where they were looked for.
    let ran = push().run().code(1);
    assert!(ran.stderr.contains("none were found"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains(&home.join("docker/config.json").display().to_string())
    );

    // Without our CA the TLS failure says how to trust it.
    let ran = push().env("SSL_CERT_FILE", "/dev/null").run().code(1);
    assert!(ran.stderr.contains("certs.d"), "{}", ran.stderr);
}

#[test]
fn a_registry_cut_mid_push_fails_the_push_and_no_tag_appears() {
    if !require(&REGISTRY_TOOLS) {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(&dir.path().join("registry"), None, Auth::None);
    let home = dir.path().join("home");
    // A binary with 4 MiB of padding, an upload the proxy cuts after its first MiB: every
    // upload, retries included, is cut at the same byte whatever the machine's speed.
    let app = hello(dir.path(), "big", "big");
    let mut bytes = fs::read(&app).unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    bytes.extend((0..4 << 20).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    }));
    fs::write(&app, bytes).unwrap();
    let proxy = Proxy::start(
        &registry.host(),
        0,
        Some(("PUT /v2/big/blobs/uploads/", 1 << 20)),
    );
    let host = proxy.host.clone();
    let ran = isolated(
        static_image(args![
            "package",
            app.display(),
            "--compression",
            "none",
            "--insecure",
            &host,
            "--output",
            format!("docker://{host}/big:v1"),
        ]),
        &home,
    )
    .run()
    .code(1);
    assert!(proxy.cut.load(Ordering::SeqCst), "no upload was cut");
    assert!(ran.stdout.is_empty(), "claimed a push: {}", ran.stdout);
    assert!(!ran.stderr.contains("Pushed"), "{}", ran.stderr);
    let lines: Vec<&str> = ran.stderr.lines().map(str::trim).collect();
    let error = lines.iter().position(|l| l.starts_with("error:")).unwrap();
    assert_eq!(
        lines[error],
        format!("error: cannot push to `docker://{host}/big:v1`")
    );
    assert!(
        lines[error + 1].starts_with(&format!(
            "caused by: cannot reach registry `{host}` (PUT http://{host}/v2/big/blobs/uploads/"
        )),
        "{}",
        ran.stderr
    );
    // The registry has no such tag.
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{}/big:v1", registry.host()))
        .output()
        .unwrap();
    assert!(!out.status.success(), "the tag exists after a failed push");

    // A registry that drops the first connections is waited for: the push retries and lands.
    let proxy = Proxy::start(&registry.host(), 2, None);
    let host = proxy.host.clone();
    let small = hello(dir.path(), "small", "small");
    let ran = isolated(
        static_image(args![
            "-v",
            "package",
            small.display(),
            "--insecure",
            &host,
            "--output",
            format!("docker://{host}/small:v1"),
        ]),
        &home,
    )
    .run()
    .ok();
    assert_eq!(proxy.refused.load(Ordering::SeqCst), 2);
    assert!(ran.stderr.contains("trying again"), "{}", ran.stderr);
    assert!(
        ran.stdout.contains(&format!("{host}/small@sha256:")),
        "{}",
        ran.stdout
    );
}

#[test]
fn token_auth_through_the_registrys_token_service() {
    if !require(&[
        "docker-registry",
        "skopeo",
        "musl-gcc",
        "openssl",
        "htpasswd",
        "python3",
    ]) {
        return;
    }
    let dir = tempdir();
    let tokens = TokenService::start(&dir.path().join("tokens"));
    let registry = Registry::start(
        &dir.path().join("registry"),
        None,
        Auth::Token {
            realm: tokens.realm(),
            cert: tokens.cert.clone(),
        },
    );
    let host = registry.host();
    let home = dir.path().join("home");
    let auth = auth_file(dir.path(), &host, USER, PASSWORD);
    let push = |binary: &Path, repo: &str| {
        isolated(
            static_image(args![
                "--json",
                "package",
                binary.display(),
                "--insecure",
                &host,
                "--output",
                format!("docker://{host}/{repo}:v1"),
            ]),
            &home,
        )
    };
    let app = hello(dir.path(), "app", "one");
    let ran = push(&app, "app")
        .env("REGISTRY_AUTH_FILE", &auth)
        .run()
        .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert!(
        tokens.scopes().contains("repository:app:pull,push"),
        "{}",
        tokens.scopes()
    );
    let creds = format!("{USER}:{PASSWORD}");
    let inspect: Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &creds,
            &format!("docker://{host}/app:v1"),
        ],
    ))
    .unwrap();
    assert_eq!(inspect["Digest"], outcome["digest"]);

    // A mount from `app` asks the token service for pull on `app` as well.
    let other = hello(dir.path(), "other", "two");
    let ran = push(&other, "other")
        .env("REGISTRY_AUTH_FILE", &auth)
        .run()
        .ok();
    assert!(
        tokens.scopes().contains("repository:app:pull\n"),
        "{}",
        tokens.scopes()
    );
    assert!(!digests(&pushed(&ran.stdout)["mounted"]).is_empty());

    // The token service refuses a wrong password; the error names the registry and user.
    let wrong = auth_file(dir.path(), &host, USER, "not-the-password");
    let ran = push(&app, "app")
        .env("REGISTRY_AUTH_FILE", &wrong)
        .run()
        .code(1);
    assert!(
        ran.stderr.contains(&format!("user `{USER}`")),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("not-the-password"));
}

#[test]
fn bases_and_multi_platform_images_through_a_plain_http_registry() {
    if !require(&[
        "docker-registry",
        "skopeo",
        "musl-gcc",
        "openssl",
        "htpasswd",
        "umoci",
        "aarch64-linux-gnu-gcc",
    ]) {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(&dir.path().join("registry"), None, Auth::None);
    let host = registry.host();
    let home = dir.path().join("home");
    let app = hello(dir.path(), "app", "on a base");

    // Plain HTTP needs --insecure for that registry, and says so.
    let ran = isolated(
        static_image(args![
            "package",
            app.display(),
            "--output",
            format!("docker://{host}/app")
        ]),
        &home,
    )
    .run()
    .code(1);
    assert!(ran.stderr.contains("--insecure"), "{}", ran.stderr);

    // A base made by umoci, pushed by skopeo, pulled by us.
    let base = dir.path().join("base");
    let b = base.display().to_string();
    tool("umoci", &["init", "--layout", &b]);
    tool("umoci", &["new", "--image", &format!("{b}:v1")]);
    let rootfs = dir.path().join("base-rootfs");
    fs::create_dir_all(rootfs.join("etc")).unwrap();
    fs::write(rootfs.join("etc/corp-marker"), "hardened\n").unwrap();
    tool(
        "umoci",
        &[
            "insert",
            "--image",
            &format!("{b}:v1"),
            &rootfs.join("etc").display().to_string(),
            "/etc",
        ],
    );
    tool(
        "umoci",
        &[
            "config",
            "--image",
            &format!("{b}:v1"),
            "--config.env",
            "CORP=1",
            "--config.user",
            "1000:1000",
        ],
    );
    tool(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{b}:v1"),
            &format!("docker://{host}/corp/base:v1"),
        ],
    );
    let base_layers = skopeo_inspect(&format!("oci:{b}:v1"), false)["Layers"].clone();
    let out = dir.path().join("out");
    isolated(
        static_image(args![
            "package",
            app.display(),
            "--base",
            format!("docker://{host}/corp/base:v1"),
            "--insecure",
            &host,
            "--output",
            format!("oci:{}:v1", out.display()),
        ]),
        &home,
    )
    .run()
    .ok();
    let inspect = skopeo_inspect(&format!("oci:{}:v1", out.display()), false);
    let layers = inspect["Layers"].as_array().unwrap();
    assert_eq!(
        layers[..base_layers.as_array().unwrap().len()],
        base_layers.as_array().unwrap()[..]
    );
    assert_eq!(layers.len(), base_layers.as_array().unwrap().len() + 1);
    let raw: Value = serde_json::from_str(&tool(
        "skopeo",
        &["inspect", "--raw", &format!("oci:{}:v1", out.display())],
    ))
    .unwrap();
    assert_eq!(
        raw["annotations"]["org.opencontainers.image.base.name"],
        format!("{host}/corp/base:v1").as_str()
    );
    let config = skopeo_inspect(&format!("oci:{}:v1", out.display()), true);
    assert_eq!(config["config"]["User"], "1000:1000");
    assert!(
        config["config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "CORP=1")
    );

    // Two platforms pushed as one index; skopeo picks either.
    let arm = compile_c(
        "aarch64-linux-gnu-gcc",
        &["-static", "-O2"],
        "int main(void){return 0;}\n",
        dir.path(),
        "app-arm64",
    );
    let ran = isolated(
        static_image(args![
            "package",
            app.display(),
            arm.display(),
            "--insecure",
            &host,
            "--output",
            format!("docker://{host}/multi:v1"),
        ]),
        &home,
    )
    .run()
    .ok();
    let raw: Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{host}/multi:v1"),
        ],
    ))
    .unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    assert!(
        ran.stdout.contains(&format!("{host}/multi@sha256:")),
        "{}",
        ran.stdout
    );
    let arm_inspect: Value = serde_json::from_str(&tool(
        "skopeo",
        &[
            "--override-arch",
            "arm64",
            "inspect",
            "--tls-verify=false",
            &format!("docker://{host}/multi:v1"),
        ],
    ))
    .unwrap();
    assert_eq!(arm_inspect["Architecture"], "arm64");

    // `verify` reads the pushed index back and checks both platforms' files.
    let ran = isolated(
        static_image(args![
            "verify",
            format!("docker://{host}/multi:v1"),
            "--insecure",
            &host,
        ]),
        &home,
    )
    .run()
    .ok();
    assert_eq!(
        ran.stdout.matches("1 ELF file, all static").count(),
        2,
        "{}",
        ran.stdout
    );
}

#[test]
fn progress_bars_are_drawn_on_a_terminal_only() {
    if !require(&[
        "docker-registry",
        "skopeo",
        "musl-gcc",
        "openssl",
        "htpasswd",
        "script",
    ]) {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(&dir.path().join("registry"), None, Auth::None);
    let host = registry.host();
    let app = hello(dir.path(), "app", "bars");
    let command = |tag: &str, extra: &str| {
        format!(
            "{} --color=never package {} --no-cache --insecure {host} --output docker://{host}/app:{tag} {extra}",
            crate::support::bin().display(),
            app.display()
        )
    };
    // `script` gives the tool a terminal; its output is what the terminal showed.
    let on_terminal = |tag: &str, extra: &str| {
        let out = Command::new("script")
            .args(["-qec", &command(tag, extra), "/dev/null"])
            .env("STATIC_IMAGE_CACHE_DIR", dir.path().join("cache"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_terminal("t1", "");
    assert!(shown.contains("Compressing `app` ["), "{shown}");
    assert!(shown.contains("Uploading `app` ["), "{shown}");
    let quiet = on_terminal("t2", "--quiet");
    assert!(!quiet.contains('['), "{quiet}");
    // Through a pipe: status lines only.
    let piped = static_image(args![
        "package",
        app.display(),
        "--no-cache",
        "--insecure",
        &host,
        "--output",
        format!("docker://{host}/app:t3"),
    ])
    .env("STATIC_IMAGE_CACHE_DIR", dir.path().join("cache"))
    .run()
    .ok();
    assert!(piped.stderr.contains("Pushed"), "{}", piped.stderr);
    assert!(!piped.stderr.contains("Compressing"), "{}", piped.stderr);
}
