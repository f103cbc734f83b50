//! A content-addressed cache of compressed layers, so packaging the same bytes again costs no
//! compression at all.
//!
//! A layer's key is the SHA-256 of everything its bytes depend on: the cache format, the
//! compressor and its level, the mtime, and every entry's path, kind, mode and content digest.
//! File contents are hashed once: a small record keyed by the file's path remembers the digest
//! with the file's [`Stamp`], under the cache's freshness rule (see [`super::stamp`]): trusted
//! while the stamp holds, written only for a file that had settled before it was hashed. A file
//! changed more recently is remembered for this run only.
//!
//! ```text
//! <cache>/layers/<key>.json     {digest, size, diff_id}
//! <cache>/blobs/sha256/<hex>    the compressed layer (a private copy: outputs copy it, never link)
//! <cache>/files/<path hash>.json  {stamp: {dev, ino, size, mtime_ns, ctime_ns}, digest}
//! ```
//!
//! A hit is checked before it is used: its blob must exist with the recorded size, and when an
//! output still needs the bytes they are hashed again; a mismatch evicts the entry and the layer
//! is rebuilt. When every output already holds the blob, nothing of it is read. Writes go
//! through a temporary file and a rename, so a crash leaves no half entry.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::stamp::Stamp;
use super::write_atomic;
use crate::image::blob::{Blob, to_hex};

/// Bump when anything that shapes layer bytes changes (tar headers, gzip backend or level).
const FORMAT: &str = "static-image layer cache 1; tar ustar; gzip 6 flate2 zlib-rs";

/// The cache directory.
#[derive(Clone, Debug)]
pub struct LayerCache {
    dir: PathBuf,
    /// Digests taken in this run, by path and stamp: a file that is not remembered on disk
    /// (changed too recently) is still hashed once per run.
    seen: Arc<Mutex<HashMap<PathBuf, (Stamp, String)>>>,
}

/// What the cache knows of a layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLayer {
    /// The compressed blob's digest.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// The uncompressed tar's digest.
    pub diff_id: String,
}

/// A file's stamp with the digest of its contents at that time. (Not `flatten`ed: serde
/// buffers flattened fields in a form that cannot hold the i128 times.)
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct FileRecord {
    stamp: Stamp,
    digest: String,
}

impl FileRecord {
    fn matches(&self, meta: &fs::Metadata) -> bool {
        self.stamp == Stamp::from_meta(meta)
    }

    fn stat(meta: &fs::Metadata, digest: String) -> FileRecord {
        FileRecord {
            stamp: Stamp::from_meta(meta),
            digest,
        }
    }
}

/// What became of a lookup, for the caller to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Usable, and verified when an output needs its bytes.
    Hit(CachedLayer),
    /// Not there.
    Miss,
    /// There, but its blob is missing, truncated or does not hash to its digest: evicted.
    Corrupt(CachedLayer),
}

