//! Registry credentials, found where users' tools already keep them.
//!
//! The files are read in the order podman and skopeo read them: `REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`, then Docker's
//! `$DOCKER_CONFIG/config.json` (`~/.docker/config.json`). In each, a `credHelpers` entry for
//! the registry wins, then an `auths` entry, then the `credsStore` helper; a helper is the
//! `docker-credential-NAME` program, asked with `get` and the registry on its stdin.
//!
//! Secrets never reach a message: [`Credentials`] prints as the user name and where it came from.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::RegistryError;
use crate::exec::{Cmd, ExecError};
use crate::ui::Ui;

/// A user name and its secret, and where they were found.
#[derive(Clone)]
pub struct Credentials {
    /// The user name (`<token>` for an identity token).
    pub username: String,
    /// The password, or an identity (refresh) token.
    pub secret: Secret,
    /// The file or helper they came from, for messages.
    pub from: String,
}

/// What a credential's secret is.
#[derive(Clone)]
pub enum Secret {
    /// A password (or a registry token used as one).
    Password(String),
    /// An OAuth2 refresh token, traded at the token endpoint (`identitytoken`).
    IdentityToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user `{}` from {}", self.username, self.from)
    }
}

impl Credentials {
    /// The `Authorization: Basic …` value for these credentials.
    pub fn basic(&self) -> String {
        let password = match &self.secret {
            Secret::Password(p) | Secret::IdentityToken(p) => p,
        };
        let pair = format!("{}:{password}", self.username);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// The result of looking for credentials: what was found, and every place looked in.
#[derive(Clone, Debug, Default)]
pub struct Lookup {
    /// The credentials, if any place had some for the registry.
    pub found: Option<Credentials>,
    /// The files and helpers asked, in order.
    pub searched: Vec<String>,
}

/// The auth files, in the order they are read.
pub fn auth_files() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = env("HOME");
    let mut files = Vec::new();
    files.extend(env("REGISTRY_AUTH_FILE"));
    if let Some(runtime) = env("XDG_RUNTIME_DIR") {
        files.push(runtime.join("containers/auth.json"));
    }
    if let Some(config) =
        env("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")))
    {
        files.push(config.join("containers/auth.json"));
    }
    match env("DOCKER_CONFIG") {
        Some(dir) => files.push(dir.join("config.json")),
        None => files.extend(home.map(|h| h.join(".docker/config.json"))),
    }
    files
}

/// One auth file: Docker's config.json and containers' auth.json share this shape.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// Finds credentials for `registry` (`HOST[:PORT]`, `docker.io` for Docker Hub).
pub fn lookup(registry: &str, ui: &Ui) -> Result<Lookup, RegistryError> {
    lookup_in(registry, &auth_files(), ui)
}

/// [`lookup`] over the given files.
pub fn lookup_in(registry: &str, files: &[PathBuf], ui: &Ui) -> Result<Lookup, RegistryError> {
    let mut result = Lookup::default();
    for path in files {
        result.searched.push(path.display().to_string());
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(RegistryError::AuthFile {
                    path: path.clone(),
                    detail: source.to_string(),
                });
            }
        };
        let file: AuthFile =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::AuthFile {
                path: path.clone(),
                detail: format!("not valid JSON: {e}"),
            })?;
        let entry = file
            .auths
            .iter()
            .find(|(key, _)| auth_key_matches(key, registry))
            .map(|(_, entry)| entry);
        let found = match (file.cred_helpers.get(registry), entry) {
            (Some(helper), _) => ask_helper(helper, registry, &mut result.searched, ui)?,
            (None, Some(entry)) => from_entry(entry, path)?,
            (None, None) => None,
        };
        // Docker's credsStore answers for registries its file has no credentials for.
        let found = match (found, &file.creds_store) {
            (None, Some(store)) => ask_helper(store, registry, &mut result.searched, ui)?,
            (found, _) => found,
        };
        if found.is_some() {
            result.found = found;
            return Ok(result);
        }
    }
    Ok(result)
}

/// Whether an `auths` key names `registry`: keys may carry a scheme and a path
/// (`https://index.docker.io/v1/`), and Docker Hub has several names.
fn auth_key_matches(key: &str, registry: &str) -> bool {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let hub = |h: &str| matches!(h, "docker.io" | "index.docker.io" | "registry-1.docker.io");
    host == registry || (hub(host) && hub(registry))
}

