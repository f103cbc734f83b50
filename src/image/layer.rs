//! Deterministic layers: a sorted set of entries → a gzip-compressed tar blob and its diff_id.
//!
//! Every header is built here, never read from disk: entries sorted by path, parents before
//! children, uid/gid 0, no user or group names, one fixed mtime, modes given by the caller, and
//! a gzip header with no timestamp or file name. The same entries give the same bytes on any
//! machine. The tar streams into gzip into the blob file in one pass, hashed before compression
//! (the diff_id) and after (the blob digest); nothing is held in memory but small files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::MediaType;

use super::blob::{Blob, BlobStore, HashWriter};
use super::cache::{LayerCache, Lookup, layer_key};

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
            Some((Node::File(_), _)) => {
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

    fn add_parents(&mut self, path: &str) -> Result<(), LayerError> {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            let parent = &path[..end + slash];
            match self.entries.get(parent) {
                Some((Node::File(_), _)) => {
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

/// How layers are compressed. The compressor, its version and its level are part of every
/// layer's bytes, so they are pinned (Cargo.lock) and a golden-digest test guards them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerCompression {
    /// gzip through flate2's zlib-rs backend, at this level (0–9).
    Gzip(u32),
    /// zstd (libzstd, multi-threaded), at this level (1–19).
    Zstd(i32),
    /// An uncompressed tar.
    None,
}

impl Default for LayerCompression {
    /// gzip, which every runtime reads, at [`LayerCompression::GZIP_DEFAULT`].
    fn default() -> LayerCompression {
        LayerCompression::Gzip(Self::GZIP_DEFAULT)
    }
}

/// `--compression`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionKind {
    /// gzip: what every runtime and registry reads.
    #[default]
    Gzip,
    /// zstd: several times faster, read by containerd 1.5+, Docker 23+, podman.
    Zstd,
    /// No compression: fastest to write, largest to move.
    None,
}

impl LayerCompression {
    /// The gzip level used when none is given. zlib-rs at 3 is the knee of the curve: on
    /// 200 MB of ELF code it writes 2.8% more than at zlib's default 6 for 28% less CPU,
    /// the size umoci's pgzip default writes (ko's default, Go's BestSpeed, writes larger).
    pub const GZIP_DEFAULT: u32 = 3;

    /// The zstd level used when none is given (zstd's own default).
    pub const ZSTD_DEFAULT: i32 = 3;

    /// From `--compression` and `--compression-level`, checking the level fits the kind.
    pub fn from_args(
        kind: CompressionKind,
        level: Option<i32>,
    ) -> Result<LayerCompression, String> {
        match (kind, level) {
            (CompressionKind::Gzip, None) => Ok(LayerCompression::default()),
            (CompressionKind::Gzip, Some(l @ 0..=9)) => Ok(LayerCompression::Gzip(l as u32)),
            (CompressionKind::Zstd, None) => Ok(LayerCompression::Zstd(Self::ZSTD_DEFAULT)),
            (CompressionKind::Zstd, Some(l @ 1..=19)) => Ok(LayerCompression::Zstd(l)),
            (CompressionKind::None, None) => Ok(LayerCompression::None),
            (CompressionKind::Gzip, Some(l)) => {
                Err(format!("`--compression-level {l}`: gzip levels are 0 to 9"))
            }
            (CompressionKind::Zstd, Some(l)) => Err(format!(
                "`--compression-level {l}`: zstd levels are 1 to 19"
            )),
            (CompressionKind::None, Some(_)) => {
                Err("`--compression-level` needs `--compression gzip` or `zstd`".into())
            }
        }
    }

    /// The OCI media type of layers compressed this way.
    pub fn media_type(self) -> MediaType {
        match self {
            LayerCompression::Gzip(_) => MediaType::ImageLayerGzip,
            LayerCompression::Zstd(_) => MediaType::ImageLayerZstd,
            LayerCompression::None => MediaType::ImageLayer,
        }
    }

    /// What decides the bytes, for the cache key.
    pub fn id(self) -> String {
        match self {
            LayerCompression::Gzip(level) => format!("gzip {level} zlib-rs 1 MiB blocks"),
            LayerCompression::Zstd(level) => {
                format!(
                    "zstd {level} libzstd {} mt job {ZSTD_JOB_SIZE}",
                    zstd::zstd_safe::version_string()
                )
            }
            LayerCompression::None => "none".into(),
        }
    }
}

/// A compressing writer of one of the supported kinds.
enum Encoder {
    Gzip(super::pgzip::ParallelGzip<super::blob::BlobWriter>),
    Zstd(zstd::Encoder<'static, super::blob::BlobWriter>),
    None(super::blob::BlobWriter),
}

impl Encoder {
    fn new(blob: super::blob::BlobWriter, compression: LayerCompression) -> io::Result<Encoder> {
        Ok(match compression {
            // mtime 0 and no name in the gzip header, blocks of a fixed size: the bytes depend
            // on content only, whatever the machine's core count.
            LayerCompression::Gzip(level) => {
                Encoder::Gzip(super::pgzip::ParallelGzip::new(blob, level, workers())?)
            }
            LayerCompression::Zstd(level) => {
                let mut z = zstd::Encoder::new(blob, level)?;
                // zstd's multi-threaded output depends on its job size, not on how many
                // workers there are, so the bytes are the same on any machine. The job size
                // is pinned (it is part of the bytes) and smaller than level 3's default
                // (8 MiB): each worker holds a job in and out, so on 200 MB of machine code
                // peak RSS falls from 62 to 37 MB, for 0.2% more bytes and the same speed.
                z.multithread(workers() as u32)?;
                z.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
                Encoder::Zstd(z)
            }
            LayerCompression::None => Encoder::None(blob),
        })
    }

    fn finish(self) -> io::Result<super::blob::BlobWriter> {
        match self {
            Encoder::Gzip(g) => g.finish(),
            Encoder::Zstd(z) => z.finish(),
            Encoder::None(b) => Ok(b),
        }
    }
}

impl io::Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(g) => g.write(buf),
            Encoder::Zstd(z) => z.write(buf),
            Encoder::None(b) => b.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(g) => g.flush(),
            Encoder::Zstd(z) => z.flush(),
            Encoder::None(b) => b.flush(),
        }
    }
}

