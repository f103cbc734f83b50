//! Registries: the OCI distribution protocol (distribution-spec `spec.md`), to push images
//! (`--output docker://…`) and pull bases (`--base docker://…`).
//!
//! A [`Client`] talks to one repository of one registry. It first asks `GET /v2/` (the spec's
//! "end-1"), which tells whether the registry wants credentials and how: `Basic`, or `Bearer`
//! through a token service named in the `WWW-Authenticate` challenge (distribution's
//! `token.md`). Credentials come from the files users' tools already write ([`auth`]).
//!
//! Every request is retried with backoff on 429, 5xx and dropped connections, except a blob's
//! upload `PUT`, which the pusher retries from a fresh upload session. TLS is verified against
//! the host's CA bundle (or `SSL_CERT_FILE`) plus `certs.d/HOST[:PORT]/*.crt` as Docker and
//! podman read them; `--insecure HOST` allows unverified TLS and plain HTTP for that registry
//! only.

pub mod auth;
mod reference;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::http;

pub use reference::Reference;

use crate::exec::ExecError;
use crate::ui::Ui;

/// How many times a request is tried before its failure is reported.
const ATTEMPTS: u32 = 4;
/// The first pause between attempts; it doubles each time (0.25 s, 0.5 s, 1 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The most of an error body quoted in a message.
const ERROR_BODY_LIMIT: u64 = 4096;
/// The most a JSON document (manifest, index, token answer) may be.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// Settings shared by every registry a run talks to.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Registries (`HOST[:PORT]`) allowed plain HTTP and unverified TLS.
    pub insecure: Vec<String>,
    /// The largest blob an image read may claim (`--max-blob-size`).
    pub max_blob_size: crate::image::base::MaxBlobSize,
}

/// Why talking to a registry failed. No variant holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached, or the connection dropped, after every retry.
    #[error(
        "cannot reach registry `{registry}` ({method} {url}){}",
        tls_hint(source)
    )]
    Unreachable {
        /// `HOST[:PORT]`.
        registry: String,
        /// The request's method.
        method: String,
        /// The URL asked.
        url: String,
        /// The transport's error (boxed: it is large, and errors travel by value).
        #[source]
        source: Box<ureq::Error>,
    },
    /// The registry answered with a status that is not the expected one.
    #[error("registry `{registry}` answered {method} {path} with HTTP {status}{detail}")]
    Status {
        /// `HOST[:PORT]`.
        registry: String,
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The registry's own error codes and messages, if it sent any.
        detail: String,
    },
    /// The registry refused the request for want of (valid) credentials.
    #[error("{}", denied_message(registry, *status, user.as_deref(), from.as_deref(), searched))]
    Denied {
        /// `HOST[:PORT]`.
        registry: String,
        /// 401 or 403.
        status: u16,
        /// The user whose credentials were refused, if any were sent.
        user: Option<String>,
        /// Where those credentials came from.
        from: Option<String>,
        /// Every place credentials were looked for.
        searched: Vec<String>,
    },
    /// The registry's token service failed.
    #[error("the token service `{realm}` of registry `{registry}` {detail}")]
    Token {
        /// `HOST[:PORT]`.
        registry: String,
        /// The token service URL.
        realm: String,
        /// What went wrong.
        detail: String,
    },
    /// The registry answered in a way the protocol does not allow.
    #[error("registry `{registry}`: {detail}")]
    Protocol {
        /// `HOST[:PORT]`.
        registry: String,
        /// What is wrong.
        detail: String,
    },
    /// An auth file could not be read or parsed.
    #[error("auth file `{}`: {detail}", path.display())]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (never its secrets).
        detail: String,
    },
    /// A credential helper could not be run.
    #[error("cannot ask a credential helper")]
    Helper {
        /// Why.
        #[source]
        source: ExecError,
    },
    /// A blob to upload could not be read.
    #[error("cannot read `{}` to upload it", path.display())]
    ReadBlob {
        /// The staged blob.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn denied_message(
    registry: &str,
    status: u16,
    user: Option<&str>,
    from: Option<&str>,
    searched: &[String],
) -> String {
    let what = if status == 403 {
        "denied access"
    } else {
        "refused"
    };
    match (user, from) {
        (Some(user), Some(from)) => format!(
            "registry `{registry}` {what} (HTTP {status}) to user `{user}`, whose credentials \
             came from {from}"
        ),
        _ => format!(
            "registry `{registry}` {what} (HTTP {status}) without credentials; none were found \
             for it in: {}",
            if searched.is_empty() {
                "no file (set REGISTRY_AUTH_FILE or DOCKER_CONFIG)".to_string()
            } else {
                searched.join(", ")
            }
        ),
    }
}

