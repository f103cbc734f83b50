//! Why talking to a registry failed, worded for the user: no variant holds a secret, and a
//! deadline names itself, its value and the flag that sets it.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::exec::ExecError;

use super::transport::{DeadlineKind, MIN_RATE};

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
    /// A deadline passed: the registry did not connect, answer or move bytes in time.
    #[error("{}", deadline_message(registry, method, path, kind, *after))]
    Deadline {
        /// `HOST[:PORT]`.
        registry: String,
        /// The request's method.
        method: String,
        /// The request's path, without its query.
        path: String,
        /// Which deadline.
        kind: DeadlineKind,
        /// Its value (for a body too slow, the time taken).
        after: Duration,
    },
    /// A response body was longer than we read of its kind.
    #[error(
        "registry `{registry}` sent more than {} for {what} (answer to {method} {path}): refused",
        size_text(*limit)
    )]
    TooLarge {
        /// `HOST[:PORT]`.
        registry: String,
        /// The request's method.
        method: String,
        /// The request's path, without its query.
        path: String,
        /// What the body should have been (`a manifest or index`, `a token`).
        what: &'static str,
        /// The most read.
        limit: u64,
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
            RegistryError::Deadline { .. } => Some(
                "check that the registry is up and reachable; a registry that is sound but slow \
                 can be given longer with `--registry-timeout SECS` or \
                 STATIC_IMAGE_REGISTRY_TIMEOUT"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

fn deadline_message(
    registry: &str,
    method: &str,
    path: &str,
    kind: &DeadlineKind,
    after: Duration,
) -> String {
    let secs = after.as_secs_f64();
    let within = if after.subsec_millis() == 0 {
        format!("{} s", after.as_secs())
    } else {
        format!("{secs:.1} s")
    };
    match kind {
        DeadlineKind::Connect => format!(
            "cannot connect to registry `{registry}` for {method} {path} within {within} \
             (the connect deadline, from --registry-timeout)"
        ),
        DeadlineKind::Answer => format!(
            "registry `{registry}` sent no answer to {method} {path} within {within} \
             (--registry-timeout)"
        ),
        DeadlineKind::Idle => format!(
            "registry `{registry}` stalled for {within} in the middle of {method} {path} \
             (the idle deadline, from --registry-timeout)"
        ),
        DeadlineKind::Whole => format!(
            "registry `{registry}` did not finish {method} {path} within {within} \
             (--registry-timeout)"
        ),
        DeadlineKind::Pace { bytes } => format!(
            "registry `{registry}` moved the body of {method} {path} slower than {} on average \
             ({} in {within}); the least allowed once --registry-timeout has passed",
            format_args!("{}/s", size_text(MIN_RATE)),
            size_text(*bytes)
        ),
    }
}

/// `4 MiB`, `16 KiB`, `12 bytes`.
fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// The registry's error codes and messages from the start of an error body
/// (`{"errors":[{code,message}]}`), as ` (CODE: message; …)`, or nothing.
pub fn error_detail_of(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Errors>(bytes) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_messages_name_the_user_or_the_places_searched() {
        let with_user = denied_message("r:1", 401, Some("alice"), Some("`/a.json`"), &[]);
        assert!(with_user.contains("user `alice`") && with_user.contains("/a.json"));
        let searched = vec!["/x/auth.json".to_string()];
        let without = denied_message("r:1", 401, None, None, &searched);
        assert!(without.contains("none were found") && without.contains("/x/auth.json"));
    }

    #[test]
    fn deadline_messages_name_the_request_and_the_value() {
        let message = deadline_message(
            "r:1",
            "GET",
            "/v2/",
            &DeadlineKind::Answer,
            Duration::from_secs(10),
        );
        assert_eq!(
            message,
            "registry `r:1` sent no answer to GET /v2/ within 10 s (--registry-timeout)"
        );
        assert_eq!(size_text(4 << 20), "4 MiB");
        assert_eq!(size_text(1000), "1000 bytes");
        assert_eq!(
            error_detail_of(br#"{"errors":[{"code":"DENIED","message":"no"}]}"#),
            " (DENIED: no)"
        );
    }
}
