//! Staging entries: the hidden files and directories an output is written to before its rename,
//! and the private folders blobs are staged in while images are made or read.
//!
//! Every staging entry is named `.{target}.tmp-{pid}-{n}` and holds an exclusive `flock` for
//! as long as its run may still use it. Entries are registered process-wide while they exist,
//! so SIGINT and SIGTERM (see [`install_signal_cleanup`]) remove them before the process dies.
//! A run killed outright (SIGKILL, power loss) leaves its entry behind; the next run writing
//! beside it removes it ([`sweep`]) only when both its owner's PID is gone and its lock is
//! free, so a live run's entry (even one in another PID namespace) is never touched.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The staging entries of this process that exist now: (path, is a directory).
static LIVE: Mutex<Vec<(PathBuf, bool)>> = Mutex::new(Vec::new());

/// Makes staging names unique within this process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn live() -> MutexGuard<'static, Vec<(PathBuf, bool)>> {
    // A panic while holding the lock leaves the list as valid as before it.
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A staging file or directory, removed on drop unless renamed into place.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    dir: bool,
    /// The open entry, holding the lock that tells a sweeper its owner is alive.
    handle: File,
    /// Renamed into place: nothing to remove.
    done: bool,
}

/// The prefix of every staging name for `target`: `.{name}.tmp-`.
pub(crate) fn staging_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    format!(".{name}.tmp-")
}

impl Staged {
    /// Creates a staging file for `target` in `dir`, mode 0644 whatever the umask.
    pub(crate) fn file(dir: &Path, target: &Path) -> io::Result<Staged> {
        Staged::create(dir, target, false)
    }

    /// Creates a staging directory for `target` in `dir`, mode 0755 whatever the umask.
    pub(crate) fn dir(dir: &Path, target: &Path) -> io::Result<Staged> {
        Staged::create(dir, target, true)
    }

    fn create(dir: &Path, target: &Path, is_dir: bool) -> io::Result<Staged> {
        let prefix = staging_prefix(target);
        let pid = std::process::id();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{prefix}{pid}-{n}"));
            // Registered before it exists and under the lock, so a signal arriving at any
            // point finds it listed (the cleanup takes the same lock).
            let mut live = live();
            let made = if is_dir {
                fs::create_dir(&path).and_then(|()| {
                    File::open(&path).inspect_err(|_| {
                        let _ = fs::remove_dir(&path);
                    })
                })
            } else {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
            };
            let handle = match made {
                Ok(handle) => handle,
                // Another process (another PID namespace) chose the same name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            live.push((path.clone(), is_dir));
            drop(live);
            let staged = Staged {
                path,
                dir: is_dir,
                handle,
                done: false,
            };
            staged.handle.lock()?;
            let mode = if is_dir { 0o755 } else { 0o644 };
            staged
                .handle
                .set_permissions(fs::Permissions::from_mode(mode))?;
            return Ok(staged);
        }
    }

    /// Where the entry is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file (for a staging file).
    pub(crate) fn file_handle(&self) -> &File {
        &self.handle
    }

    /// Renames the entry to `target`; on failure it is still staged (and removed on drop).
    pub(crate) fn persist(mut self, target: &Path) -> io::Result<()> {
        let mut live = live();
        fs::rename(&self.path, target)?;
        live.retain(|(p, _)| p != &self.path);
        self.done = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut live = live();
        remove(&self.path, self.dir);
        live.retain(|(p, _)| p != &self.path);
    }
}

