//! Signed images: `keygen`, `--sign-key` and `verify --key`. Every bundle the tool writes is
//! also checked by implementations that are not ours: sigstore-js's `@sigstore/verify` for
//! every signature, in-toto/securesystemslib for every provenance envelope; a cosign-format
//! encrypted key written by PyNaCl and Python's scrypt must open; and the private key's bytes
//! must appear in no output.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::registry::{Auth, Registry};
use crate::support::*;

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const SLSA: &str = "https://slsa.dev/provenance/v1";

/// `keygen -o DIR/NAME` → (private, public).
fn keygen(dir: &Path, name: &str, algorithm: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    static_image(args![
        "keygen",
        "-o",
        prefix.display(),
        "--algorithm",
        algorithm
    ])
    .run()
    .ok();
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// One artifact a layout lists: its manifest, its document's path and its subject's.
struct Artifact {
    manifest: Value,
    document: PathBuf,
    subject: PathBuf,
    subject_digest: String,
}

/// Every bundle artifact the layout at `layout` lists.
fn bundles(layout: &Path) -> Vec<Artifact> {
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["artifactType"] == BUNDLE)
        .map(|d| {
            let manifest = read_json(&blob(layout, d["digest"].as_str().unwrap()));
            let document = blob(layout, manifest["layers"][0]["digest"].as_str().unwrap());
            let subject_digest = manifest["subject"]["digest"].as_str().unwrap().to_string();
            Artifact {
                subject: blob(layout, &subject_digest),
                subject_digest,
                document,
                manifest,
            }
        })
        .collect()
}

fn is_provenance(a: &Artifact) -> bool {
    a.manifest["annotations"]["dev.sigstore.bundle.predicateType"] == SLSA
}