/// The bytes of input each zstd worker compresses at a time.
const ZSTD_JOB_SIZE: u32 = 4 << 20;

/// Compression threads: the machine's cores, at least one (for zstd this also selects its
/// multi-threaded format, so one and many workers give the same bytes), at most four.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// A ustar header with everything fixed that could vary between machines: owner 0:0, no user
/// or group names, the given mode, size and mtime.
pub fn tar_header(dir: bool, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size);
    header
}

/// Passes bytes to `inner`, telling `on_bytes` how many went.
struct Reporting<'a, W> {
    inner: W,
    on_bytes: &'a (dyn Fn(u64) + Sync),
}

impl<W: io::Write> io::Write for Reporting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        (self.on_bytes)(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn append<W: io::Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    node: &Node,
    mode: u32,
    mtime: u64,
) -> Result<(), LayerError> {
    match node {
        Node::Dir => {
            let mut header = tar_header(true, mode, 0, mtime);
            tar.append_data(&mut header, format!("{path}/"), io::empty())
                .map_err(LayerError::Write)
        }
        Node::File(Source::Bytes(bytes)) => {
            let mut header = tar_header(false, mode, bytes.len() as u64, mtime);
            tar.append_data(&mut header, path, bytes.as_slice())
                .map_err(LayerError::Write)
        }
        Node::File(Source::File { path: src, size }) => {
            let mut header = tar_header(false, mode, *size, mtime);
            let file = File::open(src).map_err(|source| LayerError::Read {
                path: src.clone(),
                source,
            })?;
            let mut reader = ExactReader::new(file, *size);
            let written = tar.append_data(&mut header, path, &mut reader);
            if reader.short() {
                return Err(changed(src, *size));
            }
            written.map_err(|e| match e.kind() {
                io::ErrorKind::InvalidData => changed(src, *size),
                _ => LayerError::Read {
                    path: src.clone(),
                    source: e,
                },
            })?;
            // A file that grew after it was added would be cut silently; say so instead.
            if reader.grew() {
                return Err(changed(src, *size));
            }
            Ok(())
        }
    }
}

fn changed(path: &Path, expected: u64) -> LayerError {
    LayerError::Changed {
        path: path.to_owned(),
        expected,
    }
}

/// Reads exactly `size` bytes of a file, noting if it turns out shorter or longer.
struct ExactReader {
    file: File,
    left: u64,
    short: bool,
}

impl ExactReader {
    fn new(file: File, size: u64) -> ExactReader {
        ExactReader {
            file,
            left: size,
            short: false,
        }
    }

    fn short(&self) -> bool {
        self.short
    }

    fn grew(&mut self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.file.read(&mut probe), Ok(1))
    }
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            // tar would pad a short entry with nothing and corrupt the archive; fail instead.
            self.short = true;
            return Err(io::Error::new(io::ErrorKind::InvalidData, "file shrank"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;

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
    fn zstd_bytes_do_not_depend_on_the_number_of_workers() {
        let store = BlobStore::new().unwrap();
        let mut blobs = Vec::new();
        for workers in [1, 3] {
            let mut out = store.writer().unwrap();
            let mut z = zstd::Encoder::new(&mut out, 3).unwrap();
            z.multithread(workers).unwrap();
            let bytes: Vec<u8> = (0..3_000_000u32)
                .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
                .collect();
            io::Write::write_all(&mut z, &bytes).unwrap();
            z.finish().unwrap();
            blobs.push(out.finish(MediaType::ImageLayerZstd).unwrap().digest);
        }
        assert_eq!(blobs[0], blobs[1]);
    }

    #[test]
    fn levels_are_checked_against_the_kind() {
        let ok = |k, l| LayerCompression::from_args(k, l);
        assert_eq!(
            ok(CompressionKind::Gzip, None),
            Ok(LayerCompression::Gzip(3))
        );
        assert_eq!(
            ok(CompressionKind::Zstd, Some(19)),
            Ok(LayerCompression::Zstd(19))
        );
        assert!(ok(CompressionKind::Gzip, Some(10)).is_err());
        assert!(ok(CompressionKind::Zstd, Some(0)).is_err());
        assert!(ok(CompressionKind::None, Some(1)).is_err());
        assert_eq!(
            LayerCompression::Zstd(3).media_type(),
            MediaType::ImageLayerZstd
        );
    }

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
}
