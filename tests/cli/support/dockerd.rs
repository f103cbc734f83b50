//! A private Docker daemon: its own data root, exec root, pidfile and socket under a temporary
//! directory, no iptables, no bridge, the `vfs` storage driver (no mounts to leave behind).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::Ran;
use super::daemon::{Daemon, daemon_dir};

/// A running `dockerd` and the `docker` client pointed at it.
pub struct Dockerd {
    daemon: Daemon,
    socket: PathBuf,
    /// The daemon's `--data-root`, which its error messages name.
    pub data_root: PathBuf,
}

impl Dockerd {
    /// Starts `dockerd` and waits until its API answers `/_ping`.
    pub fn start() -> Dockerd {
        let dir = daemon_dir("dockerd");
        let socket = dir.join("docker.sock");
        let data_root = dir.join("data");
        // An empty configuration, so the machine's /etc/docker/daemon.json plays no part.
        std::fs::write(dir.join("daemon.json"), "{}").expect("daemon.json");
        let mut command = Command::new("dockerd");
        command
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .arg("--data-root")
            .arg(&data_root)
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()));
        let daemon = Daemon::start("dockerd", command, &dir, || pings(&socket));
        Dockerd {
            daemon,
            socket,
            data_root,
        }
    }

    /// From spawning the daemon until its API answered.
    pub fn startup(&self) -> Duration {
        self.daemon.startup
    }

    /// `docker -H unix://SOCKET ARGS…`, run to completion.
    pub fn docker(&self, args: &[&str]) -> Ran {
        let out = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .output()
            .expect("docker runs");
        Ran::of(out)
    }

    /// `unix://SOCKET`, for other clients (`skopeo --dest-daemon-host`).
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

/// True when the Engine API on `socket` answers `GET /_ping` with `OK`.
fn pings(socket: &std::path::Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let mut answer = String::new();
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .and_then(|()| stream.read_to_string(&mut answer))
        .is_ok()
        && (answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"))
        && answer.ends_with("OK")
}
