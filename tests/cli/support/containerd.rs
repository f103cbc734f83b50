//! A private containerd: its own root, state and sockets under a temporary directory, the CRI
//! plugin off (no Kubernetes here), and `ctr` pointed at it. runc is its runtime.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::Ran;
use super::daemon::{Daemon, daemon_dir};

/// A running `containerd`.
pub struct Containerd {
    daemon: Daemon,
    socket: PathBuf,
}

impl Containerd {
    /// Starts `containerd` and waits until `ctr version` reaches it.
    pub fn start() -> Containerd {
        let dir = daemon_dir("containerd");
        let socket = dir.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = {root:?}\nstate = {state:?}\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\naddress = {socket:?}\n[ttrpc]\naddress = {ttrpc:?}\n\
             [debug]\naddress = \"\"\n[metrics]\naddress = \"\"\n",
            root = dir.join("root").display().to_string(),
            state = dir.join("state").display().to_string(),
            socket = socket.display().to_string(),
            ttrpc = dir.join("containerd.sock.ttrpc").display().to_string(),
        );
        std::fs::write(dir.join("config.toml"), config).expect("config.toml");
        let mut command = Command::new("containerd");
        command.arg("--config").arg(dir.join("config.toml"));
        let answers = || {
            socket.exists()
                && Command::new("ctr")
                    .arg("--address")
                    .arg(&socket)
                    .arg("version")
                    .output()
                    .is_ok_and(|o| o.status.success())
        };
        let daemon = Daemon::start("containerd", command, &dir, answers);
        Containerd { daemon, socket }
    }

    /// From spawning the daemon until `ctr` reached it.
    pub fn startup(&self) -> Duration {
        self.daemon.startup
    }

    /// `ctr --address SOCKET --namespace NAMESPACE ARGS…`, run to completion.
    pub fn ctr(&self, namespace: &str, args: &[&str]) -> Ran {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["--namespace", namespace])
            .args(args)
            .output()
            .expect("ctr runs");
        Ran::of(out)
    }
}
