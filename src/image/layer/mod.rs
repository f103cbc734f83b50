//! Deterministic layers: a sorted set of entries → a gzip-compressed tar blob and its diff_id.
//!
//! Every header is built here, never read from disk: entries sorted by path, parents before
//! children, uid/gid 0, no user or group names, one fixed mtime, modes given by the caller, and
//! a gzip header with no timestamp or file name. The same entries give the same bytes on any
//! machine. The tar streams into gzip into the blob file in one pass, hashed before compression
//! (the diff_id) and after (the blob digest); nothing is held in memory but small files.
//!
//! [`compression`] holds the compressors and what decides their bytes; [`entries`] the fixed
//! headers and the reader that refuses a source file that changed size.

mod compression;
mod entries;

pub use compression::{CompressionKind, LayerCompression};
pub use entries::tar_header;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use super::blob::{Blob, BlobStore, HashWriter};
use crate::cache::layers::{LayerCache, Lookup, layer_key};
use compression::Encoder;
use entries::{Reporting, append};

/// Where an entry's bytes come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Bytes in memory (templates, the CA bundle).
    Bytes(Vec<u8>),
    /// A file on disk, streamed when the layer is written; `size` is what was seen when it was
    /// added, and the file must still have exactly that many bytes.
    File {
        /// The file.
        path: PathBuf,
        /// Its size when added.
        size: u64,
    },
}

/// An entry of a layer.
#[derive(Clone, Debug)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file.
    File(Source),
    /// A symbolic link, with its target as written (a library's soname link).
    Symlink(String),
}

/// What went wrong while laying out or writing a layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// Two entries want the same path.
    #[error("`/{path}` is added twice")]
    Duplicate {
        /// The path inside the image.
        path: String,
    },
    /// A file is in the way of a directory the layer needs.
    #[error("`/{path}` is a file, but `/{child}` needs it to be a directory")]
    NotADirectory {
        /// The file.
        path: String,
        /// The entry below it.
        child: String,
    },
    /// A source file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file on disk.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A source file changed size between planning and writing.
    #[error("`{path}` changed while it was being packaged (expected {expected} bytes)")]
    Changed {
        /// The file on disk.
        path: PathBuf,
        /// Its size when it was added.
        expected: u64,
    },
    /// Writing the blob failed.
    #[error("cannot write a layer blob")]
    Write(#[source] io::Error),
}

/// A written layer.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The compressed blob.
    pub blob: Blob,
    /// `sha256:` of the uncompressed tar (what `rootfs.diff_ids` lists).
    pub diff_id: String,
}

/// The entries of one layer, kept sorted; paths are relative (`etc/passwd`).
#[derive(Clone, Debug, Default)]
pub struct LayerBuilder {
    entries: BTreeMap<String, (Node, u32)>,
}

impl LayerBuilder {
    /// An empty layer.
    pub fn new() -> LayerBuilder {
        LayerBuilder::default()
    }

    /// Adds a directory (and its missing parents, mode 0755). Adding an existing directory
    /// again sets its mode.
    pub fn add_dir(&mut self, path: &str, mode: u32) -> Result<(), LayerError> {
        let path = path.trim_matches('/').to_string();
        self.add_parents(&path)?;
        match self.entries.get_mut(&path) {
            Some((Node::Dir, m)) => *m = mode,
            Some((Node::File(_) | Node::Symlink(_), _)) => {
                return Err(LayerError::Duplicate { path });
            }
            None => {
                self.entries.insert(path, (Node::Dir, mode));
            }
        }
        Ok(())
    }

    /// Adds a regular file (and its missing parent directories, mode 0755).
    pub fn add_file(&mut self, path: &str, source: Source, mode: u32) -> Result<(), LayerError> {
        let path = path.trim_matches('/').to_string();
        self.add_parents(&path)?;
        if self.entries.contains_key(&path) {
            return Err(LayerError::Duplicate { path });
        }
        self.entries.insert(path, (Node::File(source), mode));
        Ok(())
    }

    /// Adds a symbolic link to `target` (and its missing parent directories, mode 0755).
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<(), LayerError> {
        let path = path.trim_matches('/').to_string();
        self.add_parents(&path)?;
        if self.entries.contains_key(&path) {
            return Err(LayerError::Duplicate { path });
        }
        self.entries
            .insert(path, (Node::Symlink(target.to_string()), 0o777));
        Ok(())
    }

