//! A certificate authority and an HTTPS server on 127.0.0.1, made in the test with `openssl`
//! and Python's `http.server`, for clients in images to trust or not.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::run::tool;

/// A CA and a server certificate for `IP:127.0.0.1` signed by it.
pub struct TestCa {
    /// The CA certificate (what a client must trust).
    pub cert_pem: PathBuf,
    /// The server's certificate.
    pub server_cert: PathBuf,
    /// The server's key.
    pub server_key: PathBuf,
}

impl TestCa {
    /// Makes the CA and the server certificate in `dir`.
    pub fn new(dir: &Path) -> TestCa {
        fs::create_dir_all(dir).expect("ca dir");
        let p = |name: &str| dir.join(name).display().to_string();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec![
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=static-image test CA",
        ];
        ca.extend(ec);
        let (ca_key, ca_pem) = (p("ca.key"), p("ca.pem"));
        ca.extend([
            "-keyout",
            &ca_key,
            "-out",
            &ca_pem,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        tool("openssl", &ca);
        let (key, csr, cert, ext) = (
            p("server.key"),
            p("server.csr"),
            p("server.pem"),
            p("ext.cnf"),
        );
        let mut req = vec![
            "req",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &csr,
        ];
        req.extend(ec);
        tool("openssl", &req);
        fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        )
        .expect("ext");
        tool(
            "openssl",
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &cert,
                "-extfile",
                &ext,
            ],
        );
        TestCa {
            cert_pem: ca_pem.into(),
            server_cert: cert.into(),
            server_key: key.into(),
        }
    }
}

/// An HTTPS server on 127.0.0.1 serving one file; stopped when dropped.
pub struct TlsServer {
    child: Child,
    port: u16,
    body_len: usize,
}

/// The server: Python's file server behind TLS, printing its port once listening.
const SERVER: &str = r#"
import functools, http.server, ssl, sys
cert, key, root = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
"#;

impl TlsServer {
    /// Serves a 1,400-byte `index.html` from `root` with `ca`'s server certificate.
    pub fn start(ca: &TestCa, root: &Path) -> TlsServer {
        fs::create_dir_all(root).expect("www");
        let body = "static-image served this over TLS\n".repeat(40);
        fs::write(root.join("index.html"), &body).expect("body");
        let mut child = Command::new("python3")
            .args(["-c", SERVER])
            .arg(&ca.server_cert)
            .arg(&ca.server_key)
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("port line");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the TLS server did not start (printed {line:?})")
        });
        let server = TlsServer {
            child,
            port,
            body_len: body.len(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the TLS server never accepted on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/index.html", self.port)
    }

    /// The length of the body it serves.
    pub fn body_len(&self) -> usize {
        self.body_len
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