fn tls_hint(source: &ureq::Error) -> &'static str {
    let tls = match source {
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => true,
        // rustls reports through io::Error as InvalidData (a plain-HTTP answer, a bad cert).
        ureq::Error::Io(e) => e.kind() == io::ErrorKind::InvalidData,
        _ => false,
    };
    if tls {
        "; TLS failed: if its certificate is from a private CA, add the CA to \
         `/etc/containers/certs.d/HOST:PORT/ca.crt` or SSL_CERT_FILE; if it speaks plain HTTP \
         or is trusted as it is, allow it with `--insecure HOST:PORT`"
    } else {
        ""
    }
}

impl RegistryError {
    /// What a user can do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            RegistryError::Denied { registry, .. } => Some(format!(
                "log in with `skopeo login {registry}` or `docker login {registry}`, or point \
                 REGISTRY_AUTH_FILE at an auth.json holding credentials for it"
            )),
            _ => None,
        }
    }
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

/// How the registry wants to be authenticated, learnt from its challenge.
#[derive(Clone, Debug)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// A connection to one repository of one registry.
pub struct Client {
    /// `HOST[:PORT]` as named: the key for credentials and messages.
    registry: String,
    /// `https://HOST[:PORT]` (or `http://` for an insecure registry that speaks no TLS).
    base: String,
    agent: ureq::Agent,
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
        reference: &Reference,
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
            agent: agent(host, insecure),
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
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.dropped(e))?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Err(RegistryError::Protocol {
                registry: self.registry.clone(),
                detail: format!("a document is larger than {MAX_DOCUMENT} bytes"),
            });
        }
        Ok(bytes)
    }

    /// A connection that dropped while a body was read.
    pub fn dropped(&self, source: io::Error) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.registry.clone(),
            method: "GET".into(),
            url: self.base.clone(),
            source: Box::new(ureq::Error::Io(source)),
        }
    }

    fn send_raw(&self, request: &Request<'_>, follow_401: bool) -> Result<Response, RegistryError> {
        let mut attempt = 1;
        let mut reauthenticated = !follow_401;
        loop {
            let result = self.send_once(request);
            let transient = match &result {
                Err(e) => is_transient(e),
                Ok(r) => r.status().as_u16() == 429 || r.status().is_server_error(),
            };
            if transient && request.retry && attempt < ATTEMPTS {
                let pause = backoff(attempt);
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
            let response = result.map_err(|source| RegistryError::Unreachable {
                registry: self.registry.clone(),
                method: request.method.to_string(),
                url: self.url(&request.target),
                source: Box::new(source),
            })?;
            if response.status().as_u16() == 401 && !reauthenticated {
                reauthenticated = true;
                let challenge = self.challenge(&response)?;
                // The challenge may name a scope beyond ours (a mount's source).
                let extra = scope_of(&response);
                self.authenticate(&challenge, &extra)?;
                continue;
            }
            return Ok(response);
        }
    }

    fn send_once(&self, request: &Request<'_>) -> Result<Response, ureq::Error> {
        let url = self.url(&request.target);
        self.ui.verbose(format_args!("> {} {url}", request.method));
        let mut builder = http::Request::builder().method(request.method).uri(&url);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some(auth) = self.current_authorization() {
            builder = builder.header("Authorization", auth);
        }
        match &request.body {
            Body::Empty => {
                let needs_length = matches!(request.method, "POST" | "PUT");
                if needs_length {
                    builder = builder.header("Content-Length", "0");
                }
                self.agent.run(builder.body(())?)
            }
            Body::Bytes(bytes) => {
                let mut reader: &[u8] = bytes;
                let body = ureq::SendBody::from_reader(&mut reader);
                let request = builder
                    .header("Content-Length", bytes.len().to_string())
                    .body(body)?;
                self.agent.run(request)
            }
            Body::File {
                path,
                size,
                on_bytes,
            } => {
                let file = std::fs::File::open(path)?;
                let mut reader = Counted {
                    inner: file.take(*size),
                    on_bytes: *on_bytes,
                };
                let body = ureq::SendBody::from_reader(&mut reader);
                let request = builder
                    .header("Content-Length", size.to_string())
                    .body(body)?;
                self.agent.run(request)
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

    fn current_authorization(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The credentials for this registry, looked for once.
    fn credentials(&self) -> Result<&auth::Lookup, RegistryError> {
        if let Some(lookup) = self.credentials.get() {
            return Ok(lookup);
        }
        let lookup = auth::lookup(&self.registry, &self.ui)?;
        Ok(self.credentials.get_or_init(|| lookup))
    }

    /// A refusal; `sent` says whether our credentials went with the request (directly, or to
    /// the token service).
    fn denied(&self, status: u16, sent: bool) -> RegistryError {
        let lookup = match self.credentials() {
            Ok(lookup) => lookup,
            Err(e) => return e,
        };
        let creds = lookup.found.as_ref().filter(|_| sent);
        RegistryError::Denied {
            registry: self.registry.clone(),
            status,
            user: creds.map(|c| c.username.clone()),
            from: creds.map(|c| c.from.clone()),
            searched: lookup.searched.clone(),
        }
    }

    /// The scheme a 401 asks for.
    fn challenge(&self, response: &Response) -> Result<Challenge, RegistryError> {
        let header = www_authenticate(response);
        let challenges =
            http_auth::parse_challenges(&header).map_err(|e| RegistryError::Protocol {
                registry: self.registry.clone(),
                detail: format!("its `WWW-Authenticate: {header}` does not parse: {e}"),
            })?;
        let param = |c: &http_auth::ChallengeRef<'_>, name: &str| {
            c.params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_unescaped())
        };
        // Bearer first: a registry offering both prefers tokens.
        if let Some(c) = challenges
            .iter()
            .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        {
            let realm = param(c, "realm").ok_or_else(|| RegistryError::Protocol {
                registry: self.registry.clone(),
                detail: "its Bearer challenge names no realm".into(),
            })?;
            return Ok(Challenge::Bearer {
                realm,
                service: param(c, "service"),
            });
        }
        if challenges
            .iter()
            .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
        {
            return Ok(Challenge::Basic);
        }
        Err(RegistryError::Protocol {
            registry: self.registry.clone(),
            detail: format!(
                "it asks for authentication we do not speak (`WWW-Authenticate: {header}`)"
            ),
        })
    }

    /// Sets the `Authorization` to use after a challenge: Basic from the credentials, or a
    /// token from the token service for our scopes (and `extra` ones the challenge named).
    fn authenticate(&self, challenge: &Challenge, extra: &[String]) -> Result<(), RegistryError> {
        let value = match challenge {
            Challenge::Basic => match &self.credentials()?.found {
                Some(creds) => creds.basic(),
                None => return Err(self.denied(401, false)),
            },
            Challenge::Bearer { realm, service } => {
                let mut scopes = self.scopes.clone();
                for scope in extra {
                    if !scopes.contains(scope) {
                        scopes.push(scope.clone());
                    }
                }
                format!("Bearer {}", self.token(realm, service.as_deref(), &scopes)?)
            }
        };
        *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        Ok(())
    }

    /// Asks the token service for a token (distribution `token.md`; with an identity token,
    /// the OAuth2 refresh-token grant of `oauth.md`).
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, RegistryError> {
        let fail = |detail: String| RegistryError::Token {
            registry: self.registry.clone(),
            realm: realm.to_string(),
            detail,
        };
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = service {
            query.push(("service", service));
        }
        for scope in scopes {
            query.push(("scope", scope));
        }
        let creds = self.credentials()?.found.as_ref();
        let result = match creds.map(|c| &c.secret) {
            Some(auth::Secret::IdentityToken(refresh)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                    ("client_id", "static-image"),
                ];
                form.extend(query.iter().copied());
                let body = encode_query(&form);
                let request = http::Request::post(realm)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .header("Content-Length", body.len().to_string())
                    .body(body)
                    .map_err(|e| fail(format!("cannot be asked: {e}")))?;
                self.agent.run(request)
            }
            _ => {
                let separator = if realm.contains('?') { '&' } else { '?' };
                let url = format!("{realm}{separator}{}", encode_query(&query));
                let mut request = http::Request::get(&url);
                if let Some(creds) = creds {
                    request = request.header("Authorization", creds.basic());
                }
                let request = request
                    .body(())
                    .map_err(|e| fail(format!("cannot be asked: {e}")))?;
                self.agent.run(request)
            }
        };
        let response = result.map_err(|e| fail(format!("cannot be reached: {e}")))?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 => return Err(self.denied(401, creds.is_some())),
            status => return Err(fail(format!("answered HTTP {status}"))),
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let bytes = self.read_document(response)?;
        let answer: Answer = serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("sent an answer that is not JSON: {e}")))?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| fail("sent no token".into()))
    }
}

