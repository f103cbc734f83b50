//! What an image should contain and how it should run: [`ImageSpec`] and the typed option values
//! it is made of (`--env K=V`, `--port 8080/tcp`, `--add SRC:DEST`, `--user`…).
//!
//! Each value type parses and validates its own text (`FromStr`), so a bad flag is a usage error
//! that names the flag's value before any work starts. Paths inside the image are normalised
//! here, once: absolute, no `.` or `..`, no empty components.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::ImageConfiguration;

use super::ca::CaBundle;
use super::layer::{Layer, Source};
use crate::platform::Platform;

/// Everything that decides an image besides the binary's bytes.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// The application's name (title annotation, default entrypoint `/app/<name>`).
    pub name: String,
    /// The platform the binary was verified for.
    pub platform: Platform,
    /// Where the binary goes, normalised (`/app/hello`).
    pub entrypoint: ImagePath,
    /// Default arguments (`Cmd`).
    pub args: Vec<String>,
    /// Environment set by the user; replaces defaults of the same name.
    pub env: Vec<KeyValue>,
    /// Exposed ports.
    pub ports: Vec<Port>,
    /// Config labels (standard `org.opencontainers.image.*` ones included).
    pub labels: BTreeMap<String, String>,
    /// Manifest annotations (besides `created`, which comes from `created`).
    pub annotations: BTreeMap<String, String>,
    /// `User`.
    pub user: User,
    /// `WorkingDir`.
    pub workdir: Option<ImagePath>,
    /// Extra files, already expanded and checked.
    pub adds: Vec<AddEntry>,
    /// The image's other programs (mode 0755), each at `/app/<name>`; none when the image holds
    /// one.
    pub programs: Vec<(ImagePath, crate::image::layer::Source)>,
    /// The CA bundle for the base layer.
    pub ca: CaBundle,
    /// Seconds since the epoch for every timestamp (`SOURCE_DATE_EPOCH`, else 0).
    pub created: i64,
    /// How its layers are compressed.
    pub compression: crate::image::layer::LayerCompression,
    /// The image to build on, for this platform (`--base`); `None` is scratch.
    pub base: Option<BaseImage>,
    /// With a base: whether the CA bundle goes into the app layer (asked for with
    /// `--ca-bundle`/`--extra-ca`; otherwise the base's own certificates serve).
    pub ca_in_app: bool,
    /// The SBOM for this platform's binary, put into the app layer (with its scanners' copy)
    /// and attached to the image as a referrer; `None` with `--no-sbom`.
    pub sbom: Option<crate::sbom::Documents>,
    /// The standard the SBOM follows, which names its file and its referrer's type.
    pub sbom_format: crate::sbom::Format,
}

/// An image read for one platform (a `--base`, or an image `verify` reads), its blobs in our
/// store.
#[derive(Clone, Debug)]
pub struct BaseImage {
    /// What was asked for (`org.opencontainers.image.base.name`).
    pub name: String,
    /// Its manifest's digest (`org.opencontainers.image.base.digest`).
    pub digest: String,
    /// Its configuration, merged under ours.
    pub config: ImageConfiguration,
    /// Its layers, bottom first.
    pub layers: Vec<Layer>,
}

/// A normalised absolute path inside the image.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImagePath(String);

impl ImagePath {
    /// The path with its leading `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `self/name`.
    pub fn join(&self, name: &str) -> ImagePath {
        if self.0 == "/" {
            ImagePath(format!("/{name}"))
        } else {
            ImagePath(format!("{}/{name}", self.0))
        }
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ImagePath {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.starts_with('/') {
            return Err(format!("`{s}` must be an absolute path inside the image"));
        }
        if s.contains('\0') {
            return Err(format!("`{}` contains a NUL byte", s.escape_debug()));
        }
        let mut parts = Vec::new();
        for part in s.split('/').filter(|p| !p.is_empty()) {
            match part {
                "." | ".." => {
                    return Err(format!("`{s}` must not contain `.` or `..` components"));
                }
                _ => parts.push(part),
            }
        }
        Ok(ImagePath(format!("/{}", parts.join("/"))))
    }
}

/// `KEY=VALUE`, for `--env` and `--label`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, non-empty.
    pub key: String,
    /// The value, possibly empty.
    pub value: String,
}

impl FromStr for KeyValue {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok(KeyValue {
                key: key.to_string(),
                value: value.to_string(),
            }),
            _ => Err(format!("`{s}` is not of the form KEY=VALUE")),
        }
    }
}

/// A port to expose: `8080`, `8080/tcp`, `53/udp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Port {
    /// 1–65535.
    pub number: u16,
    /// True for UDP, false for TCP.
    pub udp: bool,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = if self.udp { "udp" } else { "tcp" };
        write!(f, "{}/{proto}", self.number)
    }
}