/// sigstore-js's verdict on `bundle` (with the signed bytes of a message signature).
fn sigstore_js(bundle: &Path, public: &Path, artifact: Option<&Path>) -> (bool, String) {
    let mut command = Command::new("node");
    command
        .arg(repo().join("tests/cli/verifiers/sigstore-verify.js"))
        .arg(bundle)
        .arg(public)
        .env("NODE_PATH", node_modules());
    if let Some(artifact) = artifact {
        command.arg(artifact);
    }
    let out = command.output().expect("node runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// in-toto's verdict on a DSSE bundle, and the statement it signs.
fn in_toto(bundle: &Path, public: &Path) -> Result<Value, String> {
    let out = Command::new("python3")
        .arg(repo().join("tests/cli/verifiers/intoto-verify.py"))
        .arg(bundle)
        .arg(public)
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(text + &String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_str(&text).expect("the statement is JSON"))
}

/// Whether pyca/cryptography finds the bundle's message signature the key's over `signed`.
fn ed25519_holds(bundle: &Path, public: &Path, signed: &Path) -> bool {
    let script = "import base64, json, sys\n\
from cryptography.hazmat.primitives import serialization\n\
bundle = json.load(open(sys.argv[1]))\n\
key = serialization.load_pem_public_key(open(sys.argv[2], 'rb').read())\n\
key.verify(base64.b64decode(bundle['messageSignature']['signature']), open(sys.argv[3], 'rb').read())\n";
    Command::new("python3")
        .args(["-c", script])
        .args([bundle, public, signed])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("python3 runs")
        .success()
}

fn verify(image: &str, public: &Path, extra: &[&str]) -> Ran {
    let mut args = args!["verify", "--key", public.display(), image];
    args.extend(extra.iter().map(|a| a.to_string()));
    static_image(args).run()
}

#[test]
fn a_signed_image_is_verified_by_us_by_sigstore_js_and_by_in_toto() {
    if !require(&["musl-gcc", "node", "sigstore-js", "in-toto"]) {
        return;
    }
    let dir = tempdir();
    let app = musl_app(dir.path(), "signed");
    for algorithm in ["ecdsa-p256", "ed25519"] {
        let (private, public) = keygen(dir.path(), algorithm, algorithm);
        let (_, other) = keygen(dir.path(), &format!("{algorithm}-other"), algorithm);
        let package = |layout: &Path, sign: bool| -> Ran {
            let mut args = args![
                "package",
                app.display(),
                "-o",
                format!("oci:{}:v1", layout.display())
            ];
            if sign {
                args.extend(args!["--sign-key", private.display()]);
            }
            static_image(args)
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .env("STATIC_IMAGE_CACHE_DIR", dir.path().join("cache"))
                .run()
                .ok()
        };
        let signed = dir.path().join(format!("{algorithm}-signed"));
        let again = dir.path().join(format!("{algorithm}-again"));
        let unsigned = dir.path().join(format!("{algorithm}-unsigned"));
        let digest = package(&signed, true).digest();
        package(&again, true);
        // Signing adds referrers and changes nothing in the image; signatures are
        // deterministic, so the whole layout repeats byte for byte.
        assert_eq!(package(&unsigned, false).digest(), digest);
        assert_eq!(
            fs::read(signed.join("index.json")).unwrap(),
            fs::read(again.join("index.json")).unwrap()
        );

        // manifest signature, provenance, SBOM signature.
        let found = bundles(&signed);
        assert_eq!(found.len(), 3, "{algorithm}");
        for artifact in &found {
            if is_provenance(artifact) {
                let statement = in_toto(&artifact.document, &public).unwrap();
                assert_eq!(statement["predicateType"], SLSA);
                assert_eq!(
                    format!(
                        "sha256:{}",
                        statement["subject"][0]["digest"]["sha256"]
                            .as_str()
                            .unwrap()
                    ),
                    digest
                );
                assert_eq!(artifact.subject_digest, digest);
                assert!(in_toto(&artifact.document, &other).is_err());
                let (ok, said) = sigstore_js(&artifact.document, &public, None);
                assert!(ok, "{said}");
            } else if algorithm == "ed25519" {
                // sigstore-js verifies message signatures with a hash (`crypto.verify("sha256",
                // …)`), which Node refuses for Ed25519 keys: its verdict would be about Node, not
                // us. pyca/cryptography checks the plain Ed25519 signature instead.
                assert!(ed25519_holds(
                    &artifact.document,
                    &public,
                    &artifact.subject
                ));
                assert!(!ed25519_holds(
                    &artifact.document,
                    &other,
                    &artifact.subject
                ));
                assert!(!ed25519_holds(&artifact.document, &public, &app));
            } else {
                let (ok, said) = sigstore_js(&artifact.document, &public, Some(&artifact.subject));
                assert!(ok, "{algorithm}: {said}");
                let (ok, said) = sigstore_js(&artifact.document, &other, Some(&artifact.subject));
                assert!(!ok && said.contains("SIGNATURE_ERROR"), "{said}");
                // Over exactly the subject's bytes: another document does not verify.
                let (ok, _) = sigstore_js(&artifact.document, &public, Some(&app));
                assert!(!ok);
            }
        }

        let spec = format!("oci:{}:v1", signed.display());
        let ran = verify(&spec, &public, &[]).code(0);
        for check in ["signature ok", "provenance ok", "sbom signature ok"] {
            assert!(ran.stdout.contains(check), "{check}: {}", ran.stdout);
        }
        let ran = verify(&spec, &other, &[]).code(1);
        assert!(ran.stdout.contains("signature FAILED"), "{}", ran.stdout);
        assert!(
            ran.stdout.contains("signed by another key"),
            "{}",
            ran.stdout
        );
        let ran = verify(
            &format!("oci:{}:v1", unsigned.display()),
            &public,
            &["--json"],
        )
        .code(1);
        let json: Value = serde_json::from_str(&ran.stdout).unwrap();
        assert_eq!(
            json[0]["signatures"][0]["detail"],
            "no signature is attached"
        );
        assert_eq!(json[0]["ok"], false);
    }
}

#[test]
fn every_platform_the_index_and_both_remote_and_archive_outputs_carry_signatures() {
    if !require(&[
        "musl-gcc",
        "aarch64-linux-gnu-gcc",
        "docker-registry",
        "skopeo",
    ]) {
        return;
    }
    let dir = tempdir();
    let (private, public) = keygen(dir.path(), "release", "ecdsa-p256");
    let src = "int main(void){return 0;}\n";
    let amd = compile_c("musl-gcc", &["-static"], src, dir.path(), "svc-amd64");
    let arm = compile_c(
        "aarch64-linux-gnu-gcc",
        &["-static"],
        src,
        dir.path(),
        "svc-arm64",
    );
    let registry = Registry::start(&dir.path().join("registry"), None, Auth::None);
    let host = registry.host();
    let archive = format!("oci-archive:{}", dir.path().join("svc.tar").display());
    let remote = format!("docker://{host}/team/svc:v1");
    let ran = static_image(args![
        "package",
        amd.display(),
        arm.display(),
        "--name",
        "svc",
        "--sign-key",
        private.display(),
        "--insecure",
        host,
        "-o",
        archive,
        "-o",
        remote,
    ])
    .run()
    .ok();
    assert!(
        !ran.stderr.contains("could not be attached"),
        "{}",
        ran.stderr
    );
    for spec in [&archive, &remote] {
        let ran = verify(spec, &public, &["--insecure", &host, "--json"]).code(0);
        let json: Value = serde_json::from_str(&ran.stdout).unwrap();
        let checks: Vec<(String, String)> = json[0]["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["ok"], true, "{c}");
                (
                    c["platform"].as_str().unwrap().to_string(),
                    c["check"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("index", "signature"),
            ("index", "provenance"),
            ("linux/amd64", "signature"),
            ("linux/amd64", "provenance"),
            ("linux/amd64", "sbom signature"),
            ("linux/arm64", "signature"),
            ("linux/arm64", "provenance"),
            ("linux/arm64", "sbom signature"),
        ]
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
        assert_eq!(checks, expected, "{spec}");
    }
}

#[test]
fn tampering_is_caught_and_named() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let (private, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let first = musl_app(&dir.path().join("a").tap_mkdir(), "first");
    let second = musl_app(&dir.path().join("b").tap_mkdir(), "second");
    let layout = |name: &str, app: &Path| -> (PathBuf, String) {
        let layout = dir.path().join(name);
        let digest = static_image(args![
            "package",
            app.display(),
            "--sign-key",
            private.display(),
            "-o",
            format!("oci:{}:v1", layout.display())
        ])
        .run()
        .ok()
        .digest();
        (layout, digest)
    };
    let (a, a_digest) = layout("a-layout", &first);
    let (b, b_digest) = layout("b-layout", &second);

    // B's provenance (valid, by the key) attached to A as if it were A's.
    let moved = bundles(&b).into_iter().find(is_provenance).unwrap();
    let mut manifest = moved.manifest.clone();
    manifest["subject"]["digest"] = Value::from(a_digest.clone());
    let descriptor = add_blob(&a, &moved.document, &manifest);
    push_entry(&a, descriptor);
    let ran = verify(&format!("oci:{}:v1", a.display()), &public, &[]).code(1);
    assert!(
        ran.stdout.contains(&format!(
            "provenance FAILED: bundle `{}`: it is about {b_digest}, not this manifest (moved from another image?)",
            digest_of(&serde_json::to_vec(&manifest).unwrap())
        )),
        "{}",
        ran.stdout
    );

    // A manifest changed by one byte (an annotation), its signature moved along with it.
    let (c, c_digest) = layout("c-layout", &first);
    let mut image = read_json(&blob(&c, &c_digest));
    image["annotations"]["org.opencontainers.image.title"] = Value::from("forged");
    let bytes = serde_json::to_vec(&image).unwrap();
    let forged = digest_of(&bytes);
    fs::write(blob(&c, &forged), &bytes).unwrap();
    let mut index = read_json(&c.join("index.json"));
    for entry in index["manifests"].as_array_mut().unwrap() {
        if entry["digest"] == c_digest.as_str() {
            entry["digest"] = Value::from(forged.clone());
            entry["size"] = Value::from(bytes.len());
        }
    }
    fs::write(c.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let signature = bundles(&c)
        .into_iter()
        .find(|a| !is_provenance(a) && a.subject_digest == c_digest)
        .unwrap();
    let mut manifest = signature.manifest.clone();
    manifest["subject"]["digest"] = Value::from(forged.clone());
    let descriptor = add_blob(&c, &signature.document, &manifest);
    push_entry(&c, descriptor);
    let ran = verify(&format!("oci:{}:v1", c.display()), &public, &[]).code(1);
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    assert!(
        ran.stdout.contains(&format!(
            "signs digest sha256:{}, not the artifact's sha256:{}",
            hex(&c_digest),
            hex(&forged)
        )),
        "{}",
        ran.stdout
    );
}

/// Writes `manifest` (whose one layer is the file `document`) into `layout`; its descriptor.
fn add_blob(layout: &Path, document: &Path, manifest: &Value) -> Value {
    let bytes = serde_json::to_vec(manifest).unwrap();
    let digest = digest_of(&bytes);
    fs::write(blob(layout, &digest), &bytes).unwrap();
    let document_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let target = blob(layout, document_digest);
    if target != document {
        fs::copy(document, target).unwrap();
    }
    serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest,
        "size": bytes.len(),
        "artifactType": BUNDLE,
        "annotations": manifest["annotations"].clone(),
    })
}

fn push_entry(layout: &Path, descriptor: Value) {
    let mut index = read_json(&layout.join("index.json"));
    index["manifests"].as_array_mut().unwrap().push(descriptor);
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let sum = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        sum.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> Self {
        fs::create_dir_all(&self).unwrap();
        self
    }
}

#[test]
fn the_private_key_reaches_no_output_log_or_error() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let (private, public) = keygen(dir.path(), "secret", "ecdsa-p256");
    let pem = fs::read_to_string(&private).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .unwrap();
    // The 32-byte scalar sits at the end of the PKCS#8 ECPrivateKey's OCTET STRING, before the
    // public key; any 16 bytes of the DER past its fixed header are secret enough to look for.
    let needles: Vec<Vec<u8>> = vec![body.as_bytes().to_vec(), der[36..52].to_vec()];
    let app = musl_app(dir.path(), "quiet");
    let layout = dir.path().join("layout");
    let archive = dir.path().join("image.tar");
    let ran = static_image(args![
        "-vv",
        "package",
        app.display(),
        "--sign-key",
        private.display(),
        "-o",
        format!("oci:{}", layout.display()),
        "-o",
        format!("oci-archive:{}", archive.display()),
        "--json"
    ])
    .run()
    .ok();
    let mut haystacks: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), ran.stdout.into_bytes()),
        ("stderr".into(), ran.stderr.into_bytes()),
        ("archive".into(), fs::read(&archive).unwrap()),
    ];
    for entry in fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        haystacks.push((path.display().to_string(), fs::read(&path).unwrap()));
    }
    // Errors about the key: a private key given where the public one goes, a public one to
    // sign with.
    let wrong = static_image(args![
        "verify",
        "--key",
        private.display(),
        format!("oci:{}", layout.display())
    ])
    .run()
    .code(1);
    assert!(
        wrong.stderr.contains("is not a usable key"),
        "{}",
        wrong.stderr
    );
    haystacks.push(("verify's error".into(), wrong.stderr.into_bytes()));
    let wrong = static_image(args![
        "package",
        app.display(),
        "--sign-key",
        public.display(),
        "-o",
        format!("oci:{}", dir.path().join("x").display())
    ])
    .run()
    .code(1);
    assert!(
        wrong.stderr.contains("holds a public key"),
        "{}",
        wrong.stderr
    );
    for (name, haystack) in &haystacks {
        for needle in &needles {
            assert!(
                !haystack
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice()),
                "the private key's bytes are in {name}"
            );
        }
    }
}

