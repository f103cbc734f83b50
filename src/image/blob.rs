//! Content-addressed blobs: the files an image is made of, staged before any output is written.
//!
//! A [`BlobStore`] is a private directory holding `blobs/sha256/<hex>`, the same shape as an OCI
//! layout, so outputs hard-link or stream from it. Blobs are written through [`HashWriter`], which
//! hashes and counts bytes on their way to disk: nothing is read back to learn its digest.
//! JSON documents are serialised canonically ([`canonical_json`]) so their digests are stable.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, Digest, DigestAlgorithm, MediaType, Sha256Digest};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tempfile::NamedTempFile;

use crate::staging::{Staged, private_dir, staging_prefix, sweep_named};

/// One stored blob and what a descriptor needs to point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// What the bytes are.
    pub media_type: MediaType,
    /// `sha256:<64 hex digits>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Where the bytes are.
    pub path: PathBuf,
    /// The file belongs to the layer cache: outputs copy it, never hard-link it, so damage to
    /// one cannot reach the other.
    pub shared: bool,
}

impl Blob {
    /// The 64 hex digits of the digest.
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    /// An OCI descriptor for this blob (no annotations, no platform).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.size, self.oci_digest())
    }

    /// The digest as oci-spec's type. Our digests are always well-formed sha256.
    pub fn oci_digest(&self) -> Digest {
        self.digest
            .parse()
            .unwrap_or_else(|_| unreachable!("we only make sha256 digests"))
    }
}

/// A private staging directory of blobs, removed when dropped.
#[derive(Debug)]
pub struct BlobStore {
    /// Removed on drop, and on SIGINT and SIGTERM; swept by a later run after a SIGKILL.
    dir: Staged,
}

impl BlobStore {
    /// A new, empty store in the system temporary directory.
    pub fn new() -> io::Result<BlobStore> {
        let dir = private_dir("static-image-blobs")?;
        fs::create_dir_all(dir.path().join("blobs/sha256"))?;
        Ok(BlobStore { dir })
    }

    /// A new, empty store inside `parent` (created if missing), so that blobs can be
    /// hard-linked into a cache or layout on the same filesystem instead of copied. Stores a
    /// killed run left there are removed first.
    pub fn new_in(parent: &Path) -> io::Result<BlobStore> {
        fs::create_dir_all(parent)?;
        let name = Path::new("staging");
        sweep_named(parent, &staging_prefix(name));
        let dir = Staged::dir(parent, name)?;
        fs::create_dir_all(dir.path().join("blobs/sha256"))?;
        Ok(BlobStore { dir })
    }

    /// Stores bytes already in memory (configs, manifests).
    pub fn put(&self, bytes: &[u8], media_type: MediaType) -> io::Result<Blob> {
        let mut writer = self.writer()?;
        writer.write_all(bytes)?;
        writer.finish(media_type)
    }

    /// A writer for a blob whose bytes are produced as a stream (layers).
    pub fn writer(&self) -> io::Result<BlobWriter> {
        let file = NamedTempFile::new_in(self.dir.path())?;
        Ok(BlobWriter {
            inner: HashWriter::new(BufWriter::new(file)),
            root: self.dir.path().to_owned(),
        })
    }

    /// A writer that does not hash, for bytes whose digest the caller computes anyway (an
    /// uncompressed layer is its own diff_id); finish it with [`BlobWriter::finish_as`].
    pub fn writer_unhashed(&self) -> io::Result<BlobWriter> {
        let file = NamedTempFile::new_in(self.dir.path())?;
        Ok(BlobWriter {
            inner: HashWriter::counting(BufWriter::new(file)),
            root: self.dir.path().to_owned(),
        })
    }
}

/// Writes one blob into a [`BlobStore`]; [`BlobWriter::finish`] names it by its digest.
pub struct BlobWriter {
    inner: HashWriter<BufWriter<NamedTempFile>>,
    root: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobWriter {
    /// Completes the blob and moves it to `blobs/sha256/<hex>`.
    pub fn finish(self, media_type: MediaType) -> io::Result<Blob> {
        let (buffered, digest, size) = self.inner.finish();
        Self::persist(buffered, self.root, media_type, digest, size)
    }

    /// Completes a blob from [`BlobStore::writer_unhashed`] whose digest the caller knows.
    pub fn finish_as(self, media_type: MediaType, digest: &str) -> io::Result<Blob> {
        let (buffered, _, size) = self.inner.finish();
        Self::persist(buffered, self.root, media_type, digest.to_string(), size)
    }

    fn persist(
        buffered: BufWriter<NamedTempFile>,
        root: PathBuf,
        media_type: MediaType,
        digest: String,
        size: u64,
    ) -> io::Result<Blob> {
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        // Temporary files are created 0600; outputs hard-link blobs, and others must read them.
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))?;
        let path = blob_path(&root, &digest);
        file.persist(&path).map_err(|e| e.error)?;
        Ok(Blob {
            media_type,
            digest,
            size,
            path,
            shared: false,
        })
    }
}

