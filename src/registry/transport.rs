//! The HTTP transport under a [`Client`](super::Client): the agent (TLS roots, insecure
//! registries), the deadlines every request runs under, which failures are worth another try,
//! and the readers that watch a body's progress.
//!
//! Deadlines derive from one value, the request deadline `T` (`--registry-timeout`, default
//! 60 s), so that a registry that accepts and never answers, or answers and then stalls, fails
//! within `T`:
//!
//! - connect (with DNS and TLS): `min(10 s, T)`;
//! - idle: no byte read or written for `min(30 s, T)` on any socket operation, headers or body;
//! - answer: the response headers within `T` of the request being sent;
//! - whole request, for every request but a blob's body (documents, tokens, uploads' control
//!   requests): `T` from the first attempt, retries included;
//! - a blob's body (a layer `GET`, an upload `PUT`) may take as long as it needs at no less than
//!   [`MIN_RATE`] on average, checked from `T` on: a sound registry on a slow link passes, one
//!   that drips a byte at a time fails after `T`.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The request deadline when none is set, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// The longest a connection (with DNS and TLS) may take.
const CONNECT: Duration = Duration::from_secs(10);
/// The longest a socket may go without a byte moving.
const IDLE: Duration = Duration::from_secs(30);
/// The slowest average a blob's body may move at, once the request deadline has passed
/// (16 KiB/s, well under any link that can carry an image).
pub const MIN_RATE: u64 = 16 << 10;

/// How many times a request is tried before its failure is reported.
pub(super) const ATTEMPTS: u32 = 4;
/// The first pause between attempts; it doubles each time (0.25 s, 0.5 s, 1 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// How long a registry may take: every deadline derives from the request deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// The whole-request deadline (`--registry-timeout`).
    pub request: Duration,
}

impl Default for Deadlines {
    fn default() -> Deadlines {
        Deadlines {
            request: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        }
    }
}

impl Deadlines {
    /// Deadlines for a request deadline of `secs` seconds.
    pub fn from_secs(secs: u64) -> Deadlines {
        Deadlines {
            request: Duration::from_secs(secs),
        }
    }

    /// The connect deadline: `min(10 s, request)`.
    pub fn connect(&self) -> Duration {
        CONNECT.min(self.request)
    }

    /// The idle deadline: `min(30 s, request)`.
    pub fn idle(&self) -> Duration {
        IDLE.min(self.request)
    }
}

/// Which deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadlineKind {
    /// No connection (DNS, TCP, TLS) in time.
    Connect,
    /// No response headers in time after the request was sent.
    Answer,
    /// No byte moved in time, in the middle of a request or an answer.
    Idle,
    /// The whole request (retries included) did not finish in time.
    Whole,
    /// A blob's body moved slower than [`MIN_RATE`] on average.
    Pace {
        /// The bytes that had moved.
        bytes: u64,
    },
}

/// A deadline that passed during one request, carried inside an `io::Error` when it passes
/// while a body is read.
#[derive(Clone, Debug)]
pub struct Deadline {
    /// Which one.
    pub kind: DeadlineKind,
    /// Its value (for [`DeadlineKind::Pace`], the time taken).
    pub after: Duration,
    /// The request's method.
    pub method: String,
    /// The request's path, without its query.
    pub path: String,
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {:?} deadline", self.method, self.path, self.kind)
    }
}

impl std::error::Error for Deadline {}

impl Deadline {
    /// The deadline a ureq timeout stands for, if it is one.
    pub(super) fn of_ureq(
        error: &ureq::Error,
        deadlines: &Deadlines,
        method: &str,
        path: &str,
    ) -> Option<Deadline> {
        use ureq::Timeout as T;
        let ureq::Error::Timeout(timeout) = error else {
            return None;
        };
        let (kind, after) = match timeout {
            T::Connect | T::Resolve => (DeadlineKind::Connect, deadlines.connect()),
            T::SendRequest | T::RecvResponse | T::Await100 => {
                (DeadlineKind::Answer, deadlines.request)
            }
            T::PerRead | T::PerWrite => (DeadlineKind::Idle, deadlines.idle()),
            _ => (DeadlineKind::Whole, deadlines.request),
        };
        Some(Deadline {
            kind,
            after,
            method: method.to_string(),
            path: path.to_string(),
        })
    }

    /// The deadline an I/O error from a body carries, if any.
    pub(super) fn of_io(error: &io::Error) -> Option<&Deadline> {
        error.get_ref()?.downcast_ref::<Deadline>()
    }
}

/// The pause after failed attempt `attempt` (1-based): 0.25 s, doubling each time.
pub fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF * 2u32.pow(attempt.saturating_sub(1))
}