impl LayerCache {
    /// The cache at `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> LayerCache {
        LayerCache {
            dir: dir.into(),
            seen: Arc::default(),
        }
    }

    /// Where it lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The SHA-256 of a file's contents, from the record when the file is unchanged.
    pub fn file_digest(&self, path: &Path) -> io::Result<String> {
        let began = SystemTime::now();
        let meta = fs::metadata(path)?;
        let stamp = Stamp::from_meta(&meta);
        let seen = |digest: &String| {
            if let Ok(mut seen) = self.seen.lock() {
                seen.insert(path.to_owned(), (stamp.clone(), digest.clone()));
            }
        };
        if let Ok(seen) = self.seen.lock()
            && let Some((known, digest)) = seen.get(path)
            && *known == stamp
        {
            return Ok(digest.clone());
        }
        let canonical = fs::canonicalize(path)?;
        let name = to_hex(&Sha256::digest(canonical.as_os_str().as_encoded_bytes()));
        let record_path = self.dir.join("files").join(format!("{name}.json"));
        if let Ok(text) = fs::read(&record_path)
            && let Ok(record) = serde_json::from_slice::<FileRecord>(&text)
            && record.matches(&meta)
        {
            seen(&record.digest);
            return Ok(record.digest);
        }
        let digest = hash_file(path)?;
        // Only a file that did not change while it was read, nor just before (the freshness
        // rule), may be remembered past this run.
        let after = fs::metadata(path)?;
        let record = FileRecord::stat(&after, digest.clone());
        if record.matches(&meta) {
            seen(&digest);
            if stamp.settled_before(began) {
                // The cache is an optimisation: failing to remember is not an error.
                let _ = write_atomic(&record_path, &serde_json::to_vec(&record)?);
            }
        }
        Ok(digest)
    }

    /// Looks `key` up; `needed` says whether an output will read the blob's bytes, in which
    /// case they are hashed again before the hit is trusted.
    pub fn lookup(&self, key: &str, needed: bool) -> Lookup {
        let record = self.record_path(key);
        let Ok(text) = fs::read(&record) else {
            return Lookup::Miss;
        };
        let Ok(layer) = serde_json::from_slice::<CachedLayer>(&text) else {
            let _ = fs::remove_file(&record);
            return Lookup::Miss;
        };
        let blob = self.blob_path(&layer.digest);
        let intact = fs::metadata(&blob).is_ok_and(|m| m.len() == layer.size)
            && (!needed || hash_file(&blob).is_ok_and(|d| d == layer.digest));
        if intact {
            Lookup::Hit(layer)
        } else {
            let _ = fs::remove_file(&record);
            let _ = fs::remove_file(&blob);
            Lookup::Corrupt(layer)
        }
    }

    /// Remembers a freshly written layer under `key`: its blob is hard-linked into the cache
    /// (the blob store lives there when the cache is on), else copied.
    ///
    /// Nothing is fsynced: a cache entry torn by a crash is caught by [`LayerCache::lookup`],
    /// which checks the size always and the digest whenever an output will read the bytes.
    pub fn store(&self, key: &str, blob: &Blob, diff_id: &str) -> io::Result<()> {
        let target = self.blob_path(&blob.digest);
        if !fs::metadata(&target).is_ok_and(|m| m.len() == blob.size) {
            let dir = target.parent().map(Path::to_owned).unwrap_or_default();
            fs::create_dir_all(&dir)?;
            let linked = tempfile::Builder::new()
                .prefix(".link.")
                .make_in(&dir, |path| fs::hard_link(&blob.path, path));
            match linked {
                Ok(linked) => linked.persist(&target).map_err(|e| e.error)?,
                // Another filesystem (a store in the system temp directory): copy.
                Err(_) => {
                    let mut copy = tempfile::NamedTempFile::new_in(&dir)?;
                    io::copy(&mut File::open(&blob.path)?, &mut copy)?;
                    // Temporary files are created 0600; outputs copy this one's mode.
                    copy.as_file()
                        .set_permissions(fs::Permissions::from_mode(0o644))?;
                    copy.persist(&target).map_err(|e| e.error)?;
                }
            }
        }
        let layer = CachedLayer {
            digest: blob.digest.clone(),
            size: blob.size,
            diff_id: diff_id.to_string(),
        };
        write_atomic(&self.record_path(key), &serde_json::to_vec(&layer)?)
    }

    /// [`LayerCache::lookup`], asking `needed` about the recorded digest.
    pub fn lookup_with(&self, key: &str, needed: &dyn Fn(&str) -> bool) -> Lookup {
        let Ok(text) = fs::read(self.record_path(key)) else {
            return Lookup::Miss;
        };
        let digest = serde_json::from_slice::<CachedLayer>(&text)
            .map(|l| l.digest)
            .unwrap_or_default();
        self.lookup(key, needed(&digest))
    }

    /// The cached blob of `layer` as a [`Blob`] that outputs copy rather than link.
    pub fn blob(&self, layer: &CachedLayer, media_type: oci_spec::image::MediaType) -> Blob {
        Blob {
            media_type,
            digest: layer.digest.clone(),
            size: layer.size,
            path: self.blob_path(&layer.digest),
            shared: true,
        }
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        crate::image::blob::blob_path(&self.dir, digest)
    }

    fn record_path(&self, key: &str) -> PathBuf {
        self.dir.join("layers").join(format!("{key}.json"))
    }
}

/// A layer's cache key from the description of its entries (see
/// [`crate::image::layer::LayerBuilder`]).
pub fn layer_key(description: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(FORMAT.as_bytes());
    hash.update([0]);
    hash.update(description);
    to_hex(&hash.finalize())
}

/// `sha256:<hex>` of a file, streamed.
pub(crate) fn hash_file(path: &Path) -> io::Result<String> {
    crate::image::blob::sha256_of(File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::stamp::SETTLED;
    use crate::image::blob::sha256_digest;
    use oci_spec::image::MediaType;

    #[test]
    fn file_digests_follow_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().join("cache"));
        let file = dir.path().join("bin");
        fs::write(&file, b"one").unwrap();
        let first = cache.file_digest(&file).unwrap();
        assert_eq!(first, sha256_digest(b"one"));
        assert_eq!(cache.file_digest(&file).unwrap(), first, "from the record");
        fs::write(&file, b"two").unwrap();
        assert_eq!(cache.file_digest(&file).unwrap(), sha256_digest(b"two"));
        // Changed within the second: remembered for this run only, never on disk, where a
        // second same-size change in the same clock tick could go unseen.
        assert!(!dir.path().join("cache/files").exists());
        let old = std::time::SystemTime::now() - 2 * SETTLED;
        let settled = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        fs::write(settled.path(), b"three").unwrap();
        let again = LayerCache::new(dir.path().join("cache"));
        // mtime can be set back, ctime cannot: a file only settles by waiting.
        settled.as_file().set_modified(old).unwrap();
        again.file_digest(settled.path()).unwrap();
        assert!(!dir.path().join("cache/files").exists());
    }

    #[test]
    fn a_damaged_entry_is_evicted_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path().join("cache"));
        let bytes = b"compressed layer bytes".to_vec();
        let path = dir.path().join("blob");
        fs::write(&path, &bytes).unwrap();
        let blob = Blob {
            media_type: MediaType::ImageLayerGzip,
            digest: sha256_digest(&bytes),
            size: bytes.len() as u64,
            path,
            shared: false,
        };
        cache.store("k", &blob, "sha256:diff").unwrap();
        assert!(matches!(cache.lookup("k", true), Lookup::Hit(_)));
        assert_eq!(cache.lookup("other", true), Lookup::Miss);

        // Same size, other bytes: only hashing tells, and it is done when an output needs them.
        fs::write(cache.blob_path(&blob.digest), b"COMPRESSED LAYER BYTES").unwrap();
        assert!(matches!(cache.lookup("k", false), Lookup::Hit(_)));
        assert!(matches!(cache.lookup("k", true), Lookup::Corrupt(_)));
        assert_eq!(cache.lookup("k", true), Lookup::Miss, "evicted");
    }
}
