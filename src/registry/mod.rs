//! Registries: the OCI distribution protocol (distribution-spec `spec.md`), to push images
//! (`--output docker://…`) and pull bases (`--base docker://…`).
//!
//! A [`Client`] talks to one repository of one registry. It first asks `GET /v2/` (the spec's
//! "end-1"), which tells whether the registry wants credentials and how: `Basic`, or `Bearer`
//! through a token service named in the `WWW-Authenticate` challenge (distribution's
//! `token.md`). Credentials come from the files users' tools already write ([`auth`]).
//!
//! Every request is retried with backoff on 429, 5xx and dropped connections, as long as the
//! attempts and pauses fit in the request deadline, except a blob's upload `PUT`, which the
//! pusher retries from a fresh upload session. Connect, idle, answer and whole-request deadlines
//! bound every request ([`transport`] says how they derive from `--registry-timeout`); every
//! body read into memory has a cap (documents 4 MiB, token answers 1 MiB, error bodies 4 KiB),
//! and ureq caps the response headers at 64 KiB. TLS is verified against
//! the host's CA bundle (or `SSL_CERT_FILE`) plus `certs.d/HOST[:PORT]/*.crt` as Docker and
//! podman read them; `--insecure HOST` allows unverified TLS and plain HTTP for that registry
//! only.

pub mod auth;
mod challenge;
mod errors;
mod login;

mod transport;

use std::io::{self, Read};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::http;

pub use challenge::{Challenge, challenge_scopes, parse_challenge, parse_token};
pub use errors::{RegistryError, error_detail_of};

pub use transport::{DEFAULT_TIMEOUT_SECS, Deadline, DeadlineKind, Deadlines, MIN_RATE, backoff};

use challenge::www_authenticate;
use transport::{ATTEMPTS, Counted, Pace, Watched, agent, is_transient};

use crate::transport::name::RegistryRef;
use crate::ui::Ui;

/// The most of an error body quoted in a message.
const ERROR_BODY_LIMIT: u64 = 4096;
/// The most a JSON document (manifest, index) may be.
pub const MAX_DOCUMENT: u64 = 4 << 20;
/// The most a token service's answer may be: a token is a few KiB.
pub const MAX_TOKEN_ANSWER: u64 = 1 << 20;

/// Settings shared by every registry a run talks to.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Registries (`HOST[:PORT]`) allowed plain HTTP and unverified TLS.
    pub insecure: Vec<String>,
    /// How long a registry may take (`--registry-timeout`).
    pub deadlines: Deadlines,
    /// The largest blob an image read may claim (`--max-blob-size`).
    pub max_blob_size: crate::transport::read::limits::MaxBlobSize,
}

/// The request a response answers, kept with it for messages about its body.
#[derive(Clone, Debug)]
struct Origin {
    method: &'static str,
    path: String,
}

/// A request body.
pub enum Body<'a> {
    /// No body.
    Empty,
    /// Bytes in memory (a manifest).
    Bytes(&'a [u8]),
    /// A staged file, read afresh for every attempt; `on_bytes` hears of every chunk sent.
    File {
        /// The file.
        path: &'a Path,
        /// Its size.
        size: u64,
        /// Told of every chunk read (for a progress bar).
        on_bytes: &'a (dyn Fn(u64) + Sync),
    },
}

/// One request to the registry.
pub struct Request<'a> {
    /// `GET`, `HEAD`, `POST`, `PUT`.
    pub method: &'static str,
    /// A path on the registry (`/v2/…`) or an absolute URL it gave (an upload location).
    pub target: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Body<'a>,
    /// Whether to retry on 5xx and dropped connections (not for an upload's `PUT`, whose
    /// session may hold part of the bytes).
    pub retry: bool,
}