#[test]
fn a_cosign_format_key_written_by_pynacl_opens_with_its_passphrase() {
    if !require(&["musl-gcc", "pynacl", "in-toto"]) {
        return;
    }
    let dir = tempdir();
    // cosign's format (go-securesystemslib `encrypted`), written by PyNaCl's secretbox and
    // Python's own scrypt around a PKCS#8 key from pyca/cryptography: none of it our code.
    let script = r#"
import base64, hashlib, json, os, sys
import nacl.secret
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
salt, nonce = os.urandom(32), os.urandom(24)
secret = hashlib.scrypt(b"open sesame", salt=salt, n=32768, r=8, p=1, maxmem=64 << 20, dklen=32)
sealed = nacl.secret.SecretBox(secret).encrypt(der, nonce).ciphertext
doc = {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
       "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
       "ciphertext": base64.b64encode(sealed).decode()}
body = base64.encodebytes(json.dumps(doc).encode()).decode()
open(sys.argv[1], "w").write("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + body + "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
open(sys.argv[2], "wb").write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
"#;
    let (private, public) = (dir.path().join("cosign.key"), dir.path().join("cosign.pub"));
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&private)
        .arg(&public)
        .status()
        .unwrap();
    assert!(status.success());
    let app = musl_app(dir.path(), "cosign");
    let layout = dir.path().join("layout");
    let package = |password: &str| {
        static_image(args![
            "package",
            app.display(),
            "--sign-key",
            private.display(),
            "-o",
            format!("oci:{}", layout.display())
        ])
        .env("STATIC_IMAGE_KEY_PASSWORD", password)
        .run()
    };
    let ran = package("wrong").code(1);
    assert_eq!(
        ran.stderr,
        format!(
            "error: the passphrase does not open `{}`\nhelp: set the passphrase in `STATIC_IMAGE_KEY_PASSWORD` (or `COSIGN_PASSWORD`)\n",
            private.display()
        )
    );
    assert!(
        !layout.exists(),
        "nothing is written with a key that does not open"
    );
    package("open sesame").ok();
    verify(&format!("oci:{}", layout.display()), &public, &[]).code(0);
}