    fn add_parents(&mut self, path: &str) -> Result<(), LayerError> {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            let parent = &path[..end + slash];
            match self.entries.get(parent) {
                Some((Node::File(_) | Node::Symlink(_), _)) => {
                    return Err(LayerError::NotADirectory {
                        path: parent.to_string(),
                        child: path.to_string(),
                    });
                }
                Some((Node::Dir, _)) => {}
                None => {
                    self.entries.insert(parent.to_string(), (Node::Dir, 0o755));
                }
            }
            end += slash + 1;
        }
        Ok(())
    }

    /// Writes the layer as a tar blob compressed with `compression` into `store`; every entry
    /// gets `mtime`.
    pub fn write(
        &self,
        store: &BlobStore,
        mtime: u64,
        compression: LayerCompression,
    ) -> Result<Layer, LayerError> {
        self.write_reporting(store, mtime, compression, &|_| {})
    }

    /// [`LayerBuilder::write`], telling `on_bytes` of every uncompressed byte on its way to the
    /// compressor (for a progress bar).
    pub fn write_reporting(
        &self,
        store: &BlobStore,
        mtime: u64,
        compression: LayerCompression,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<Layer, LayerError> {
        // Uncompressed, the blob is the tar itself: its digest is the diff_id, hashed once.
        let blob = match compression {
            LayerCompression::None => store.writer_unhashed(),
            _ => store.writer(),
        }
        .map_err(LayerError::Write)?;
        let encoder = Encoder::new(blob, compression).map_err(LayerError::Write)?;
        let counted = Reporting {
            inner: encoder,
            on_bytes,
        };
        let mut tar = tar::Builder::new(HashWriter::new(counted));
        for (path, (node, mode)) in &self.entries {
            append(&mut tar, path, node, *mode, mtime)?;
        }
        let raw = tar.into_inner().map_err(LayerError::Write)?;
        let (counted, diff_id, _) = raw.finish();
        let blob = counted.inner.finish().map_err(LayerError::Write)?;
        let blob = match compression {
            LayerCompression::None => blob.finish_as(compression.media_type(), &diff_id),
            _ => blob.finish(compression.media_type()),
        }
        .map_err(LayerError::Write)?;
        Ok(Layer { blob, diff_id })
    }
}

/// How a layer's blob came to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Compressed now.
    Built,
    /// Taken from the cache: nothing compressed.
    Cached,
    /// A layer of the base image (`--base`), copied as it is.
    Base,
    /// The cache held a damaged copy (`digest`), which was evicted; compressed now.
    Rebuilt {
        /// The digest the damaged entry claimed.
        digest: String,
    },
}

impl LayerBuilder {
    /// What the layer's bytes depend on, for its cache key: each entry's path, kind, mode and
    /// content digest (files through `file_digest`, which may remember them), and the mtime.
    pub fn describe(
        &self,
        mtime: u64,
        compression: LayerCompression,
        cache: &LayerCache,
    ) -> io::Result<Vec<u8>> {
        let mut out = format!("{}\nmtime {mtime}\n", compression.id()).into_bytes();
        for (path, (node, mode)) in &self.entries {
            let content = match node {
                Node::Dir => "dir".to_string(),
                Node::Symlink(target) => format!("link {target}"),
                Node::File(Source::Bytes(bytes)) => super::blob::sha256_digest(bytes),
                Node::File(Source::File { path, size }) => {
                    format!("{} {size}", cache.file_digest(path)?)
                }
            };
            out.extend_from_slice(format!("{path}\0{mode:o}\0{content}\n").as_bytes());
        }
        Ok(out)
    }