impl<'a> Request<'a> {
    /// A request with no body and no extra headers, retried.
    pub fn new(method: &'static str, target: impl Into<String>) -> Request<'a> {
        Request {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: Body::Empty,
            retry: true,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request<'a> {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Body<'a>) -> Request<'a> {
        self.body = body;
        self
    }
}

/// A response: status, headers, and the body to read.
pub type Response = http::Response<ureq::Body>;

/// A connection to one repository of one registry.
pub struct Client {
    /// `HOST[:PORT]` as named: the key for credentials and messages.
    registry: String,
    /// `https://HOST[:PORT]` (or `http://` for an insecure registry that speaks no TLS).
    base: String,
    agent: ureq::Agent,
    deadlines: Deadlines,
    /// Looked for on the first challenge only: a registry that asks for nothing never starts
    /// a credential helper.
    credentials: std::sync::OnceLock<auth::Lookup>,
    /// The scopes asked of a token service (`repository:team/app:pull,push`).
    scopes: Vec<String>,
    /// The `Authorization` value in use, once known.
    authorization: Mutex<Option<String>>,
    ui: Ui,
}

impl Client {
    /// Connects to `reference`'s registry for `scopes` (token-service scopes such as
    /// `repository:team/app:pull,push`), authenticating if the registry asks for it.
    pub fn connect(
        reference: &RegistryRef,
        scopes: Vec<String>,
        options: &RegistryOptions,
        ui: &Ui,
    ) -> Result<Client, RegistryError> {
        let host = reference.api_host();
        let insecure = options
            .insecure
            .iter()
            .any(|h| *h == reference.registry || h == host);
        let mut client = Client {
            registry: reference.registry.clone(),
            base: format!("https://{host}"),
            agent: agent(host, insecure, &options.deadlines),
            deadlines: options.deadlines,
            credentials: std::sync::OnceLock::new(),
            scopes,
            authorization: Mutex::new(None),
            ui: ui.clone(),
        };
        let ping = match client.ping() {
            // An insecure registry may speak plain HTTP: TLS to it fails, so try that.
            Err(RegistryError::Unreachable { .. }) if insecure => {
                client.base = format!("http://{host}");
                client.ping()
            }
            other => other,
        }?;
        match ping.status().as_u16() {
            200 => {}
            401 => {
                let challenge = client.challenge(&ping)?;
                client.authenticate(&challenge, &[])?;
            }
            status => {
                return Err(RegistryError::Protocol {
                    registry: client.registry.clone(),
                    detail: format!("`GET /v2/` answered HTTP {status}, not 200 or 401"),
                });
            }
        }
        Ok(client)
    }

    /// `GET /v2/`, not following a 401 (its challenge is what we want).
    fn ping(&self) -> Result<Response, RegistryError> {
        self.send_raw(&Request::new("GET", "/v2/"), false)
    }

    /// `HOST[:PORT]` as named.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Sends a request: authenticates again once on a 401 (a token can expire, or a new scope
    /// be asked), retries transient failures, and turns 401/403 into [`RegistryError::Denied`].
    pub fn send(&self, request: &Request<'_>) -> Result<Response, RegistryError> {
        let response = self.send_raw(request, true)?;
        match response.status().as_u16() {
            401 | 403 => Err(self.denied(
                response.status().as_u16(),
                self.current_authorization().is_some(),
            )),
            _ => Ok(response),
        }
    }

    /// Sends, expecting one of `ok`; any other status is an error quoting the registry's codes.
    pub fn expect(&self, request: &Request<'_>, ok: &[u16]) -> Result<Response, RegistryError> {
        let mut response = self.send(request)?;
        let status = response.status().as_u16();
        if ok.contains(&status) {
            return Ok(response);
        }
        Err(RegistryError::Status {
            registry: self.registry.clone(),
            method: request.method.to_string(),
            path: path_of(&request.target),
            status,
            detail: error_detail(&mut response),
        })
    }

    /// Reads a JSON document's bytes from a response, refusing more than [`MAX_DOCUMENT`].
    pub fn read_document(&self, response: Response) -> Result<Vec<u8>, RegistryError> {
        self.read_capped(response, MAX_DOCUMENT, "a manifest or index")
    }

    /// Reads a whole body into memory, refusing more than `limit` bytes of it (a chunked body
    /// that never ends, or one longer than said, stops there).
    pub(super) fn read_capped(
        &self,
        response: Response,
        limit: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, RegistryError> {
        let origin = response.extensions().get::<Origin>().cloned();
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.dropped(e))?;
        if bytes.len() as u64 > limit {
            let (method, path) = origin.map_or(("GET", String::new()), |o| (o.method, o.path));
            return Err(RegistryError::TooLarge {
                registry: self.registry.clone(),
                method: method.to_string(),
                path,
                what,
                limit,
            });
        }
        Ok(bytes)
    }

