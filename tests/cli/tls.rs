//! The CA bundle an image ships, and TLS from inside it: the host's bundle, `builtin` roots, a
//! replaced or extended bundle (`--ca-bundle`, `--extra-ca`), a file with no certificate, and a
//! Go HTTPS client in the image that trusts exactly the bundle it ships. The CA and the HTTPS
//! server are made in the test (see `support/tls.rs`), checked first on their own with curl.

use std::fs;
use std::process::Command;

use serde_json::Value;

use crate::support::tls::{TestCa, TlsServer};
use crate::support::*;
#[test]
fn the_server_is_trusted_through_the_test_ca_only() {
    if !require(&["openssl", "python3", "curl"]) {
        return;
    }
    let dir = tempdir();
    let ca = TestCa::new(&dir.path().join("ca"));
    let server = TlsServer::start(&ca, &dir.path().join("www"));
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca.cert_pem)
        .arg(server.url())
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout.len(), server.body_len());
    // Without the CA, the same request is refused.
    let out = Command::new("curl")
        .args(["-sS", "--cacert", "/dev/null"])
        .arg(server.url())
        .output()
        .expect("curl runs");
    assert!(!out.status.success(), "{out:?}");
}

fn first_host_certs(n: usize) -> Vec<pem::Pem> {
    let host = fs::read("/etc/ssl/certs/ca-certificates.crt").expect("host CA bundle");
    pem::parse_many(host)
        .expect("host bundle parses")
        .into_iter()
        .take(n)
        .collect()
}

#[test]
fn ca_bundle_can_be_replaced_and_extended() {
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let certs = first_host_certs(2);
    let bundle = dir.path().join("corp-bundle.pem");
    fs::write(&bundle, format!("# our roots\n{}", pem::encode(&certs[0]))).unwrap();
    let extra = dir.path().join("extra.der");
    fs::write(&extra, certs[1].contents()).unwrap();
    let layout = dir.path().join("layout");
    let ran = static_image(args![
        "package",
        exe.display(),
        "--json",
        "-o",
        format!("oci:{}", layout.display()),
        "--ca-bundle",
        bundle.display(),
        "--extra-ca",
        extra.display(),
    ])
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(outcome["ca_bundle"]["certificates"], 2);
    assert_eq!(outcome["ca_bundle"]["source"]["kind"], "file");
    let manifest = manifest_for(&layout, "latest");
    let base = layer_entries(&blob(
        &layout,
        manifest["layers"][0]["digest"].as_str().unwrap(),
    ));
    let shipped = base
        .iter()
        .find(|e| e.path == "etc/ssl/certs/ca-certificates.crt")
        .unwrap();
    let shipped = pem::parse_many(&shipped.data).unwrap();
    assert_eq!(shipped.len(), 2);
    assert_eq!(shipped[0].contents(), certs[0].contents());
    assert_eq!(shipped[1].contents(), certs[1].contents());
    assert_eq!(shipped[0].tag(), "CERTIFICATE");

    // `builtin` ignores the host's bundle: the same image on every machine.
    let ran = static_image(args![
        "package",
        exe.display(),
        "--json",
        "--ca-bundle",
        "builtin",
    ])
    .cwd(dir.path())
    .run()
    .ok();
    let outcome: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(outcome["ca_bundle"]["source"]["kind"], "builtin");
    assert!(outcome["ca_bundle"]["certificates"].as_u64().unwrap() > 100);
}

#[test]
fn a_ca_file_without_certificates_is_an_error_naming_it() {
    let dir = tempdir();
    let exe = static_binary(dir.path());
    let bad = dir.path().join("not-a-bundle.pem");
    fs::write(&bad, "just some text\n").unwrap();
    let out = dir.path().join("out");
    let ran = static_image(args![
        "package",
        exe.display(),
        "-o",
        format!("oci:{}", out.display()),
        "--extra-ca",
        bad.display(),
    ])
    .run()
    .code(1);
    assert_output(
        &ran.stderr,
        r#"    Verified `[TMP]/hello`: static-pie, x86-64
error: CA file `[TMP]/not-a-bundle.pem` holds no parsable certificate (neither PEM nor a DER certificate)
help: give a PEM bundle of CERTIFICATE blocks or a single DER certificate"#,
    );
    assert!(!out.exists());
}

#[test]
fn go_https_client_trusts_exactly_the_ca_bundle_it_ships() {
    let tools = ["go", "root", "runc", "umoci", "openssl", "python3"];
    if !require(&tools) {
        return;
    }
    let dir = tempdir();
    let project = copy_fixture("go-https", &dir.path().join("src"));
    let ca = TestCa::new(&dir.path().join("ca"));
    let server = TlsServer::start(&ca, &dir.path().join("www"));
    let layout = dir.path().join("layout");

    // The bundle holding the server's CA: Go's default client verifies and fetches.
    let ca_file = ca.cert_pem.display().to_string();
    with_go(args![
        "build",
        project.display(),
        "--offline",
        "--ca-bundle",
        ca_file,
        "-o",
        layout_spec(&layout, "good"),
    ])
    .run()
    .ok();
    let (code, out) = run_in_runc_with(
        &layout,
        "good",
        &dir.path().join("run1"),
        &[&server.url()],
        true,
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("fetched {} bytes", server.body_len())),
        "{out}"
    );

    // The compiled-in Mozilla roots lack the test CA: the classic scratch failure, by name.
    with_go(args![
        "build",
        project.display(),
        "--offline",
        "--ca-bundle",
        "builtin",
        "-o",
        layout_spec(&layout, "bad"),
    ])
    .run()
    .ok();
    let (code, out) = run_in_runc_with(
        &layout,
        "bad",
        &dir.path().join("run2"),
        &[&server.url()],
        true,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("x509: certificate signed by unknown authority"),
        "{out}"
    );

    // The image says what built it: the Go release, from the binary's build info.
    let inspect = skopeo_inspect(&layout_spec(&layout, "good"), true);
    let (labels, _) = config_of(&inspect);
    let go_version = labels
        .get("dev.static-image.go.version")
        .unwrap_or_else(|| panic!("{labels:?}"));
    assert!(go_version.starts_with("go1."), "{go_version}");
    assert_eq!(
        labels.get("dev.static-image.go.module").map(String::as_str),
        Some("example.com/go-https")
    );
}
