//! The tar side of a layer: headers with everything fixed that could vary between machines,
//! and entries streamed from their sources, refusing a file whose size changed since it was
//! added (tar would otherwise pad or cut it silently).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::{LayerError, Node, Source};

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
pub(super) struct Reporting<'a, W> {
    pub(super) inner: W,
    pub(super) on_bytes: &'a (dyn Fn(u64) + Sync),
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

pub(super) fn append<W: io::Write>(
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
        Node::Symlink(target) => {
            let mut header = tar_header(false, mode, 0, mtime);
            header.set_entry_type(tar::EntryType::Symlink);
            tar.append_link(&mut header, path, target)
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
