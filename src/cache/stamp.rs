//! The one stamp a memo keeps of a file, and the one rule that says when the memo still holds.
//!
//! A [`Stamp`] is what `stat` says of a file: device, inode, size, mtime and ctime. Any write,
//! replace or rename changes one of them (git's index and ccache rely on the same), and ctime
//! cannot be set back by hand. [`Stamps`] are the stamps of every file a memo depends on,
//! taken together, a missing file included as missing.
//!
//! **The freshness rule**, for every memo of this program (a file's digest, a run's outcome,
//! cargo's answers, the crates a binary links, a parsed CA bundle):
//!
//! 1. a memo is trusted only while every file it depends on has the stamp it had when the memo
//!    was made ([`Stamps::hold`]), and
//! 2. a memo is kept past the run that made it only when every file it was worked out from had
//!    settled before that work began: last changed at least [`SETTLED`] before
//!    ([`Stamps::settled_before`]). File times come from a coarse clock, so a second change
//!    within one tick of the first can leave the stamp as it was; a file that had not changed
//!    for a tick when it was read shows any later change in its stamp.
//!
//! Files a memo's own work wrote (a run's outputs) are not worked out from: they are held to
//! part 1 alone, their stamps taken after the last write.
//!
//! Every memo follows it: the layer cache's file digests, run records, the CA bundle, a Cargo
//! package's crates, and cargo's answers in `ahead`. A build that starts within a second of an
//! edit keeps no answers, so the build after it asks cargo again (its head start is lost once);
//! that is the price of never trusting a stamp a second edit in the same clock tick could share.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// How long before a memo's work began a file it reads must have last changed for its stamp to
/// vouch for its contents: file times come from a coarse clock, so a change within one tick of
/// the stamp can leave it as it was.
pub const SETTLED: Duration = Duration::from_secs(1);

/// A file's (or folder's) identity and state as `stat` sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Status change time, nanoseconds since the epoch.
    pub ctime_ns: i128,
}

impl Stamp {
    /// The stamp of what is at `path` now, if anything.
    pub fn of(path: &Path) -> Option<Stamp> {
        fs::metadata(path).ok().map(|m| Stamp::from_meta(&m))
    }

    /// The stamp of already read metadata.
    pub fn from_meta(meta: &fs::Metadata) -> Stamp {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether the file's contents or status changed at or after `time`.
    pub fn changed_since(&self, time: SystemTime) -> bool {
        let time_ns = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        self.mtime_ns.max(self.ctime_ns) >= time_ns
    }

    /// Part 2 of the rule: whether the file last changed at least [`SETTLED`] before `began`.
    pub fn settled_before(&self, began: SystemTime) -> bool {
        !self.changed_since(began.checked_sub(SETTLED).unwrap_or(SystemTime::UNIX_EPOCH))
    }
}

/// The stamps of the files a memo depends on, in the order given; `None` for a file that was
/// not there (its appearing changes the memo's answer too).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamps(Vec<(PathBuf, Option<Stamp>)>);

impl Stamps {
    /// The stamps of `paths` now.
    pub fn of<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Stamps {
        Stamps(
            paths
                .into_iter()
                .map(|p| (p.as_ref().to_owned(), Stamp::of(p.as_ref())))
                .collect(),
        )
    }

    /// Part 1 of the rule: whether every file has the stamp it had (or is still missing).
    pub fn hold(&self) -> bool {
        self.0.iter().all(|(path, stamp)| Stamp::of(path) == *stamp)
    }

    /// Part 2 of the rule: whether every file there had settled before `began`.
    pub fn settled_before(&self, began: SystemTime) -> bool {
        self.present().all(|s| s.settled_before(began))
    }

    /// Whether no file is stamped.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn present(&self) -> impl Iterator<Item = &Stamp> {
        self.0.iter().filter_map(|(_, stamp)| stamp.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_hold_until_a_file_changes_appears_or_goes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        let later = dir.path().join("b");
        fs::write(&file, b"one").unwrap();
        let stamps = Stamps::of([&file, &later]);
        assert!(stamps.hold());
        fs::write(&later, b"").unwrap();
        assert!(!stamps.hold(), "a file that appeared");
        fs::remove_file(&later).unwrap();
        assert!(stamps.hold());
        // Rewritten with the same bytes: a new ctime, so not the same stamp.
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&file, b"one").unwrap();
        assert!(!stamps.hold());
    }

    #[test]
    fn a_file_changed_just_now_has_not_settled() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        fs::write(&file, b"one").unwrap();
        let now = SystemTime::now();
        let stamps = Stamps::of([&file]);
        assert!(!stamps.settled_before(now));
        assert!(stamps.settled_before(now + 2 * SETTLED));
        // Only files that are there count: a missing one cannot hide a change.
        assert!(Stamps::of([dir.path().join("none")]).settled_before(now));
    }
}
