//! Registries that misbehave: each test starts a small HTTP server on 127.0.0.1 that answers
//! as a broken or hostile registry would (never answers, stalls mid-body, sends without end,
//! drips, sends huge headers or a huge token, a challenge that does not parse) and checks that
//! the real binary fails in time, in bounded memory, with a message naming what happened.
//!
//! Every run but one sets a 2 s deadline; a run is allowed 3 times that, generously.

use std::time::Duration;

use sha2::Digest as _;

use crate::support::http::{Conn, Hostile, api_ok};
use crate::support::measure::run_measured;
use crate::support::*;

/// The deadline the tests set, in seconds.
const DEADLINE: u64 = 2;

fn sha256(bytes: &[u8]) -> String {
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A one-layer image: (manifest, config, layer digest); the layer's bytes are never sent
/// whole, so any digest will do.
fn image() -> (Vec<u8>, Vec<u8>, String) {
    let layer = format!("sha256:{}", "ab".repeat(32));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#
    )
    .into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":1048576}}]}}"#,
        sha256(&config),
        config.len()
    )
    .into_bytes();
    (manifest, config, layer)
}

/// Serves `/v2/`, the image's manifest and config; a layer request goes to `layer`.
fn registry_with_layer(layer: impl Fn(&mut Conn) + Send + Sync + 'static) -> Hostile {
    let (manifest, config, _) = image();
    let config_path = format!("/v2/x/blobs/{}", sha256(&config));
    Hostile::start(move |c| {
        if api_ok(c) {
        } else if c.path == "/v2/x/manifests/1" {
            c.answer(
                "200 OK",
                &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                &manifest,
            );
        } else if c.path == config_path {
            c.answer("200 OK", &[], &config);
        } else {
            layer(c);
        }
    })
}

/// `verify docker://HOST/x:1 --insecure HOST`.
fn verify(host: &str) -> crate::support::Run {
    static_image(args![
        "verify",
        format!("docker://{host}/x:1"),
        "--insecure",
        host,
    ])
}

/// The `error:`, `caused by:` and `help:` lines of stderr.
fn message(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("error") || l.starts_with("caused by") || l.starts_with("help"))
        .map(str::to_string)
        .collect()
}

const HELP: &str = "help: check that the registry is up and reachable; a registry that is sound \
                    but slow can be given longer with `--registry-timeout SECS` or \
                    STATIC_IMAGE_REGISTRY_TIMEOUT";

/// Asserts the run took less than 3 deadlines.
#[track_caller]
fn in_time(elapsed: Duration) {
    assert!(
        elapsed < Duration::from_secs(3 * DEADLINE),
        "took {elapsed:?} for a {DEADLINE} s deadline"
    );
}

#[test]
fn a_registry_that_accepts_and_never_answers_fails_within_the_deadline() {
    let server = Hostile::start(|c| c.stall());
    let host = &server.host;
    let (ran, _, elapsed) = run_measured(
        verify(host)
            .env("STATIC_IMAGE_REGISTRY_TIMEOUT", "2")
            .spawn(),
    );
    let ran = ran.code(2);
    assert_eq!(
        message(&ran.stderr),
        [
            format!("error: image `docker://{host}/x:1` cannot be pulled"),
            format!(
                "caused by: registry `{host}` sent no answer to GET /v2/ within 2 s \
                 (--registry-timeout)"
            ),
            HELP.to_string(),
        ]
    );
    in_time(elapsed);
}

#[test]
fn a_manifest_that_stalls_after_its_headers_fails_within_the_deadline() {
    let server = Hostile::start(|c| {
        if !api_ok(c) {
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"schemaVersion\"");
            c.stall();
        }
    });
    let host = &server.host;
    let (ran, _, elapsed) = run_measured(
        verify(host)
            .env("STATIC_IMAGE_REGISTRY_TIMEOUT", "2")
            .spawn(),
    );
    assert_eq!(
        message(&ran.code(2).stderr)[1],
        format!(
            "caused by: registry `{host}` did not finish GET /v2/x/manifests/1 within 2 s \
             (--registry-timeout)"
        )
    );
    in_time(elapsed);
}

#[test]
fn a_layer_that_stalls_mid_body_fails_on_the_idle_deadline() {
    let server = registry_with_layer(|c| {
        c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n");
        c.send(&[0u8; 4096]);
        c.stall();
    });
    let host = &server.host;
    let (_, _, layer) = image();
    let (ran, _, elapsed) = run_measured(
        verify(host)
            .env("STATIC_IMAGE_REGISTRY_TIMEOUT", "2")
            .spawn(),
    );
    let lines = message(&ran.code(2).stderr);
    assert!(
        lines.contains(&format!(
            "caused by: registry `{host}` stalled for 2 s in the middle of GET \
             /v2/x/blobs/{layer} (the idle deadline, from --registry-timeout)"
        )),
        "{lines:#?}"
    );
    in_time(elapsed);
}