/// Whether a failure may pass if tried again: a dropped or refused connection, a timeout
/// (retried only while the request's budget lasts).
pub(super) fn is_transient(error: &ureq::Error) -> bool {
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

/// Checks that a blob's body keeps at least [`MIN_RATE`] on average once `grace` has passed.
pub(super) struct Pace {
    started: Instant,
    grace: Duration,
    moved: u64,
}

impl Pace {
    pub(super) fn new(grace: Duration) -> Pace {
        Pace {
            started: Instant::now(),
            grace,
            moved: 0,
        }
    }

    /// Counts `n` bytes; `Err` with the time taken when the average fell below [`MIN_RATE`].
    fn count(&mut self, n: usize) -> Result<(), (u64, Duration)> {
        self.moved += n as u64;
        let elapsed = self.started.elapsed();
        if elapsed > self.grace && (self.moved as f64) < MIN_RATE as f64 * elapsed.as_secs_f64() {
            return Err((self.moved, elapsed));
        }
        Ok(())
    }
}

/// A response body's reader that turns a deadline into a [`Deadline`] naming the request, and
/// holds a blob's body to [`MIN_RATE`].
pub(super) struct Watched<R> {
    pub(super) inner: R,
    pub(super) deadlines: Deadlines,
    pub(super) method: &'static str,
    pub(super) path: String,
    /// Set for a blob's body.
    pub(super) pace: Option<Pace>,
}

impl<R> Watched<R> {
    fn deadline(&self, kind: DeadlineKind, after: Duration) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            Deadline {
                kind,
                after,
                method: self.method.to_string(),
                path: self.path.clone(),
            },
        )
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                let timeout = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                    .and_then(|u| Deadline::of_ureq(u, &self.deadlines, self.method, &self.path));
                return Err(match timeout {
                    Some(d) => self.deadline(d.kind, d.after),
                    None if e.kind() == io::ErrorKind::TimedOut => {
                        self.deadline(DeadlineKind::Idle, self.deadlines.idle())
                    }
                    None => e,
                });
            }
        };
        if let Some(pace) = &mut self.pace
            && let Err((bytes, elapsed)) = pace.count(n)
        {
            return Err(self.deadline(DeadlineKind::Pace { bytes }, elapsed));
        }
        Ok(n)
    }
}

/// A request body's reader that reports how many bytes pass (for progress bars) and holds the
/// upload to [`MIN_RATE`]: a registry that takes a byte at a time fails the upload.
pub(super) struct Counted<'a, R> {
    pub(super) inner: R,
    pub(super) on_bytes: &'a (dyn Fn(u64) + Sync),
    pub(super) pace: Pace,
    pub(super) method: &'static str,
    pub(super) path: String,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on_bytes)(n as u64);
        if let Err((bytes, after)) = self.pace.count(n) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                Deadline {
                    kind: DeadlineKind::Pace { bytes },
                    after,
                    method: self.method.to_string(),
                    path: self.path.clone(),
                },
            ));
        }
        Ok(n)
    }
}

/// The HTTP agent for `host`: statuses are answers, not errors; TLS verified against the
/// host's roots and the registry's own `certs.d` CAs, unless the registry is insecure; the
/// connect, idle and answer deadlines set (the whole-request one is set per request).
pub(super) fn agent(host: &str, insecure: bool, deadlines: &Deadlines) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(root_certs(host))
        .disable_verification(insecure)
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .user_agent(concat!("static-image/", env!("CARGO_PKG_VERSION")))
        .timeout_resolve(Some(deadlines.connect()))
        .timeout_connect(Some(deadlines.connect()))
        .timeout_per_read(Some(deadlines.idle()))
        .timeout_per_write(Some(deadlines.idle()))
        .timeout_recv_response(Some(deadlines.request))
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
    fn deadlines_derive_from_the_request_deadline() {
        let default = Deadlines::default();
        assert_eq!(default.request, Duration::from_secs(60));
        assert_eq!(default.connect(), Duration::from_secs(10));
        assert_eq!(default.idle(), Duration::from_secs(30));
        let short = Deadlines::from_secs(2);
        assert_eq!(short.connect(), Duration::from_secs(2));
        assert_eq!(short.idle(), Duration::from_secs(2));
    }

    #[test]
    fn a_body_slower_than_the_minimum_rate_fails_after_the_grace() {
        let mut pace = Pace::new(Duration::ZERO);
        pace.started -= Duration::from_secs(10);
        // 10 s at 16 KiB/s is 160 KiB; 100 KiB is too slow, 200 KiB is fine.
        assert_eq!(pace.count(100 << 10).map_err(|e| e.0), Err(100 << 10));
        let mut pace = Pace::new(Duration::ZERO);
        pace.started -= Duration::from_secs(10);
        assert!(pace.count(200 << 10).is_ok());
        let mut within_grace = Pace::new(Duration::from_secs(60));
        assert!(within_grace.count(1).is_ok());
    }
}