#[test]
fn a_signed_run_is_replayed_only_while_its_key_is_the_same() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let (private, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let (other_private, other_public) = keygen(dir.path(), "other", "ecdsa-p256");
    let app = musl_app(dir.path(), "again");
    let layout = dir.path().join("layout");
    let package = |key: Option<&Path>| {
        let mut args = args![
            "-v",
            "package",
            app.display(),
            "-o",
            format!("oci:{}", layout.display())
        ];
        if let Some(key) = key {
            args.extend(args!["--sign-key", key.display()]);
        }
        static_image(args)
            .env("STATIC_IMAGE_CACHE_DIR", dir.path().join("cache"))
            .run()
            .ok()
    };
    const REPLAYED: &str = "its outcome stands";
    // Stamps need their files a second old to vouch for them.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(!package(Some(&private)).stderr.contains(REPLAYED));
    assert!(package(Some(&private)).stderr.contains(REPLAYED));
    // Unsigned with the same flags otherwise: another run, not the signed one's record.
    assert!(!package(None).stderr.contains(REPLAYED));
    // The key file replaced by another key: signed again, with the new key.
    fs::copy(&other_private, &private).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(!package(Some(&private)).stderr.contains(REPLAYED));
    let spec = format!("oci:{}", layout.display());
    verify(&spec, &other_public, &[]).code(0);
    // The layout keeps the first key's signatures beside the new ones, as a registry keeps
    // every signature pushed: an image may be signed by several keys.
    verify(&spec, &public, &[]).code(0);
    assert_eq!(bundles(&layout).len(), 6);
}