/// The 64 hex digits of a well-formed `sha256:` digest; `None` for anything else, so a digest
/// read from a document can never name a path or URL it should not.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `<root>/blobs/sha256/<hex>` for a `sha256:<hex>` digest this tool computed (a [`Blob`]'s).
pub fn blob_path(root: &Path, digest: &str) -> PathBuf {
    root.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// `<root>/blobs/sha256/<hex>` for a digest read from an image: the type guarantees 64 hex
/// digits, so the path never leaves `blobs/sha256`.
pub fn blob_path_of(root: &Path, digest: &Sha256Digest) -> PathBuf {
    root.join("blobs/sha256").join(digest.digest())
}

/// A descriptor's digest as SHA-256, or `None` for any other algorithm (the only one this tool
/// reads blobs by).
pub fn as_sha256(digest: &Digest) -> Option<Sha256Digest> {
    match digest.algorithm() {
        DigestAlgorithm::Sha256 => digest.digest().parse().ok(),
        _ => None,
    }
}

/// Passes bytes through to `inner`, keeping their SHA-256 (unless only counting) and count.
pub struct HashWriter<W> {
    inner: W,
    hasher: Option<Sha256>,
    len: u64,
}

impl<W: Write> HashWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> HashWriter<W> {
        HashWriter {
            inner,
            hasher: Some(Sha256::new()),
            len: 0,
        }
    }

    /// Wraps `inner`, counting bytes but not hashing them.
    pub fn counting(inner: W) -> HashWriter<W> {
        HashWriter {
            inner,
            hasher: None,
            len: 0,
        }
    }

    /// The inner writer, the `sha256:` digest (empty when only counting) and the byte count
    /// of everything written.
    pub fn finish(self) -> (W, String, u64) {
        let digest = self
            .hasher
            .map(|h| format!("sha256:{}", to_hex(&h.finalize())))
            .unwrap_or_default();
        (self.inner, digest, self.len)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Whether a layer's media type (OCI or Docker) says its bytes are gzip or zstd.
pub(crate) fn is_compressed(media_type: &str) -> bool {
    media_type.ends_with("gzip") || media_type.ends_with("zstd")
}

/// A layer blob's tar stream from its stored bytes, decompressed as its media type (OCI or
/// Docker) says: `+gzip` / `.gzip`, `+zstd` / `.zstd`, or none.
pub(crate) fn layer_decoder<'a>(
    reader: impl io::BufRead + 'a,
    media_type: &str,
) -> io::Result<Box<dyn io::Read + 'a>> {
    Ok(if media_type.ends_with("zstd") {
        Box::new(zstd::stream::read::Decoder::with_buffer(reader)?)
    } else if media_type.ends_with("gzip") {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// The `sha256:<hex>` digest of everything `reader` yields, streamed.
pub(crate) fn sha256_of(reader: impl io::Read) -> io::Result<String> {
    let mut hasher = HashWriter::new(io::sink());
    // Read in 1 MiB chunks (io::copy goes through a BufReader's own buffer): files of hundreds
    // of MB are hashed here, and 8 KiB reads would cost a syscall each.
    io::copy(
        &mut io::BufReader::with_capacity(1 << 20, reader),
        &mut hasher,
    )?;
    Ok(hasher.finish().1)
}

/// The `sha256:<hex>` digest of bytes in memory.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", to_hex(&Sha256::digest(bytes)))
}

/// Lowercase hex of bytes (digests, cache keys).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serialises a value as compact JSON with every object's keys sorted.
///
/// oci-spec keeps labels, annotations and exposed ports in `HashMap`s, whose iteration order
/// changes from run to run; going through `serde_json::Value` (a `BTreeMap` without the
/// `preserve_order` feature, which a test below guards) sorts them, so equal documents have
/// equal digests. Strings keep JSON's standard escaping, which every registry client parses.
pub fn canonical_json<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&serde_json::to_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_store_is_removed_when_dropped_and_one_left_by_a_dead_run_is_swept() {
        let parent = tempfile::tempdir().unwrap();
        // A PID above the kernel's limit: no process has it, as after a SIGKILL.
        let stale = parent.path().join(".staging.tmp-999999999-0");
        fs::create_dir_all(stale.join("blobs/sha256")).unwrap();
        let store = BlobStore::new_in(parent.path()).unwrap();
        assert!(!stale.exists());
        let path = store.dir.path().to_owned();
        assert!(path.join("blobs/sha256").is_dir());
        drop(store);
        assert!(!path.exists());
    }

    #[test]
    fn store_names_blobs_by_content() {
        let store = BlobStore::new().unwrap();
        let blob = store.put(b"hello", MediaType::ImageConfig).unwrap();
        assert_eq!(
            blob.digest,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(blob.size, 5);
        assert_eq!(fs::read(&blob.path).unwrap(), b"hello");
        assert!(blob.path.ends_with(format!("blobs/sha256/{}", blob.hex())));
        assert_eq!(sha256_digest(&fs::read(&blob.path).unwrap()), blob.digest);
        assert_eq!(sha256_digest(b"hello"), blob.digest);
    }

    #[test]
    fn canonical_json_sorts_keys_whatever_the_insertion_order() {
        let forward: HashMap<String, String> = (0..50)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        let mut backward = HashMap::new();
        for i in (0..50).rev() {
            backward.insert(format!("k{i}"), format!("v{i}"));
        }
        let a = canonical_json(&forward).unwrap();
        assert_eq!(a, canonical_json(&backward).unwrap());
        let text = String::from_utf8(a).unwrap();
        assert!(
            text.starts_with(r#"{"k0":"v0","k1":"v1","k10":"v10""#),
            "{text}"
        );
    }

    #[test]
    fn canonical_json_escapes_control_characters() {
        let text = String::from_utf8(canonical_json(&"a\nb\u{1}").unwrap()).unwrap();
        assert_eq!(text, r#""a\nb\u0001""#);
    }
}