    /// [`LayerBuilder::write`] through `reuse.cache`: a layer with the same key is reused
    /// (checked by hashing when `reuse.needed` says an output will read its bytes), else
    /// written and stored.
    pub fn write_cached(
        &self,
        store: &BlobStore,
        mtime: u64,
        compression: LayerCompression,
        reuse: super::Reuse<'_>,
    ) -> Result<(Layer, Origin), LayerError> {
        let write = || self.write_reporting(store, mtime, compression, reuse.on_bytes);
        let Some(cache) = reuse.cache else {
            return Ok((write()?, Origin::Built));
        };
        let key = match self.describe(mtime, compression, cache) {
            Ok(description) => layer_key(&description),
            // The sources are read again by `write`, which reports the error with its path.
            Err(_) => return Ok((write()?, Origin::Built)),
        };
        let mut origin = Origin::Built;
        match cache.lookup_with(&key, reuse.needed) {
            Lookup::Hit(hit) => {
                let layer = Layer {
                    blob: cache.blob(&hit, compression.media_type()),
                    diff_id: hit.diff_id,
                };
                return Ok((layer, Origin::Cached));
            }
            Lookup::Corrupt(bad) => origin = Origin::Rebuilt { digest: bad.digest },
            Lookup::Miss => {}
        }
        let mut layer = write()?;
        // A cache that cannot be written only costs the next run its speed.
        if cache.store(&key, &layer.blob, &layer.diff_id).is_ok() {
            // The store's file may now be the cache's too (a hard link): outputs must copy it.
            layer.blob.shared = true;
        }
        Ok((layer, origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::fs::File;
    use std::io::Read;

    fn listing(layer: &Layer) -> Vec<(String, u32, u64, u64, u64)> {
        let file = File::open(&layer.blob.path).unwrap();
        let mut archive = tar::Archive::new(GzDecoder::new(file));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    fn sample() -> LayerBuilder {
        let mut layer = LayerBuilder::new();
        layer
            .add_file("/etc/ssl/certs/ca.crt", Source::Bytes(b"x".to_vec()), 0o644)
            .unwrap();
        layer.add_dir("/tmp", 0o1777).unwrap();
        layer
            .add_file("/etc/passwd", Source::Bytes(b"root".to_vec()), 0o644)
            .unwrap();
        layer
    }

    /// `sample()` plus 256 KiB of text-like bytes from a fixed generator, so the compressors
    /// have real work to do.
    fn golden() -> LayerBuilder {
        let mut layer = sample();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let words = [
            &b"static "[..],
            b"image ",
            b"scratch ",
            b"layer ",
            b"\n",
            b"0x7f ELF ",
        ];
        let mut text = Vec::new();
        while text.len() < 256 * 1024 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.extend_from_slice(words[(state % words.len() as u64) as usize]);
        }
        layer
            .add_file("/app/data", Source::Bytes(text), 0o644)
            .unwrap();
        layer
    }

    /// The compressors and their versions are part of every digest the tool makes: a dependency
    /// update that changes these bytes changes users' image digests, and must be a decision
    /// (a changelog entry and new golden values), never an accident.
    #[test]
    fn golden_digests_pin_each_compressor() {
        let store = BlobStore::new().unwrap();
        let digest = |c| golden().write(&store, 0, c).unwrap();
        let none = digest(LayerCompression::None);
        let gzip = digest(LayerCompression::default());
        let gzip_6 = digest(LayerCompression::Gzip(6));
        let zstd = digest(LayerCompression::Zstd(LayerCompression::ZSTD_DEFAULT));
        // Every kind holds the same tar.
        assert_eq!(none.diff_id, gzip.diff_id);
        assert_eq!(none.diff_id, zstd.diff_id);
        assert_eq!(none.blob.digest, none.diff_id);
        assert_eq!(
            [
                none.blob.digest,
                gzip.blob.digest,
                gzip_6.blob.digest,
                zstd.blob.digest
            ],
            [GOLDEN_NONE, GOLDEN_GZIP, GOLDEN_GZIP_6, GOLDEN_ZSTD]
        );
    }

    const GOLDEN_NONE: &str =
        "sha256:0576b4467d0abd16f85f237ee9293d8526d4c6eb991210efd41f7116e5a2e8b9";
    const GOLDEN_GZIP: &str =
        "sha256:92aa2f1485426b82a2ef6bb7af1024303f8a510004378d5d539e4d3b4c84162a";
    /// gzip at zlib's default level, which `--compression-level 6` gives.
    const GOLDEN_GZIP_6: &str =
        "sha256:4c802bb7edb903c6614170b1da6309f667a7fae028846e35de133cc6dd154dbb";
    const GOLDEN_ZSTD: &str =
        "sha256:28033d61584aee1101633d77c1b56b7ac0ef3732697d3feadf5311db74d4bc12";

    #[test]
    fn entries_are_sorted_with_parents_and_fixed_metadata() {
        let store = BlobStore::new().unwrap();
        let layer = sample()
            .write(&store, 1_700_000_000, LayerCompression::default())
            .unwrap();
        let got = listing(&layer);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/passwd",
                "etc/ssl/",
                "etc/ssl/certs/",
                "etc/ssl/certs/ca.crt",
                "tmp/"
            ]
        );
        for (name, mode, uid, gid, mtime) in &got {
            assert_eq!((*uid, *gid, *mtime), (0, 0, 1_700_000_000), "{name}");
            let want = match name.as_str() {
                "tmp/" => 0o1777,
                n if n.ends_with('/') => 0o755,
                _ => 0o644,
            };
            assert_eq!(*mode, want, "{name}");
        }
    }

    #[test]
    fn same_entries_give_the_same_bytes_in_any_insertion_order() {
        let store = BlobStore::new().unwrap();
        let a = sample()
            .write(&store, 0, LayerCompression::default())
            .unwrap();
        let mut reversed = LayerBuilder::new();
        reversed
            .add_file("/etc/passwd", Source::Bytes(b"root".to_vec()), 0o644)
            .unwrap();
        reversed.add_dir("/tmp", 0o1777).unwrap();
        reversed
            .add_file("/etc/ssl/certs/ca.crt", Source::Bytes(b"x".to_vec()), 0o644)
            .unwrap();
        let b = reversed
            .write(&store, 0, LayerCompression::default())
            .unwrap();
        assert_eq!(a.blob.digest, b.blob.digest);
        assert_eq!(a.diff_id, b.diff_id);
        assert_ne!(a.blob.digest, a.diff_id);
        // The gzip header: magic, deflate, no flags, mtime 0.
        let bytes = std::fs::read(&a.blob.path).unwrap();
        assert_eq!(&bytes[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn diff_id_is_the_digest_of_the_uncompressed_tar() {
        let store = BlobStore::new().unwrap();
        let layer = sample()
            .write(&store, 0, LayerCompression::default())
            .unwrap();
        let mut raw = Vec::new();
        GzDecoder::new(File::open(&layer.blob.path).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(layer.diff_id, super::super::blob::sha256_digest(&raw));
        assert_eq!(raw.len() % 512, 0);
    }

    #[test]
    fn conflicts_are_errors() {
        let mut layer = sample();
        let err = layer
            .add_file("/etc/passwd", Source::Bytes(vec![]), 0o644)
            .unwrap_err();
        assert_eq!(err.to_string(), "`/etc/passwd` is added twice");
        let err = layer
            .add_file("/etc/passwd/x", Source::Bytes(vec![]), 0o644)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`/etc/passwd` is a file, but `/etc/passwd/x` needs it to be a directory"
        );
    }

    #[test]
    fn a_file_that_changed_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("bin");
        std::fs::write(&src, b"12345").unwrap();
        let store = BlobStore::new().unwrap();
        for claimed in [9, 3] {
            let mut layer = LayerBuilder::new();
            let source = Source::File {
                path: src.clone(),
                size: claimed,
            };
            layer.add_file("/app/bin", source, 0o755).unwrap();
            let err = layer
                .write(&store, 0, LayerCompression::default())
                .unwrap_err();
            assert!(
                matches!(err, LayerError::Changed { .. }),
                "{claimed}: {err:?}"
            );
        }
    }

    #[test]
    fn symlinks_are_written_as_links_and_hold_nothing_below_them() {
        let mut layer = LayerBuilder::new();
        layer
            .add_file("/busybox/busybox", Source::Bytes(b"bb".to_vec()), 0o755)
            .unwrap();
        layer.add_symlink("/busybox/sh", "busybox").unwrap();
        let store = BlobStore::new().unwrap();
        let written = layer.write(&store, 7, LayerCompression::default()).unwrap();
        let file = File::open(&written.blob.path).unwrap();
        let mut archive = tar::Archive::new(GzDecoder::new(file));
        let links: Vec<(String, String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.header().entry_type() == tar::EntryType::Symlink)
            .map(|e| {
                let h = e.header();
                (
                    String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                    h.link_name().unwrap().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            links,
            [("busybox/sh".to_string(), "busybox".to_string(), 0o777, 7)]
        );
        // The same entries, the same bytes.
        assert_eq!(
            layer
                .write(&store, 7, LayerCompression::default())
                .unwrap()
                .blob
                .digest,
            written.blob.digest
        );
        // A link is a leaf: nothing goes below it, and its path is taken.
        assert!(matches!(
            layer.add_file("/busybox/sh/x", Source::Bytes(Vec::new()), 0o644),
            Err(LayerError::NotADirectory { .. })
        ));
        assert!(matches!(
            layer.add_symlink("/busybox/sh", "busybox"),
            Err(LayerError::Duplicate { .. })
        ));
        assert!(matches!(
            layer.add_dir("/busybox/sh", 0o755),
            Err(LayerError::Duplicate { .. })
        ));
    }
}
