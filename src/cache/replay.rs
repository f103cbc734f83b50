//! A run with nothing changed is answered from the last run's record.
//!
//! After a run writes its outputs, its outcome is recorded in the cache with the content digest
//! of each binary, the stamps of the other files it read (the CA files it could pick, this
//! program) and those of everything it wrote (each layout's `index.json` and blobs, each
//! archive). A later run with the same key (the caller's: every value its outputs are made
//! from, hashed as canonical JSON) finds the record; if every stamp still holds and each binary
//! has the same contents, its outputs already hold what it would write, so it reports the
//! recorded outcome without verifying, compressing or writing anything. A no-op `build` then
//! costs what the compiler's own no-op costs.
//!
//! Binaries are compared by contents because `go build -o` writes its output afresh even when
//! nothing changed; their digests come through the layer cache's file memo, so a binary whose
//! stamp holds (cargo's, with nothing to do) is not read. Stamps are judged by the cache's one
//! freshness rule ([`super::stamp`]): a run that read a file changed less than [`SETTLED`]
//! before it began is not recorded; what it wrote is stamped after the last write.
//!
//! [`SETTLED`]: super::stamp::SETTLED

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::layers::LayerCache;
use super::stamp::Stamps;
use super::write_atomic;
use crate::image::blob::{canonical_json, to_hex};

/// What a recorded run read and wrote, and what it reported.
#[derive(Serialize, Deserialize)]
struct Record<T> {
    /// Each binary's SHA-256, in the order given.
    binaries: Vec<String>,
    inputs: Stamps,
    outputs: Stamps,
    outcome: T,
}

/// A run that may be answered from, or recorded for, the next one.
pub struct Replay {
    path: PathBuf,
    binaries: Vec<PathBuf>,
    inputs: Stamps,
    began: SystemTime,
}

impl Replay {
    /// The record of the run with `key`, with the stamps of what it `reads` taken now;
    /// `binaries` are compared by contents. `None` when the key cannot be written down.
    pub fn prepare(
        cache_dir: &Path,
        key: &impl Serialize,
        binaries: Vec<PathBuf>,
        reads: &[PathBuf],
    ) -> Option<Replay> {
        let began = SystemTime::now();
        let key = to_hex(&Sha256::digest(canonical_json(key).ok()?));
        Some(Replay {
            path: cache_dir.join("runs").join(format!("{key}.json")),
            binaries,
            inputs: Stamps::of(reads),
            began,
        })
    }

    /// The recorded outcome, if everything the recorded run read and wrote is as it was.
    pub fn outcome<T: DeserializeOwned>(&self, cache: &LayerCache) -> Option<T> {
        let bytes = std::fs::read(&self.path).ok()?;
        let record: Record<T> = serde_json::from_slice(&bytes).ok()?;
        if record.inputs != self.inputs
            || !record.outputs.hold()
            || record.binaries.len() != self.binaries.len()
        {
            return None;
        }
        for (binary, recorded) in self.binaries.iter().zip(&record.binaries) {
            if cache.file_digest(binary).ok()? != *recorded {
                return None;
            }
        }
        Some(record.outcome)
    }

    /// Records `outcome` for the next run, with the binaries' `digests` and the stamps of
    /// `written` as they are now. Not recorded when a file it read had not settled before
    /// the run began.
    pub fn record<T: Serialize>(self, outcome: &T, digests: Vec<String>, written: &[PathBuf]) {
        if !self.inputs.settled_before(self.began) {
            return;
        }
        let record = Record {
            binaries: digests,
            inputs: self.inputs,
            outputs: Stamps::of(written),
            outcome,
        };
        // A record that cannot be written only costs the next run its shortcut.
        if let Ok(bytes) = serde_json::to_vec(&record) {
            let _ = write_atomic(&self.path, &bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::blob::sha256_digest;
    use std::fs;

    #[test]
    fn a_record_answers_while_its_binaries_read_and_written_files_are_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().join("cache"));
        let (bin, out) = (dir.path().join("bin"), dir.path().join("out"));
        fs::write(&bin, b"elf").unwrap();
        let open = |key: &str, reads: &[PathBuf]| {
            Replay::prepare(cache.dir(), &key, vec![bin.clone()], reads).unwrap()
        };
        assert_eq!(open("k", &[]).outcome::<String>(&cache), None);
        fs::write(&out, b"image").unwrap();
        let digests = vec![sha256_digest(b"elf")];
        open("k", &[]).record(
            &"done".to_string(),
            digests.clone(),
            std::slice::from_ref(&out),
        );
        assert_eq!(open("k", &[]).outcome(&cache), Some("done".to_string()));
        assert_eq!(open("other", &[]).outcome::<String>(&cache), None);

        // The binary is compared by contents: other bytes are another run, the same bytes
        // written afresh are not.
        fs::write(&bin, b"elf2").unwrap();
        assert_eq!(open("k", &[]).outcome::<String>(&cache), None);
        fs::write(&bin, b"elf").unwrap();
        assert_eq!(open("k", &[]).outcome(&cache), Some("done".to_string()));

        // What the run wrote is compared by stamp: the same bytes written again do not hold.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&out, b"image").unwrap();
        assert_eq!(open("k", &[]).outcome::<String>(&cache), None);

        // A run that read a file changed just before it began is not recorded.
        let ca = dir.path().join("ca.pem");
        fs::write(&ca, b"pem").unwrap();
        let reads = [ca.clone()];
        open("fresh", &reads).record(&"done".to_string(), digests, std::slice::from_ref(&out));
        // Its stamps hold: only the missing record answers `None`.
        assert!(Stamps::of(&reads).hold());
        assert_eq!(open("fresh", &reads).outcome::<String>(&cache), None);
    }
}