#[test]
fn a_layer_that_drips_fails_on_the_minimum_rate() {
    let server = registry_with_layer(|c| {
        c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n");
        // A byte every half second: never idle for the deadline, never done.
        while !c.stopped() && c.send(b"x") {
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let host = &server.host;
    let (_, _, layer) = image();
    let (ran, _, elapsed) = run_measured(
        verify(host)
            .env("STATIC_IMAGE_REGISTRY_TIMEOUT", "2")
            .spawn(),
    );
    let lines = message(&ran.code(2).stderr);
    let prefix = format!(
        "caused by: registry `{host}` moved the body of GET /v2/x/blobs/{layer} slower than \
         16 KiB/s on average ("
    );
    assert!(lines.iter().any(|l| l.starts_with(&prefix)), "{lines:#?}");
    in_time(elapsed);
}

#[test]
fn an_endless_chunked_manifest_is_cut_at_its_cap_in_bounded_memory() {
    let server = Hostile::start(|c| {
        if !api_ok(c) {
            c.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
            while !c.stopped() && c.send(chunk.as_bytes()) {}
        }
    });
    let host = &server.host;
    let (ran, peak_kib, elapsed) = run_measured(
        verify(host)
            .env("STATIC_IMAGE_REGISTRY_TIMEOUT", "2")
            .spawn(),
    );
    assert_eq!(
        message(&ran.code(2).stderr)[1],
        format!(
            "caused by: registry `{host}` sent more than 4 MiB for a manifest or index (answer \
             to GET /v2/x/manifests/1): refused"
        )
    );
    in_time(elapsed);
    assert!(peak_kib < 64 << 10, "peak memory {peak_kib} KiB");
}

#[test]
fn a_100_mb_token_answer_is_cut_at_its_cap_in_bounded_memory() {
    let server = Hostile::start(|c| {
        if c.path == "/v2/" {
            let host = c.host();
            let challenge = format!(r#"Bearer realm="http://{host}/token",service="s""#);
            c.answer("401 Unauthorized", &[("WWW-Authenticate", &challenge)], b"");
        } else if c.path.starts_with("/token") {
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n{\"token\":\"");
            let chunk = vec![b'a'; 1 << 16];
            let mut sent = 0;
            while sent < 100_000_000 && !c.stopped() && c.send(&chunk) {
                sent += chunk.len();
            }
        }
    });
    let host = &server.host;
    let (ran, peak_kib, elapsed) = run_measured(
        verify(host)
            .env("STATIC_IMAGE_REGISTRY_TIMEOUT", "2")
            .spawn(),
    );
    assert_eq!(
        message(&ran.code(2).stderr)[1],
        format!(
            "caused by: registry `{host}` sent more than 1 MiB for a token (answer to GET \
             /token): refused"
        )
    );
    in_time(elapsed);
    assert!(peak_kib < 64 << 10, "peak memory {peak_kib} KiB");
}

#[test]
fn huge_headers_and_a_malformed_challenge_are_refused_by_name() {
    let server = Hostile::start(|c| {
        let filler = "a".repeat(1 << 20);
        c.send(format!("HTTP/1.1 200 OK\r\nX-Filler: {filler}\r\n").as_bytes());
        c.stall();
    });
    let host = &server.host;
    let (ran, peak_kib, elapsed) = run_measured(
        verify(host)
            .env("STATIC_IMAGE_REGISTRY_TIMEOUT", "2")
            .spawn(),
    );
    assert_eq!(
        message(&ran.code(2).stderr)[1],
        format!(
            "caused by: registry `{host}`: its answer to GET /v2/ has headers larger than 65536 \
             bytes: refused"
        )
    );
    in_time(elapsed);
    assert!(peak_kib < 64 << 10, "peak memory {peak_kib} KiB");

    let server = Hostile::start(|c| {
        c.answer(
            "401 Unauthorized",
            &[("WWW-Authenticate", "Bearer realm=\"unterminated")],
            b"",
        );
    });
    let host = &server.host;
    let ran = verify(host).run().code(2);
    let lines = message(&ran.stderr);
    assert!(
        lines[1].starts_with(&format!(
            "caused by: registry `{host}`: its `WWW-Authenticate: Bearer realm=\"unterminated` \
             does not parse: "
        )),
        "{lines:#?}"
    );
}

#[test]
fn a_base_that_never_answers_and_a_push_that_is_never_taken_fail_within_the_deadline() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let app = musl_app(dir.path(), "hi");
    let cache = dir.path().join("cache");

    let server = Hostile::start(|c| c.stall());
    let host = server.host.clone();
    let out = dir.path().join("out");
    let spec = format!("oci:{}", out.display());
    let (ran, _, elapsed) = run_measured(
        package_run(
            &app,
            &spec,
            &cache,
            &[
                "--base",
                &format!("docker://{host}/x:1"),
                "--insecure",
                &host,
                "--registry-timeout",
                "2",
            ],
        )
        .spawn(),
    );
    assert_eq!(
        message(&ran.code(1).stderr),
        [
            format!("error: image `docker://{host}/x:1` cannot be pulled"),
            format!(
                "caused by: registry `{host}` sent no answer to GET /v2/ within 2 s \
                 (--registry-timeout)"
            ),
            HELP.to_string(),
        ]
    );
    assert!(!out.exists(), "a layout was written");
    in_time(elapsed);

    // A registry that opens an upload and never reads it: the socket fills, then stalls.
    let mut bytes = std::fs::read(&app).unwrap();
    bytes.resize(bytes.len() + (64 << 20), 0x5a);
    std::fs::write(&app, bytes).unwrap();
    // When the upload began: the deadline bounds the time from there.
    let put_at = std::sync::Arc::new(std::sync::Mutex::new(None));
    let put_seen = put_at.clone();
    let server = Hostile::start(move |c| {
        if api_ok(c) {
        } else if c.method == "HEAD" {
            c.answer("404 Not Found", &[], b"");
        } else if c.method == "POST" {
            c.answer(
                "202 Accepted",
                &[("Location", "/v2/x/blobs/uploads/u1")],
                b"",
            );
        } else if c.body_left() < 1 << 20 {
            // The config and the SBOM are taken.
            c.read_body();
            c.answer("201 Created", &[], b"");
        } else {
            *put_seen.lock().unwrap() = Some(std::time::Instant::now());
            c.stall();
        }
    });
    let host = server.host.clone();
    let (ran, _, _) = run_measured(
        package_run(
            &app,
            &format!("docker://{host}/x:1"),
            &cache,
            &["--compression", "none", "--insecure", &host],
        )
        .env("STATIC_IMAGE_REGISTRY_TIMEOUT", "2")
        .spawn(),
    );
    let lines = message(&ran.code(1).stderr);
    assert!(
        lines.contains(&format!(
            "caused by: registry `{host}` stalled for 2 s in the middle of PUT \
             /v2/x/blobs/uploads/u1 (the idle deadline, from --registry-timeout)"
        )),
        "{lines:#?}"
    );
    // Staging 64 MiB comes first and takes what the machine takes. Then the kernel's socket
    // buffers (tens of MiB on loopback) take bytes until the stall begins, so the bound from
    // the upload's start is wider; without the idle deadline the run never ends.
    let upload = put_at.lock().unwrap().expect("the upload began").elapsed();
    assert!(
        upload < Duration::from_secs(10 * DEADLINE),
        "the upload took {upload:?} to fail"
    );
}

#[test]
fn the_default_deadline_is_a_minute_and_the_variable_sets_it() {
    let ran = static_image(args!["verify", "--help"]).run().ok();
    let help = ran.stdout.replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("--registry-timeout <SECS>")
            && help.contains("[env: STATIC_IMAGE_REGISTRY_TIMEOUT=] [default: 60]"),
        "{help}"
    );
    let ran = static_image(args![
        "verify",
        "docker://127.0.0.1:1/x:1",
        "--registry-timeout",
        "0"
    ])
    .run()
    .code(2);
    assert!(ran.stderr.contains("--registry-timeout"), "{}", ran.stderr);
}

#[test]
fn a_layer_claiming_a_terabyte_is_refused_before_it_is_asked_for() {
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (manifest, config, layer) = image();
    let manifest = String::from_utf8(manifest)
        .unwrap()
        .replace("\"size\":1048576", "\"size\":1099511627776")
        .into_bytes();
    let config_path = format!("/v2/x/blobs/{}", sha256(&config));
    let server = {
        let asked = asked.clone();
        Hostile::start(move |c| {
            if api_ok(c) {
            } else if c.path == "/v2/x/manifests/1" {
                c.answer(
                    "200 OK",
                    &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
                    &manifest,
                );
            } else if c.path == config_path {
                c.answer("200 OK", &[], &config);
            } else {
                asked.store(true, std::sync::atomic::Ordering::SeqCst);
                c.answer("404 Not Found", &[], b"");
            }
        })
    };
    let host = &server.host;
    let ran = verify(host).run().code(2);
    assert_eq!(
        message(&ran.stderr),
        [format!(
            "error: image `docker://{host}/x:1`: `{layer}` claims 1099511627776 bytes, more than the limit of 8GiB; if the image is trusted, raise it with `--max-blob-size` or STATIC_IMAGE_MAX_BLOB_SIZE"
        ),],
        "{}",
        ran.stderr
    );
    assert!(
        !asked.load(std::sync::atomic::Ordering::SeqCst),
        "the layer was asked for"
    );
}
