//! A misbehaving HTTP server on 127.0.0.1, for the registry tests: every request goes to one
//! handler, which answers as a broken or hostile registry would. It is stopped when dropped;
//! handlers that stall poll [`Conn::stopped`] so they end with it.
//!
//! Also a TCP proxy to a real registry that injects faults at exact points (refuse the first K
//! connections, cut an upload after N bytes), so a test of a fault never depends on timing.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the handler sees it.
pub struct Conn {
    /// The request line's method.
    pub method: String,
    /// The request line's path, query included.
    pub path: String,
    /// Request body bytes not read yet.
    body_left: usize,
    stream: TcpStream,
    stop: Arc<AtomicBool>,
}

impl Conn {
    /// Writes bytes; false once the client is gone.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok() && self.stream.flush().is_ok()
    }

    /// A whole answer with a body and its length.
    pub fn answer(&mut self, status: &str, headers: &[(&str, &str)], body: &[u8]) -> bool {
        let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.send(head.as_bytes()) && self.send(body)
    }

    /// The request body's bytes not read yet.
    pub fn body_left(&self) -> usize {
        self.body_left
    }

    /// Reads and drops the request body; false if the client went away.
    pub fn read_body(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        while self.body_left > 0 && !self.stopped() {
            match self.stream.read(&mut buf[..self.body_left.min(8192)]) {
                Ok(0) => return false,
                Ok(n) => self.body_left -= n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(_) => return false,
            }
        }
        true
    }

    /// The server's own `127.0.0.1:PORT` (for a realm that points back at it).
    pub fn host(&self) -> String {
        self.stream.local_addr().unwrap().to_string()
    }

    /// Whether the server is being stopped.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Waits until the server stops (a stall that never ends on its own).
    pub fn stall(&self) {
        while !self.stopped() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

type Handler = dyn Fn(&mut Conn) + Send + Sync;

/// The server; stopped when dropped.
pub struct Hostile {
    /// `127.0.0.1:PORT`.
    pub host: String,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Hostile {
    /// Starts a server whose every request goes to `handler`. A TLS hello is answered as a
    /// plain-HTTP server answers one (a 400, then close), so a client falls back to HTTP.
    pub fn start(handler: impl Fn(&mut Conn) + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut threads = Vec::new();
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (stop, handler) = (stop.clone(), handler.clone());
                    threads.push(std::thread::spawn(move || serve(stream, stop, &*handler)));
                }
                for t in threads {
                    let _ = t.join();
                }
            })
        };
        Hostile {
            host: addr.to_string(),
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Serves the requests of one connection until the client or the handler closes it.
fn serve(mut stream: TcpStream, stop: Arc<AtomicBool>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match stream.read(&mut byte) {
                Ok(0) => return,
                Ok(_) => head.push(byte[0]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock) => continue,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut) => continue,
                Err(_) => return,
            }
            if head == [0x16] {
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut words = text.split_whitespace();
        let method = words.next().unwrap_or_default().to_string();
        let path = words.next().unwrap_or_default().to_string();
        let length: usize = text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let mut conn = Conn {
            method,
            path,
            body_left: length,
            stream: clone,
            stop: stop.clone(),
        };
        handler(&mut conn);
        // A request body the handler left (a manifest, an upload) is read and dropped.
        if conn.stopped() || !conn.read_body() {
            return;
        }
    }
}

/// A registry's `GET /v2/` answer: 200, nothing asked.
pub fn api_ok(conn: &mut Conn) -> bool {
    if conn.path == "/v2/" {
        conn.answer("200 OK", &[], b"{}");
        return true;
    }
    false
}

/// A TCP proxy in front of `upstream` that refuses (accepts and closes) the first `refuse`
/// connections, then forwards; with `cut_after`, it stops forwarding a connection's client
/// bytes after that many and closes it, once a request body has begun.
pub struct Proxy {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Connections refused so far.
    pub refused: Arc<AtomicUsize>,
    /// Set once a connection was cut.
    pub cut: Arc<AtomicBool>,
    _server: Hostile,
}

impl Proxy {
    /// Starts it.
    pub fn start(upstream: &str, refuse: usize, cut_after: Option<(&'static str, usize)>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let refused = Arc::new(AtomicUsize::new(0));
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_string();
        let accept = {
            let (refused, cut, stop) = (refused.clone(), cut.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = stream else { continue };
                    if refused.load(Ordering::SeqCst) < refuse {
                        refused.fetch_add(1, Ordering::SeqCst);
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&upstream) else {
                        continue;
                    };
                    let cut = cut.clone();
                    std::thread::spawn(move || forward(client, server, cut_after, &cut));
                }
            })
        };
        Proxy {
            host: addr.to_string(),
            refused,
            cut,
            _server: Hostile {
                host: addr.to_string(),
                addr,
                stop,
                accept: Some(accept),
            },
        }
    }
}

/// Copies both ways; once the client has sent `cut_after.0` (a request line's start), at most
/// `cut_after.1` more bytes go to the server, then both sides are closed.
fn forward(
    mut client: TcpStream,
    mut server: TcpStream,
    cut_after: Option<(&'static str, usize)>,
    cut: &AtomicBool,
) {
    let (mut client_r, mut server_w) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server, &mut client);
        let _ = client.shutdown(Shutdown::Both);
    });
    // The last bytes seen, to find the marker across reads.
    let mut window: Vec<u8> = Vec::new();
    // Bytes allowed through once the marker was seen.
    let mut allowed: Option<usize> = None;
    let mut buf = [0u8; 4096];
    loop {
        let n = match client_r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = &buf[..n];
        if let (None, Some((marker, limit))) = (allowed, cut_after) {
            window.extend_from_slice(chunk);
            if let Some(at) = window
                .windows(marker.len())
                .position(|w| w == marker.as_bytes())
            {
                // The bytes of this read from the marker on count against the limit.
                let from_marker = window.len() - at;
                let before = chunk.len().saturating_sub(from_marker);
                if server_w.write_all(&chunk[..before]).is_err() {
                    break;
                }
                chunk = &chunk[before..];
                allowed = Some(limit);
            } else {
                let keep = window.len().saturating_sub(marker.len());
                window.drain(..keep);
            }
        }
        if let Some(left) = allowed.as_mut() {
            if chunk.len() >= *left {
                let _ = server_w.write_all(&chunk[..*left]);
                cut.store(true, Ordering::SeqCst);
                break;
            }
            *left -= chunk.len();
        }
        if server_w.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = server_w.shutdown(Shutdown::Both);
    let _ = client_r.shutdown(Shutdown::Both);
    let _ = back.join();
}