impl FromStr for Port {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (number, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let udp = match proto.to_ascii_lowercase().as_str() {
            "tcp" => false,
            "udp" => true,
            _ => return Err(format!("`{s}`: the protocol must be tcp or udp")),
        };
        match number.parse::<u16>() {
            Ok(n) if n > 0 => Ok(Port { number: n, udp }),
            _ => Err(format!("`{s}`: the port must be a number from 1 to 65535")),
        }
    }
}

/// `--user`: `uid[:gid]` by number, or the names the image's `/etc/passwd` knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User(String);

/// The names in `templates/passwd` and `templates/group`.
const KNOWN_NAMES: [&str; 2] = ["root", "nonroot"];

impl User {
    /// `65532:65532`, the `nonroot` user.
    pub fn nonroot() -> User {
        User("65532:65532".into())
    }

    /// A base image's user, taken as it is: the base's own /etc/passwd knows its names.
    pub fn of_base(text: &str) -> User {
        User(text.to_string())
    }

    /// The text that goes into the config's `User`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for User {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (user, group) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s, None),
        };
        for part in std::iter::once(user).chain(group) {
            let numeric = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            if numeric {
                part.parse::<u32>()
                    .map_err(|_| format!("`{part}` is too large for a uid or gid"))?;
            } else if !KNOWN_NAMES.contains(&part) {
                return Err(format!(
                    "`{part}` is not in the image's /etc/passwd or /etc/group \
                     (it knows root and nonroot); give a number instead"
                ));
            }
        }
        Ok(User(s.to_string()))
    }
}

/// `--add SRC:DEST` as given: a host file or directory and where it goes. A `DEST` ending in
/// `/` means "into this directory, under the source's own name".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddSpec {
    /// The host path.
    pub source: PathBuf,
    /// The image path, as given (checked).
    pub dest: String,
}

impl FromStr for AddSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The last `:` splits: host paths may hold colons, image paths rarely do.
        let (src, dest) = s
            .rsplit_once(':')
            .filter(|(src, dest)| !src.is_empty() && !dest.is_empty())
            .ok_or_else(|| format!("`{s}` is not of the form SRC:DEST"))?;
        dest.parse::<ImagePath>()?;
        Ok(AddSpec {
            source: PathBuf::from(src),
            dest: dest.to_string(),
        })
    }
}

/// One entry an `--add` expands to.
#[derive(Clone, Debug)]
pub enum AddEntry {
    /// A directory to create (mode 0755).
    Dir(ImagePath),
    /// A file to copy, mode 0755 if the source is executable by anyone, else 0644.
    File {
        /// Where it goes.
        dest: ImagePath,
        /// Where its bytes come from.
        source: Source,
        /// Normalised mode.
        mode: u32,
    },
    /// A symbolic link (a library's soname link, from `--closure`).
    Link {
        /// Where it goes.
        dest: ImagePath,
        /// Its target, as written.
        target: String,
    },
}

/// Why an `--add` cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The source could not be read.
    #[error("--add source `{path}` cannot be read")]
    Read {
        /// The host path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The source is a symlink inside an added directory, a device, a socket or a FIFO.
    #[error("--add source `{path}` is {what}; only regular files and directories can be added")]
    Special {
        /// The host path.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// A file name that is not UTF-8 cannot be written as a tar path portably.
    #[error("--add source `{path}` has a name that is not UTF-8")]
    NotUtf8 {
        /// The host path.
        path: PathBuf,
    },
}

/// Expands `--add` specs into entries: files as they are, directories recursively in name order.
/// The source named on the command line is followed if it is a symlink; links found inside an
/// added directory are refused rather than followed out of it.
pub fn expand_adds(adds: &[AddSpec]) -> Result<Vec<AddEntry>, AddError> {
    let mut out = Vec::new();
    for add in adds {
        let meta = std::fs::metadata(&add.source).map_err(|source| AddError::Read {
            path: add.source.clone(),
            source,
        })?;
        let mut dest: ImagePath = add
            .dest
            .parse()
            .unwrap_or_else(|_| unreachable!("checked when parsed"));
        if add.dest.ends_with('/') {
            let name = add
                .source
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| AddError::NotUtf8 {
                    path: add.source.clone(),
                })?;
            dest = dest.join(name);
        }
        expand_one(&add.source, &meta, dest, &mut out)?;
    }
    Ok(out)
}