fn from_entry(entry: &AuthEntry, path: &Path) -> Result<Option<Credentials>, RegistryError> {
    let from = path.display().to_string();
    let bad = |detail: &str| RegistryError::AuthFile {
        path: path.to_owned(),
        detail: detail.to_string(),
    };
    let (username, password) = match (&entry.auth, &entry.username, &entry.password) {
        (Some(auth), _, _) if !auth.is_empty() => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("an `auth` value is not base64"))?;
            let text =
                String::from_utf8(decoded).map_err(|_| bad("an `auth` value is not UTF-8"))?;
            let (user, password) = text
                .split_once(':')
                .ok_or_else(|| bad("an `auth` value is not `user:password`"))?;
            (user.to_string(), password.to_string())
        }
        (_, Some(user), Some(password)) => (user.clone(), password.clone()),
        _ => (String::new(), String::new()),
    };
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials {
            username,
            secret: Secret::IdentityToken(token.clone()),
            from,
        }));
    }
    if username.is_empty() {
        // Docker writes `{}` for a registry whose secret is in the credsStore.
        return Ok(None);
    }
    Ok(Some(Credentials {
        username,
        secret: Secret::Password(password),
        from,
    }))
}

/// What a credential helper prints for `get`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// Asks `docker-credential-<helper> get` for `registry`; `None` when it has nothing.
fn ask_helper(
    helper: &str,
    registry: &str,
    searched: &mut Vec<String>,
    ui: &Ui,
) -> Result<Option<Credentials>, RegistryError> {
    let program = format!("docker-credential-{helper}");
    searched.push(format!("`{program}`"));
    // Docker Hub's entry in helpers is its v1 index URL.
    let server = if auth_key_matches(registry, "docker.io") {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    };
    let cmd = Cmd::new(format!("credential helper `{program}`"), &program)
        .arg("get")
        .stdin(server.into_bytes());
    let output = match cmd.capture(ui) {
        Ok(output) => output,
        // Helpers say "credentials not found" with a failing status when they have nothing.
        Err(ExecError::Failed { .. }) => return Ok(None),
        Err(source) => return Err(RegistryError::Helper { source }),
    };
    let answer: HelperAnswer =
        serde_json::from_str(&output).map_err(|_| RegistryError::AuthFile {
            path: PathBuf::from(&program),
            detail: "its answer is not the JSON a credential helper prints".into(),
        })?;
    let secret = if answer.username == "<token>" {
        Secret::IdentityToken(answer.secret)
    } else {
        Secret::Password(answer.secret)
    };
    Ok(Some(Credentials {
        username: answer.username,
        secret,
        from: format!("`{program}`"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, json: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, json).unwrap();
        path
    }

    #[test]
    fn reads_auths_in_order_and_matches_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(
            dir.path(),
            "auth.json",
            r#"{"auths":{"other.example":{"auth":"eDp5"}}}"#,
        );
        // "alice:s3cret" in base64.
        let second = write(
            dir.path(),
            "config.json",
            r#"{"auths":{"https://reg.example:5000/v2/":{"auth":"YWxpY2U6czNjcmV0"},
                "https://index.docker.io/v1/":{"username":"bob","password":"pw"}}}"#,
        );
        let missing = dir.path().join("missing.json");
        let files = [missing.clone(), first.clone(), second.clone()];
        let ui = Ui::default();

        let found = lookup_in("reg.example:5000", &files, &ui).unwrap();
        let creds = found.found.unwrap();
        assert_eq!(creds.username, "alice");
        assert_eq!(creds.basic(), "Basic YWxpY2U6czNjcmV0");
        assert_eq!(found.searched.len(), 3);
        assert!(!format!("{creds:?}").contains("s3cret"));

        let hub = lookup_in("docker.io", &files, &ui).unwrap().found.unwrap();
        assert_eq!(hub.username, "bob");

        let none = lookup_in("nowhere.example", &files, &ui).unwrap();
        assert!(none.found.is_none());
        assert_eq!(
            none.searched,
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_broken_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let bad = write(dir.path(), "config.json", "{not json");
        let err = lookup_in("r.example", std::slice::from_ref(&bad), &Ui::default()).unwrap_err();
        assert!(
            err.to_string().contains(&bad.display().to_string()),
            "{err}"
        );
        let bad = write(
            dir.path(),
            "auth.json",
            r#"{"auths":{"r.example":{"auth":"!!"}}}"#,
        );
        let err = lookup_in("r.example", &[bad], &Ui::default()).unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
    }
}
