//! podman with a store of its own: `CONTAINERS_CONF` and `CONTAINERS_STORAGE_CONF` point at
//! files in a temporary directory, so nothing of the machine's storage, runtime directory or
//! network configuration is read or written. podman has no daemon: each call is one process.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use super::Ran;

/// A podman store, removed on drop.
pub struct Podman {
    dir: PathBuf,
}

impl Podman {
    /// A fresh store (the `vfs` driver, set before the store is first used). runc fails to
    /// set podman's default rlimits here, so the configuration gives smaller ones.
    pub fn new() -> Podman {
        let dir = super::daemon::daemon_dir("podman");
        let at = |name: &str| dir.join(name).display().to_string();
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = {:?}\nrunroot = {:?}\n",
            at("graph"),
            at("run")
        );
        let containers = format!(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n\
             [engine]\ntmp_dir = {:?}\nevents_logger = \"file\"\n\
             [network]\nnetwork_config_dir = {:?}\n",
            at("tmp"),
            at("networks")
        );
        fs::write(dir.join("storage.conf"), storage).expect("storage.conf");
        fs::write(dir.join("containers.conf"), containers).expect("containers.conf");
        fs::write(dir.join("registries.conf"), "").expect("registries.conf");
        Podman { dir }
    }

    /// `podman ARGS…` on this store, run to completion.
    pub fn podman(&self, args: &[&str]) -> Ran {
        let out = Command::new("podman")
            .args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.join("registries.conf"),
            )
            .output()
            .expect("podman runs");
        Ran::of(out)
    }

    /// `podman run --rm` of `image` with runc, cgroupfs and no network.
    pub fn run(&self, image: &str) -> Ran {
        self.podman(&[
            "run",
            "--rm",
            "--pull",
            "never",
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
            "--network",
            "none",
            image,
        ])
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("cannot remove podman's store `{}`: {e}", self.dir.display());
        }
    }
}
