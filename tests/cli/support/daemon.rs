//! A daemon a test starts for itself: its own folder under a temporary directory, waited for
//! until it answers, and stopped by the PID it was started with.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon may take to answer, or to stop once asked.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running daemon.
pub struct Daemon {
    name: &'static str,
    child: Child,
    /// The daemon's folder (configuration, state, socket, log), removed once it has stopped.
    dir: PathBuf,
    /// From spawning the daemon until it first answered.
    pub startup: Duration,
}

impl Daemon {
    /// Spawns `command` with its output in `dir/log`, then polls `ready` until it is true.
    /// Panics, with the log, if the daemon exits first or does not answer in time.
    pub fn start(
        name: &'static str,
        mut command: Command,
        dir: &Path,
        ready: impl Fn() -> bool,
    ) -> Daemon {
        let log = fs::File::create(dir.join("log")).expect("daemon log");
        let started = Instant::now();
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                let _ = fs::remove_dir_all(dir);
                panic!("cannot start {name}: {e}")
            });
        let mut daemon = Daemon {
            name,
            child,
            dir: dir.to_owned(),
            startup: Duration::ZERO,
        };
        while !ready() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "{name} exited ({status}) before answering:\n{}",
                    daemon.log()
                );
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{name} did not answer within {PATIENCE:?}:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        daemon.startup = started.elapsed();
        daemon
    }

    /// What the daemon has written so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    /// SIGTERM to the PID this daemon was started as, a wait for it (SIGKILL after
    /// [`PATIENCE`]), then its folder removed.
    fn drop(&mut self) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on the PID of our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let asked = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if asked.elapsed() < PATIENCE => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    eprintln!("{} did not stop on SIGTERM; killing it", self.name);
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!(
                "cannot remove {}'s folder `{}`: {e}",
                self.name,
                self.dir.display()
            );
        }
    }
}

/// A fresh folder for a daemon; the [`Daemon`] removes it when it stops.
pub fn daemon_dir(name: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(&format!("static-image-{name}."))
        .tempdir()
        .expect("tempdir")
        .keep()
}