    /// A body that could not be read to its end: a deadline that passed, or a connection that
    /// dropped.
    pub fn dropped(&self, source: io::Error) -> RegistryError {
        if let Some(deadline) = Deadline::of_io(&source) {
            return self.deadline(deadline.clone());
        }
        RegistryError::Unreachable {
            registry: self.registry.clone(),
            method: "GET".into(),
            url: self.base.clone(),
            source: Box::new(ureq::Error::Io(source)),
        }
    }

    pub(super) fn deadline(&self, deadline: Deadline) -> RegistryError {
        RegistryError::Deadline {
            registry: self.registry.clone(),
            method: deadline.method,
            path: deadline.path,
            kind: deadline.kind,
            after: deadline.after,
        }
    }

    /// A request's failure before its answer's headers: a deadline names itself (a whole-request
    /// deadline then means no answer came), anything else is unreachable.
    fn failed(&self, request: &Request<'_>, source: ureq::Error) -> RegistryError {
        let path = path_of(&request.target);
        let passed =
            Deadline::of_ureq(&source, &self.deadlines, request.method, &path).or_else(|| {
                match &source {
                    ureq::Error::Io(e) => Deadline::of_io(e).cloned(),
                    _ => None,
                }
            });
        match passed {
            Some(mut deadline) => {
                if deadline.kind == DeadlineKind::Whole {
                    deadline.kind = DeadlineKind::Answer;
                }
                self.deadline(deadline)
            }
            None => match source {
                ureq::Error::LargeResponseHeader(_, limit) => RegistryError::Protocol {
                    registry: self.registry.clone(),
                    detail: format!(
                        "its answer to {} {path} has headers larger than {limit} bytes: refused",
                        request.method
                    ),
                },
                source => RegistryError::Unreachable {
                    registry: self.registry.clone(),
                    method: request.method.to_string(),
                    url: self.url(&request.target),
                    source: Box::new(source),
                },
            },
        }
    }

    /// Sends with retries; every attempt and every pause fits in the request deadline, counted
    /// from the first attempt (a blob's body aside, see [`transport`]).
    fn send_raw(&self, request: &Request<'_>, follow_401: bool) -> Result<Response, RegistryError> {
        let mut attempt = 1;
        let mut reauthenticated = !follow_401;
        let mut started = Instant::now();
        loop {
            let left = self.deadlines.request.saturating_sub(started.elapsed());
            let result = self.send_once(request, left);
            let transient = match &result {
                Err(e) => is_transient(e),
                Ok(r) => r.status().as_u16() == 429 || r.status().is_server_error(),
            };
            let pause = backoff(attempt);
            let in_budget = started.elapsed() + pause < self.deadlines.request;
            if transient && request.retry && attempt < ATTEMPTS && in_budget {
                self.ui.verbose(format_args!(
                    "registry `{}`: {} {} failed ({}); trying again in {} ms",
                    self.registry,
                    request.method,
                    path_of(&request.target),
                    match &result {
                        Err(e) => e.to_string(),
                        Ok(r) => format!("HTTP {}", r.status().as_u16()),
                    },
                    pause.as_millis()
                ));
                std::thread::sleep(pause);
                attempt += 1;
                continue;
            }
            let response = result.map_err(|source| self.failed(request, source))?;
            if response.status().as_u16() == 401 && !reauthenticated {
                reauthenticated = true;
                let challenge = self.challenge(&response)?;
                // The challenge may name a scope beyond ours (a mount's source).
                let extra = challenge_scopes(&www_authenticate(&response));
                self.authenticate(&challenge, &extra)?;
                // The token service had its own deadline; the request starts afresh.
                started = Instant::now();
                continue;
            }
            return Ok(response);
        }
    }

    /// Whether a request moves a blob's body (a layer's `GET`, an upload): those are held to a
    /// minimum rate, not to the whole-request deadline.
    fn is_blob(request: &Request<'_>) -> bool {
        matches!(request.body, Body::File { .. })
            || (request.method == "GET" && path_of(&request.target).contains("/blobs/"))
    }

    /// Runs one attempt of a request: `left` is what remains of the request deadline, the
    /// whole-request deadline of every request but a blob's.
    pub(super) fn run<B: ureq::AsSendBody>(
        &self,
        request: http::Request<B>,
        method: &'static str,
        path: String,
        blob: bool,
        left: Duration,
    ) -> Result<Response, ureq::Error> {
        let request = if blob {
            request
        } else {
            self.agent
                .configure_request(request)
                .timeout_global(Some(left))
                .build()
        };
        let response = self.agent.run(request)?;
        let (mut parts, body) = response.into_parts();
        let reader = Watched {
            inner: body.into_reader(),
            deadlines: self.deadlines,
            method,
            path: path.clone(),
            pace: blob.then(|| Pace::new(self.deadlines.request)),
        };
        parts.extensions.insert(Origin { method, path });
        Ok(http::Response::from_parts(
            parts,
            ureq::Body::builder().reader(reader),
        ))
    }