fn expand_one(
    src: &Path,
    meta: &std::fs::Metadata,
    dest: ImagePath,
    out: &mut Vec<AddEntry>,
) -> Result<(), AddError> {
    use std::os::unix::fs::PermissionsExt;
    let kind = meta.file_type();
    if kind.is_file() {
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        out.push(AddEntry::File {
            dest,
            source: Source::File {
                path: src.to_owned(),
                size: meta.len(),
            },
            mode,
        });
        return Ok(());
    }
    if kind.is_dir() {
        out.push(AddEntry::Dir(dest.clone()));
        let read = |source| AddError::Read {
            path: src.to_owned(),
            source,
        };
        let mut children: Vec<_> = std::fs::read_dir(src)
            .map_err(read)?
            .collect::<Result<_, _>>()
            .map_err(read)?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let path = child.path();
            let name = child
                .file_name()
                .into_string()
                .map_err(|_| AddError::NotUtf8 { path: path.clone() })?;
            // symlink_metadata: a link inside the tree is reported, not followed.
            let meta = std::fs::symlink_metadata(&path).map_err(|source| AddError::Read {
                path: path.clone(),
                source,
            })?;
            expand_one(&path, &meta, dest.join(&name), out)?;
        }
        return Ok(());
    }
    Err(AddError::Special {
        path: src.to_owned(),
        what: crate::fsguard::kind(&kind),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_are_normalised_and_checked() {
        assert_eq!(
            "/app//hello/".parse::<ImagePath>().unwrap().as_str(),
            "/app/hello"
        );
        assert_eq!("/".parse::<ImagePath>().unwrap().join("x").as_str(), "/x");
        assert!(
            "app/hello"
                .parse::<ImagePath>()
                .unwrap_err()
                .contains("absolute")
        );
        assert!(
            "/app/../etc"
                .parse::<ImagePath>()
                .unwrap_err()
                .contains("..")
        );
        assert!("/./x".parse::<ImagePath>().is_err());
    }

    #[test]
    fn key_values_ports_and_users() {
        let kv: KeyValue = "A=b=c".parse().unwrap();
        assert_eq!((kv.key.as_str(), kv.value.as_str()), ("A", "b=c"));
        assert!("=x".parse::<KeyValue>().is_err());
        assert!("NOEQUALS".parse::<KeyValue>().is_err());
        assert_eq!("8080".parse::<Port>().unwrap().to_string(), "8080/tcp");
        assert_eq!("53/UDP".parse::<Port>().unwrap().to_string(), "53/udp");
        for bad in ["0", "65536", "80/sctp", "http", ""] {
            assert!(bad.parse::<Port>().is_err(), "{bad}");
        }
        for good in ["65532:65532", "0", "nonroot", "root:nonroot", "1000:0"] {
            assert!(good.parse::<User>().is_ok(), "{good}");
        }
        assert!("app".parse::<User>().unwrap_err().contains("give a number"));
        assert!("99999999999".parse::<User>().is_err());
        assert!(":".parse::<User>().is_err());
    }

    #[test]
    fn add_specs_split_at_the_last_colon() {
        let add: AddSpec = "c:/x/LICENSE:/licenses/".parse().unwrap();
        assert_eq!(add.source, PathBuf::from("c:/x/LICENSE"));
        assert_eq!(add.dest, "/licenses/");
        assert!("LICENSE".parse::<AddSpec>().is_err());
        assert!("LICENSE:rel/path".parse::<AddSpec>().is_err());
        assert!(":/x".parse::<AddSpec>().is_err());
    }

    #[test]
    fn directories_expand_in_name_order_and_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("docs");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("b.txt"), "b").unwrap();
        std::fs::write(root.join("a.sh"), "a").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("a.sh"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::fs::write(root.join("sub/c"), "c").unwrap();
        let spec = AddSpec {
            source: root.clone(),
            dest: "/usr/share/".into(),
        };
        let entries = expand_adds(std::slice::from_ref(&spec)).unwrap();
        let shown: Vec<String> = entries
            .iter()
            .map(|e| match e {
                AddEntry::Dir(p) => format!("{p}/"),
                AddEntry::File { dest, mode, .. } => format!("{dest} {mode:o}"),
                AddEntry::Link { dest, target } => format!("{dest} -> {target}"),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "/usr/share/docs/",
                "/usr/share/docs/a.sh 755",
                "/usr/share/docs/b.txt 644",
                "/usr/share/docs/sub/",
                "/usr/share/docs/sub/c 644"
            ]
        );
        std::os::unix::fs::symlink("/etc/shadow", root.join("z-link")).unwrap();
        let err = expand_adds(&[spec]).unwrap_err().to_string();
        assert!(
            err.contains("z-link") && err.contains("a symbolic link"),
            "{err}"
        );
    }
}
