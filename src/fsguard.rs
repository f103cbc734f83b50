//! Files an attacker may have placed: a layout's blobs, an existing output's `index.json`, a
//! project's settings file. They are opened without waiting on a FIFO's writer and, unless the
//! caller follows links on purpose, without following a final symbolic link; what is found
//! instead of a regular file is named in words for the message.

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// What a directory entry is, in words for a message ("a FIFO").
pub fn kind(file_type: &FileType) -> &'static str {
    if file_type.is_file() {
        "a regular file"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_char_device() {
        "a character device"
    } else {
        "not a regular file"
    }
}

/// Why [`open_regular`] failed.
#[derive(Debug)]
pub enum OpenFailure {
    /// Something other than a regular file is there: what it is.
    Kind(&'static str),
    /// It could not be opened or examined.
    Io(io::Error),
}

/// Opens `path` for reading if it is a regular file. A FIFO is never waited on
/// (`O_NONBLOCK`), a device never becomes the controlling terminal, and a final symbolic link
/// is refused unless `follow` (a path the user named may be a link). The type is judged on the
/// open file, so nothing can be swapped in between.
pub fn open_regular(path: &Path, follow: bool) -> Result<(File, Metadata), OpenFailure> {
    let flags = libc::O_NONBLOCK | libc::O_NOCTTY | if follow { 0 } else { libc::O_NOFOLLOW };
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(file) => file,
        // ELOOP is what O_NOFOLLOW gives for a link, ENXIO what a socket gives: name them.
        Err(e) => {
            let found = std::fs::symlink_metadata(path)
                .ok()
                .map(|m| m.file_type())
                .filter(|t| !(t.is_file() || follow && t.is_symlink()));
            return Err(match found {
                Some(t) => OpenFailure::Kind(kind(&t)),
                None => OpenFailure::Io(e),
            });
        }
    };
    let meta = file.metadata().map_err(OpenFailure::Io)?;
    if !meta.is_file() {
        return Err(OpenFailure::Kind(kind(&meta.file_type())));
    }
    Ok((file, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_named_and_never_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let fifo = dir.path().join("p");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);

        assert!(open_regular(&file, false).is_ok());
        assert!(matches!(
            open_regular(&link, false),
            Err(OpenFailure::Kind("a symbolic link"))
        ));
        assert!(open_regular(&link, true).is_ok());
        assert!(matches!(
            open_regular(&fifo, false),
            Err(OpenFailure::Kind("a FIFO"))
        ));
        assert!(matches!(
            open_regular(dir.path(), true),
            Err(OpenFailure::Kind("a directory"))
        ));
        assert!(matches!(
            open_regular(Path::new("/dev/null"), true),
            Err(OpenFailure::Kind("a character device"))
        ));
    }
}