#[test]
fn a_signed_build_s_provenance_names_its_source_lockfile_and_toolchain() {
    if !require(&["go", "in-toto"]) {
        return;
    }
    let dir = tempdir();
    let (private, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let project = copy_fixture("go-vendor", &dir.path().join("src"));
    let layout = dir.path().join("layout");
    let digest = build_into(
        &project,
        &layout,
        &[
            "--package",
            "./cmd/greeter",
            "--offline",
            "--sign-key",
            &private.display().to_string(),
        ],
    );
    let statement = bundles(&layout)
        .into_iter()
        .find(|a| is_provenance(a) && a.subject_digest == digest)
        .map(|a| in_toto(&a.document, &public).unwrap())
        .expect("a provenance for the image");
    let build = &statement["predicate"]["buildDefinition"];
    assert_eq!(build["externalParameters"]["build"]["language"], "go");
    assert_eq!(
        build["externalParameters"]["build"]["package"],
        serde_json::json!(["./cmd/greeter"])
    );
    let deps = build["resolvedDependencies"].as_array().unwrap();
    let named = |name: &str| deps.iter().find(|d| d["name"] == name).cloned();
    // A copy outside any git checkout: the source is the digest of its files.
    let source = named("source").expect("the source");
    assert_eq!(source["digest"]["sha256"].as_str().unwrap().len(), 64);
    let modules = fs::read(project.join("vendor/modules.txt")).unwrap();
    assert_eq!(
        format!(
            "sha256:{}",
            named("vendor/modules.txt").unwrap()["digest"]["sha256"]
                .as_str()
                .unwrap()
        ),
        digest_of(&modules)
    );
    assert!(
        named("go").unwrap()["uri"]
            .as_str()
            .unwrap()
            .starts_with("pkg:golang/stdlib@")
    );
    // No absolute path of this machine in the statement.
    let text = statement.to_string();
    assert!(!text.contains(&dir.path().display().to_string()), "{text}");
}

#[test]
fn a_policy_refuses_shells_scripts_interpreters_root_and_other_bases_naming_each() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let (private, public) = keygen(dir.path(), "k", "ecdsa-p256");
    let app = musl_app(dir.path(), "policy");
    let clean = dir.path().join("clean");
    let digest = static_image(args![
        "package",
        app.display(),
        "--sign-key",
        private.display(),
        "-o",
        format!("oci:{}:v1", clean.display())
    ])
    .run()
    .ok()
    .digest();
    let policy = dir.path().join("policy.toml");
    fs::write(
        &policy,
        "require-signature = true\nrequire-provenance = true\nrequire-sbom = true\n\
         forbid-shells = true\nforbid-root = true\n",
    )
    .unwrap();
    let spec = format!("oci:{}:v1", clean.display());
    let ran = static_image(args![
        "verify",
        "--key",
        public.display(),
        "--policy",
        policy.display(),
        &spec
    ])
    .run()
    .code(0);
    for rule in [
        "require-provenance ok",
        "require-sbom ok",
        "forbid-shells ok",
        "forbid-root ok",
    ] {
        assert!(ran.stdout.contains(rule), "{rule}: {}", ran.stdout);
    }

    // The same program on that image, as root, with a shell, a script and a python beside it.
    let extras = dir.path().join("extras");
    fs::create_dir_all(&extras).unwrap();
    fs::copy(&app, extras.join("sh")).unwrap();
    fs::copy(&app, extras.join("python3.11")).unwrap();
    fs::write(extras.join("start"), "#!/bin/sh\nexec /app/app\n").unwrap();
    let dirty = dir.path().join("dirty");
    let dirty_spec = format!("oci:{}:v1", dirty.display());
    static_image(args![
        "package",
        app.display(),
        "--user",
        "root",
        "--add",
        format!("{}:/bin/sh", extras.join("sh").display()),
        "--add",
        format!(
            "{}:/usr/bin/python3.11",
            extras.join("python3.11").display()
        ),
        "--add",
        format!("{}:/usr/local/bin/start", extras.join("start").display()),
        "--base",
        &spec,
        "--sign-key",
        private.display(),
        "-o",
        &dirty_spec
    ])
    .run()
    .ok();
    let ran = static_image(args![
        "verify",
        "--key",
        public.display(),
        "--policy",
        policy.display(),
        "--allowed-base",
        format!("sha256:{}", "0".repeat(64)),
        "--json",
        &dirty_spec
    ])
    .run()
    .code(1);
    let json: Value = serde_json::from_str(&ran.stdout).unwrap();
    let failed: Vec<(String, String)> = json[0]["policy"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            (
                "forbid-shells".to_string(),
                "it holds `/bin/sh` (a shell), `/usr/bin/python3.11` (the python interpreter), \
                 `/usr/local/bin/start` (a script for `/bin/sh`)"
                    .to_string()
            ),
            ("forbid-root".into(), "it runs as root (user `root`)".into()),
            (
                "allowed-base".into(),
                format!("built on {digest}, which is not allowed")
            ),
        ]
    );
    // The base it was built on is allowed by its digest.
    static_image(args!["verify", "--allowed-base", &digest, &dirty_spec])
        .run()
        .code(0);

    // A policy with a rule it does not know is refused, naming the key (exit 2).
    fs::write(&policy, "forbid-shell = true\n").unwrap();
    let ran = static_image(args!["verify", "--policy", policy.display(), &spec])
        .run()
        .code(2);
    assert!(ran.stderr.contains("forbid-shell"), "{}", ran.stderr);
}