    fn send_once(&self, request: &Request<'_>, left: Duration) -> Result<Response, ureq::Error> {
        let url = self.url(&request.target);
        self.ui.verbose(format_args!("> {} {url}", request.method));
        let path = path_of(&request.target);
        let blob = Self::is_blob(request);
        let method = request.method;
        let mut builder = http::Request::builder().method(method).uri(&url);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some(auth) = self.current_authorization() {
            builder = builder.header("Authorization", auth);
        }
        match &request.body {
            Body::Empty => {
                let needs_length = matches!(method, "POST" | "PUT");
                if needs_length {
                    builder = builder.header("Content-Length", "0");
                }
                self.run(builder.body(())?, method, path, blob, left)
            }
            Body::Bytes(bytes) => {
                let mut reader: &[u8] = bytes;
                let body = ureq::SendBody::from_reader(&mut reader);
                let request = builder
                    .header("Content-Length", bytes.len().to_string())
                    .body(body)?;
                self.run(request, method, path, blob, left)
            }
            Body::File {
                path: file,
                size,
                on_bytes,
            } => {
                let mut reader = Counted {
                    inner: std::fs::File::open(file)?.take(*size),
                    on_bytes: *on_bytes,
                    pace: Pace::new(self.deadlines.request),
                    method,
                    path: path.clone(),
                };
                let body = ureq::SendBody::from_reader(&mut reader);
                let request = builder
                    .header("Content-Length", size.to_string())
                    .body(body)?;
                self.run(request, method, path, blob, left)
            }
        }
    }

    fn url(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            format!("{}{target}", self.base)
        }
    }

    pub(super) fn current_authorization(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Runs every parse the client makes of a registry's answer on one made from untrusted parts,
/// as it makes them: `header` as a `WWW-Authenticate`, `Location` and `Content-Type` value,
/// `body` as an error body, a token answer and a manifest or index. For fuzzing: each parse
/// may fail, none may panic.
#[doc(hidden)]
pub fn parse_answer(header: &str, body: &[u8]) {
    let mut builder = http::Response::builder().status(401);
    for name in ["www-authenticate", "location", "content-type"] {
        builder = builder.header(name, header);
    }
    let Ok(mut response) = builder.body(ureq::Body::builder().data(body.to_vec())) else {
        return;
    };
    let challenge = www_authenticate(&response);
    let _ = parse_challenge(&challenge);
    let _ = challenge_scopes(&challenge);
    if let Some(location) = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
    {
        let _ = path_of(location);
    }
    let _ = error_detail(&mut response);
    let _ = parse_token(body);
    let _ = serde_json::from_slice::<oci_spec::image::ImageManifest>(body);
    let _ = serde_json::from_slice::<oci_spec::image::ImageIndex>(body);
}

/// The path part of a target, for messages (an upload location's query holds its state).
fn path_of(target: &str) -> String {
    let without_scheme = target
        .strip_prefix("https://")
        .or_else(|| target.strip_prefix("http://"))
        .map(|rest| rest.find('/').map_or("/", |i| &rest[i..]))
        .unwrap_or(target);
    without_scheme
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The registry's error codes and messages from an error body, reading no more than
/// [`ERROR_BODY_LIMIT`] of it.
fn error_detail(response: &mut Response) -> String {
    let mut bytes = Vec::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_end(&mut bytes);
    error_detail_of(&bytes)
}

/// `a=b&c=d` with each value percent-encoded.
fn encode_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes all but RFC 3986's unreserved characters.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_for_messages_drop_state() {
        assert_eq!(
            path_of("http://h:5000/v2/app/blobs/uploads/abc?_state=secret&digest=x"),
            "/v2/app/blobs/uploads/abc"
        );
        assert_eq!(path_of("/v2/app/manifests/v1"), "/v2/app/manifests/v1");
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            encode_query(&[("scope", "repository:a/b:pull,push"), ("service", "x y")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&service=x%20y"
        );
    }
}
