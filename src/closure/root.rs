//! Paths inside a root (`/`, or a `--sysroot`) resolved as a `chroot` would: symbolic links
//! are followed inside the root (an absolute target starts again at the root, `..` stops at
//! it), so a link cannot pull a host file into the image. At most [`MAX_LINKS`] links per path,
//! as Linux allows.

use std::io;
use std::path::{Path, PathBuf};

use crate::verify::stack::MAX_LINKS;

/// A root directory that library paths are looked up in.
#[derive(Clone, Debug)]
pub struct Root {
    dir: PathBuf,
}

/// `path` made absolute and free of `.`, `..` and empty components (`..` stops at `/`).
pub fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The directory part of a normalised absolute path (`/` for `/x`).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `dir` + `/` + `name`, for a normalised `dir`.
pub fn join(dir: &str, name: &str) -> String {
    normalise(&format!("{dir}/{name}"))
}

/// `to` (normalised, absolute) as a link target relative to the directory `from`:
/// `/lib/x` → `/opt/odd/y` is `../../opt/odd/y`. Relative links resolve the same in a
/// container's root and wherever the root is mounted.
pub fn relative(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
    let to: Vec<&str> = to.split('/').filter(|p| !p.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

impl Root {
    /// The root at `dir` (`/` for the host).
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root { dir: dir.into() }
    }

    /// Whether this is the host's own root.
    pub fn is_host(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The text of the root's file `logical` (links followed inside the root) when it is a
    /// regular file of at most `limit` bytes.
    pub fn read_text(&self, logical: &str, limit: u64) -> Option<String> {
        use std::io::Read;
        let host = self.host(&self.canonical(logical).ok()??);
        let file = std::fs::File::open(&host).ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let mut text = String::new();
        file.take(limit + 1).read_to_string(&mut text).ok()?;
        (text.len() as u64 <= limit).then_some(text)
    }

    /// Where the root's normalised path `logical` is on the host (no links followed).
    pub fn host(&self, logical: &str) -> PathBuf {
        self.dir.join(logical.trim_start_matches('/'))
    }

    /// The root's path `logical` with every link followed inside the root: `None` when
    /// nothing is there (or a component is not a directory, or links loop).
    pub fn canonical(&self, logical: &str) -> io::Result<Option<String>> {
        let mut done: Vec<String> = Vec::new();
        let mut todo: Vec<String> = logical
            .split('/')
            .rev()
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            let candidate = format!("/{}", {
                let mut all = done.clone();
                all.push(part.clone());
                all.join("/")
            });
            let meta = match std::fs::symlink_metadata(self.host(&candidate)) {
                Ok(meta) => meta,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            if meta.file_type().is_symlink() {
                links += 1;
                if links > MAX_LINKS {
                    return Ok(None);
                }
                let target = std::fs::read_link(self.host(&candidate))?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(
                    target
                        .split('/')
                        .rev()
                        .filter(|p| !p.is_empty())
                        .map(str::to_string),
                );
            } else {
                if !todo.is_empty() && !meta.is_dir() {
                    return Ok(None);
                }
                done.push(part);
            }
        }
        Ok(Some(format!("/{}", done.join("/"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn paths_normalise() {
        assert_eq!(normalise("/app/../lib//x/./y"), "/lib/x/y");
        assert_eq!(normalise("/../../etc"), "/etc");
        assert_eq!(parent("/lib/libz.so"), "/lib");
        assert_eq!(parent("/libz.so"), "/");
        assert_eq!(join("/app", "../lib"), "/lib");
        assert_eq!(relative("/lib/x", "/opt/odd/y"), "../../opt/odd/y");
        assert_eq!(relative("/lib", "/lib/sub/y"), "sub/y");
    }

    #[test]
    fn links_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        std::fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        std::fs::write(dir.path().join("usr/lib/libz.so.1.2"), b"z").unwrap();
        symlink("usr/lib", dir.path().join("lib")).unwrap();
        symlink("libz.so.1.2", dir.path().join("usr/lib/libz.so.1")).unwrap();
        // An absolute link and a climbing one both land inside the root, not on the host.
        symlink("/etc/passwd", dir.path().join("usr/lib/escape")).unwrap();
        symlink(
            "../../../../../etc/passwd",
            dir.path().join("usr/lib/climb"),
        )
        .unwrap();
        symlink("loop", dir.path().join("usr/lib/loop")).unwrap();
        assert_eq!(
            root.canonical("/lib/libz.so.1").unwrap().as_deref(),
            Some("/usr/lib/libz.so.1.2")
        );
        assert_eq!(root.canonical("/lib/escape").unwrap(), None);
        assert_eq!(root.canonical("/lib/climb").unwrap(), None);
        assert_eq!(root.canonical("/lib/loop").unwrap(), None);
        assert_eq!(root.canonical("/lib/libz.so.1.2/x").unwrap(), None);
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), b"root").unwrap();
        assert_eq!(
            root.canonical("/lib/climb").unwrap().as_deref(),
            Some("/etc/passwd")
        );
    }
}
