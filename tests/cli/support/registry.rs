//! A real registry for the tests: Debian's `docker-registry` (distribution 2.8) started on
//! 127.0.0.1 with its storage and log in the test's directory, plain or TLS, open, behind
//! htpasswd, or behind a token service (Python, signing RS256 JWTs with `openssl`); stopped when
//! dropped. Also what a client of it needs: an auth file, and an environment holding no
//! credentials but those.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::run::{Run, tool};
use super::tls::TestCa;

/// The user htpasswd and the token service accept.
pub const USER: &str = "alice";
/// That user's password.
pub const PASSWORD: &str = "correct-horse-battery";

/// How the test registry authenticates.
pub enum Auth {
    /// Open to all.
    None,
    /// Basic auth for [`USER`] and [`PASSWORD`].
    Htpasswd,
    /// Token auth: the token service's URL and its signing certificate.
    Token {
        /// Where clients get a token.
        realm: String,
        /// The certificate tokens are signed with.
        cert: PathBuf,
    },
}

/// A `docker-registry` on 127.0.0.1, its storage and log in a directory; stopped when dropped.
pub struct Registry {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Registry {
    /// Starts one in `dir`, serving TLS with `tls`'s server certificate if given.
    pub fn start(dir: &Path, tls: Option<&TestCa>, auth: Auth) -> Registry {
        fs::create_dir_all(dir).unwrap();
        let mut settings = String::new();
        if let Some(ca) = tls {
            settings += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                ca.server_cert.display(),
                ca.server_key.display()
            );
        }
        match auth {
            Auth::None => {}
            Auth::Htpasswd => {
                let htpasswd = dir.join("htpasswd");
                let line = tool("htpasswd", &["-Bbn", USER, PASSWORD]);
                fs::write(&htpasswd, line).unwrap();
                settings += &format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    htpasswd.display()
                );
            }
            Auth::Token { realm, cert } => {
                settings += &format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: test-registry\n    \
                     issuer: test-issuer\n    rootcertbundle: {}\n",
                    cert.display()
                );
            }
        }
        // The port is free when asked for, but another test may take it before the registry
        // binds it: then the registry exits, and it is started again on another port.
        for _ in 0..5 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n    \
                 rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{settings}",
                dir.join("data").display()
            );
            fs::write(dir.join("config.yml"), config).unwrap();
            let mut registry = Registry {
                child: None,
                port,
                dir: dir.to_owned(),
            };
            if registry.spawn() {
                return registry;
            }
        }
        panic!(
            "docker-registry could not listen on any port:\n{}",
            read_log(dir)
        );
    }

    /// Starts the process and waits until it says it listens on its own port (a connection
    /// alone could reach another test's server); false if it exited first.
    fn spawn(&mut self) -> bool {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log.txt"))
            .unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let listening = format!("listening on 127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if self.log().contains(&listening) {
                self.child = Some(child);
                return true;
            }
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen within 15 s:\n{}",
                self.log()
            );
            // How often to look at the log; what is decided does not depend on it.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the process.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What it logged.
    pub fn log(&self) -> String {
        read_log(&self.dir)
    }

    /// How many blob uploads (`PUT …/blobs/uploads/…?digest=`) carried `digest`.
    pub fn uploads_of(&self, digest: &str) -> usize {
        let hex = digest.trim_start_matches("sha256:");
        self.log()
            .lines()
            .filter(|l| l.starts_with("127.0.0.1 - ") && l.contains("\"PUT /v2/"))
            .filter(|l| l.contains("/blobs/uploads/") && l.contains(hex))
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn read_log(dir: &Path) -> String {
    fs::read_to_string(dir.join("log.txt")).unwrap_or_default()
}

/// A registry auth file (containers' auth.json shape) for `host`.
pub fn auth_file(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = dir.join(format!("auth-{user}-{}.json", password.len()));
    fs::write(
        &path,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    path
}

/// An environment with no credentials but those the test gives.
pub fn isolated(run: Run, home: &Path) -> Run {
    run.env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("REGISTRY_AUTH_FILE", home.join("none.json"))
        .env("STATIC_IMAGE_CACHE_DIR", home.join("cache"))
}

/// The token service: `GET /token` with Basic auth answers `{"token": JWT}` granting what was
/// asked, to the right user only; it prints its port, and logs each scope asked to `argv[3]`.
pub const TOKEN_SERVICE: &str = r#"
import base64, http.server, json, subprocess, sys, time, urllib.parse, uuid
key, cert_der, log_path, user, password = sys.argv[1:6]
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401); self.end_headers(); return
        access = []
        for scope in query.get("scope", []):
            with open(log_path, "a") as log: log.write(scope + "\n")
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [cert_der]}
        claims = {"iss": "test-issuer", "sub": user, "aud": query["service"][0],
                  "exp": now + 600, "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()),
                  "access": access}
        signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                             input=signing.encode(), capture_output=True, check=True).stdout
        body = json.dumps({"token": signing + "." + b64(sig)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The token service [`TOKEN_SERVICE`] on 127.0.0.1, with its own signing key; stopped when
/// dropped.
pub struct TokenService {
    child: Child,
    port: u16,
    log: PathBuf,
    /// The certificate its tokens are signed with (the registry's `rootcertbundle`).
    pub cert: PathBuf,
}

impl TokenService {
    /// Makes the signing key and certificate in `dir` and starts the service.
    pub fn start(dir: &Path) -> TokenService {
        fs::create_dir_all(dir).unwrap();
        let (key, cert, der) = (
            dir.join("token.key"),
            dir.join("token.pem"),
            dir.join("token.der"),
        );
        let p = |p: &Path| p.display().to_string();
        tool(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=static-image test token signer",
                "-keyout",
                &p(&key),
                "-out",
                &p(&cert),
            ],
        );
        tool(
            "openssl",
            &[
                "x509",
                "-in",
                &p(&cert),
                "-outform",
                "DER",
                "-out",
                &p(&der),
            ],
        );
        use base64::Engine as _;
        let cert_der = base64::engine::general_purpose::STANDARD.encode(fs::read(&der).unwrap());
        let log = dir.join("scopes.txt");
        let mut child = Command::new("python3")
            .args(["-c", TOKEN_SERVICE])
            .args([p(&key), cert_der, p(&log), USER.into(), PASSWORD.into()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .expect("the token service prints its port");
        TokenService {
            child,
            port,
            log,
            cert,
        }
    }

    /// The URL a registry sends clients to for a token.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// Every scope asked for so far, one a line.
    pub fn scopes(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