fn remove(path: &Path, dir: bool) {
    let _ = if dir {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
}

/// A private folder in the system's temporary folder, `.{name}.tmp-{pid}-{n}`: removed when
/// dropped or on SIGINT and SIGTERM, and swept by a later run if this one is killed outright
/// (what dead runs left under the same name is swept first).
pub fn private_dir(name: &str) -> io::Result<Staged> {
    let tmp = std::env::temp_dir();
    sweep_named(&tmp, &staging_prefix(Path::new(name)));
    Staged::dir(&tmp, Path::new(name))
}

/// Removes the staging entries in `dir` that a dead run left behind: named as ours with a PID
/// that no process has, and unlocked. Returns how many were removed.
pub(crate) fn sweep(dir: &Path) -> usize {
    sweep_named(dir, ".")
}

/// [`sweep`], of the entries whose names start with `prefix` only: in a folder shared with
/// other programs (the system's temporary folder), only what carries our own prefix.
pub(crate) fn sweep_named(dir: &Path, prefix: &str) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(prefix) {
            continue;
        }
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !(meta.is_file() || meta.is_dir()) {
            continue;
        }
        // The lock is free only if no process holds the entry open as its staging.
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        remove(&path, meta.is_dir());
        removed += 1;
    }
    removed
}

/// The PID in a staging name `.{name}.tmp-{pid}-{n}`, if the name is one.
fn owner_pid(name: &str) -> Option<i32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, tail) = name.rsplit_once(".tmp-")?;
    let (pid, n) = tail.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(n)).then(|| pid.parse().ok())?
}

/// Whether a process with this PID exists (EPERM means it does, owned by someone else).
fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the PID exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The write end of the pipe the signal handler reports on (-1 until installed).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    let byte = signal as u8;
    // SAFETY: write(2) is async-signal-safe; the byte lives for the call.
    unsafe {
        libc::write(fd, (&raw const byte).cast(), 1);
    }
}

/// On SIGINT, SIGTERM or SIGHUP (unless ignored on entry): removes every staging entry, then
/// dies of the same signal (exit status 128 + its number to a shell). The handler only writes to a pipe; a thread
/// does the work, where taking a lock and removing files is allowed.
pub fn install_signal_cleanup() -> io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read, write] = fds;
    SIGNAL_PIPE.store(write, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("signal-cleanup".into())
        .spawn(move || {
            let mut byte = 0u8;
            // SAFETY: reads one byte into `byte`, which outlives the call.
            let n = unsafe { libc::read(read, (&raw mut byte).cast(), 1) };
            if n != 1 {
                return;
            }
            let signal = libc::c_int::from(byte);
            // Held until the process is gone: no staging can be created or renamed after.
            let live = live();
            for (path, dir) in live.iter() {
                remove(path, *dir);
            }
            // SAFETY: restoring the default action and raising the signal ends the process
            // as the signal would have.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
            std::process::exit(128 + signal);
        })?;
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a plain handler and an empty mask is valid; the
        // first call only reads the current action.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut current) != 0 {
                return Err(io::Error::last_os_error());
            }
            // A signal ignored on entry (`nohup`, a background job) stays ignored.
            if current.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_carry_the_owner_pid() {
        assert_eq!(owner_pid(".layout.tmp-1234-0"), Some(1234));
        assert_eq!(owner_pid(".a.tar.tmp-7-12"), Some(7));
        assert_eq!(owner_pid(".a.tar.tmp-Xy12ab"), None);
        assert_eq!(owner_pid("a.tar.tmp-7-1"), None);
        assert_eq!(owner_pid(".index.json.tmp--1"), None);
    }

    #[test]
    fn a_sweep_keeps_live_entries_and_removes_dead_ones() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let ours = Staged::file(dir.path(), &target).unwrap();
        // A dead owner: PIDs above the kernel's maximum never exist.
        let dead = dir.path().join(".out.tmp-2147483646-0");
        fs::write(&dead, b"x").unwrap();
        let dead_dir = dir.path().join(".out.tmp-2147483646-1");
        fs::create_dir_all(dead_dir.join("blobs")).unwrap();
        assert_eq!(sweep(dir.path()), 2);
        assert!(ours.path().exists());
        assert!(!dead.exists() && !dead_dir.exists());
        drop(ours);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn staged_files_are_0644_and_dirs_0755_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let file = Staged::file(dir.path(), &dir.path().join("a")).unwrap();
        let sub = Staged::dir(dir.path(), &dir.path().join("b")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(file.path()), 0o644);
        assert_eq!(mode(sub.path()), 0o755);
        let target = dir.path().join("a");
        file.persist(&target).unwrap();
        assert_eq!(mode(&target), 0o644);
    }
}