/// The pause after failed attempt `attempt` (1-based): 0.25 s, doubling each time.
pub fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF * 2u32.pow(attempt.saturating_sub(1))
}

/// Whether a failure may pass if tried again: a dropped or refused connection, a timeout.
fn is_transient(error: &ureq::Error) -> bool {
    use io::ErrorKind::*;
    match error {
        ureq::Error::Io(e) => matches!(
            e.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | BrokenPipe
                | UnexpectedEof
                | TimedOut
                | Interrupted
                | NotConnected
        ),
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => true,
        _ => false,
    }
}

/// Every `WWW-Authenticate` header of a response, as one list of challenges.
fn www_authenticate(response: &Response) -> String {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `scope` a Bearer challenge names, if any (a mount asks for its source's pull scope).
fn scope_of(response: &Response) -> Vec<String> {
    let header = www_authenticate(response);
    let Ok(challenges) = http_auth::parse_challenges(&header) else {
        return Vec::new();
    };
    challenges
        .iter()
        .flat_map(|c| c.params.iter())
        .filter(|(k, _)| k.eq_ignore_ascii_case("scope"))
        .flat_map(|(_, v)| {
            v.to_unescaped()
                .split(' ')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
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

/// The registry's error codes and messages from an error body (`{"errors":[{code,message}]}`).
fn error_detail(response: &mut Response) -> String {
    let mut bytes = Vec::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_end(&mut bytes);
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Errors>(&bytes) {
        Ok(e) if !e.errors.is_empty() => {
            let items: Vec<String> = e
                .errors
                .iter()
                .map(|i| {
                    format!(
                        "{}: {}",
                        i.code.as_deref().unwrap_or("ERROR"),
                        i.message.as_deref().unwrap_or("")
                    )
                })
                .collect();
            format!(" ({})", items.join("; "))
        }
        _ => String::new(),
    }
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

/// A reader that reports how many bytes pass (for progress bars).
struct Counted<'a, R> {
    inner: R,
    on_bytes: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on_bytes)(n as u64);
        Ok(n)
    }
}

/// The HTTP agent for `host`: statuses are answers, not errors; TLS verified against the
/// host's roots and the registry's own `certs.d` CAs, unless the registry is insecure.
fn agent(host: &str, insecure: bool) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(root_certs(host))
        .disable_verification(insecure)
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .user_agent(concat!("static-image/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(300)))
        .build()
        .new_agent()
}

/// Roots for verifying a registry: `SSL_CERT_FILE`, else the host's bundle, else the
/// compiled-in Mozilla roots; plus `/etc/containers/certs.d/HOST/*.crt` and
/// `/etc/docker/certs.d/HOST/*.crt`, where users put a private registry's CA.
fn root_certs(host: &str) -> ureq::tls::RootCerts {
    let mut files: Vec<PathBuf> = Vec::new();
    match std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        Some(file) => files.push(file.into()),
        None => files.extend(
            crate::image::ca::HOST_BUNDLES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file()),
        ),
    }
    let have_bundle = !files.is_empty();
    for dir in ["/etc/containers/certs.d", "/etc/docker/certs.d"] {
        let Ok(entries) = std::fs::read_dir(Path::new(dir).join(host)) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        found.sort();
        files.extend(found);
    }
    let mut certs = Vec::new();
    for file in &files {
        let Ok(pem) = std::fs::read(file) else {
            continue;
        };
        for item in ureq::tls::parse_pem(&pem).flatten() {
            if let ureq::tls::PemItem::Certificate(cert) = item {
                certs.push(cert);
            }
        }
    }
    if !have_bundle && certs.is_empty() {
        return ureq::tls::RootCerts::WebPki;
    }
    if !have_bundle {
        // Mozilla's roots as well as the registry's own CA.
        certs.extend(
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()),
        );
    }
    ureq::tls::RootCerts::Specific(Arc::new(certs))
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

    #[test]
    fn denied_messages_name_the_user_or_the_places_searched() {
        let with_user = denied_message("r:1", 401, Some("alice"), Some("`/a.json`"), &[]);
        assert!(with_user.contains("user `alice`") && with_user.contains("/a.json"));
        let searched = vec!["/x/auth.json".to_string()];
        let without = denied_message("r:1", 401, None, None, &searched);
        assert!(without.contains("none were found") && without.contains("/x/auth.json"));
    }
}
