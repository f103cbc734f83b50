//! The one grammar for naming an image, read or written: `--output`, `--base`, `verify IMAGE`
//! and `sbom IMAGE` all parse their words here.
//!
//! The names are skopeo's transports, so users already know them: `oci:DIR[:REF]`,
//! `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REPO[:TAG]]`,
//! `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`. As in skopeo, the first `:` after a file
//! transport ends the path.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::name::{DockerRef, NameError, RegistryRef, check_ref_name};

/// The transports, as a word starts with them; `docker://` is the only one with slashes.
const TRANSPORTS: [&str; 4] = ["oci:", "oci-archive:", "docker-archive:", "docker://"];

/// How the grammar is summed up in messages.
const SUPPORTED: &str = "oci:DIR[:TAG], oci-archive:FILE[:TAG], \
                         docker-archive:FILE[:REPO:TAG], docker://HOST/REPO[:TAG]";

/// An image, named by its transport and where it is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// `oci:DIR[:REF]`: an OCI image layout directory.
    Oci {
        /// The layout directory.
        dir: PathBuf,
        /// The `org.opencontainers.image.ref.name` to give the image, or to pick (else the
        /// layout's only image).
        reference: Option<String>,
    },
    /// `oci-archive:FILE[:REF]`: an OCI image layout in a tar file.
    OciArchive {
        /// The tar file.
        file: PathBuf,
        /// The ref name.
        reference: Option<String>,
    },
    /// `docker-archive:FILE[:REPO[:TAG]]`: what `docker save` writes and `docker load` takes.
    DockerArchive {
        /// The tar file.
        file: PathBuf,
        /// The repository and tag.
        reference: Option<DockerRef>,
    },
    /// `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`: an image in a registry.
    Registry(RegistryRef),
}

/// Why a word names no image.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// No `TRANSPORT:` prefix.
    #[error("`{text}` names no transport; write e.g. `oci:{text}` (supported: {SUPPORTED})")]
    NoTransport {
        /// The word.
        text: String,
    },
    /// A file transport with nothing after the `:`.
    #[error("`{text}` names no path")]
    NoPath {
        /// The word.
        text: String,
    },
    /// A transport skopeo knows that this tool does not read or write.
    #[error("the `{transport}:` transport is not supported; supported: {SUPPORTED}")]
    Unsupported {
        /// `docker-daemon`, `containers-storage`, `dir`.
        transport: String,
    },
    /// `docker:NAME`, which skopeo spells `docker://NAME`.
    #[error("`{text}`: a registry is named `docker://HOST[:PORT]/REPO[:TAG]`")]
    DockerSlashes {
        /// The word.
        text: String,
    },
    /// A transport nobody knows.
    #[error("unknown transport `{transport}:` in `{text}`; supported: {SUPPORTED}")]
    Unknown {
        /// What came before the first `:`.
        transport: String,
        /// The word.
        text: String,
    },
    /// A malformed name after the transport.
    #[error(transparent)]
    Name(#[from] NameError),
}

impl ImageRef {
    /// Whether `word` starts with a transport this tool knows, so it is meant as an image
    /// (well-formed or not) rather than a file.
    pub fn names_transport(word: &str) -> bool {
        TRANSPORTS.iter().any(|t| word.starts_with(t))
    }

    /// The file or directory of a local image (a layout or an archive); `None` for a registry.
    pub fn local_path(&self) -> Option<&std::path::Path> {
        match self {
            ImageRef::Oci { dir: path, .. }
            | ImageRef::OciArchive { file: path, .. }
            | ImageRef::DockerArchive { file: path, .. } => Some(path),
            ImageRef::Registry(_) => None,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (transport, path, reference) = match self {
            ImageRef::Registry(reference) => return write!(f, "{reference}"),
            ImageRef::Oci { dir, reference } => ("oci", dir, reference.clone()),
            ImageRef::OciArchive { file, reference } => ("oci-archive", file, reference.clone()),
            ImageRef::DockerArchive { file, reference } => (
                "docker-archive",
                file,
                reference.as_ref().map(|r| r.to_string()),
            ),
        };
        write!(f, "{transport}:{}", path.display())?;
        match reference {
            Some(r) => write!(f, ":{r}"),
            None => Ok(()),
        }
    }
}

impl FromStr for ImageRef {
    type Err = RefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("docker://") {
            return Ok(ImageRef::Registry(rest.parse()?));
        }
        let Some((transport, rest)) = s.split_once(':') else {
            return Err(RefError::NoTransport { text: s.into() });
        };
        let (path, reference) = match rest.split_once(':') {
            Some((path, reference)) => (path, Some(reference)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(RefError::NoPath { text: s.into() });
        }
        let path = PathBuf::from(path);
        let ref_name = || reference.map(check_ref_name).transpose();
        match transport {
            "oci" => Ok(ImageRef::Oci {
                dir: path,
                reference: ref_name()?,
            }),
            "oci-archive" => Ok(ImageRef::OciArchive {
                file: path,
                reference: ref_name()?,
            }),
            "docker-archive" => Ok(ImageRef::DockerArchive {
                file: path,
                reference: reference.map(str::parse).transpose()?,
            }),
            "docker-daemon" | "containers-storage" | "dir" => Err(RefError::Unsupported {
                transport: transport.into(),
            }),
            "docker" => Err(RefError::DockerSlashes { text: s.into() }),
            _ => Err(RefError::Unknown {
                transport: transport.into(),
                text: s.into(),
            }),
        }
    }
}

/// What the debug variant's tags end with: `v1` → `v1-debug`.
pub const DEBUG_SUFFIX: &str = "-debug";

impl ImageRef {
    /// Where an image's debug variant goes: the same layout or repository under the tag with
    /// `-debug` appended (`oci:DIR:v1-debug`, `docker://HOST/REPO:v1-debug`); an archive holds
    /// one image, so the variant gets its own archive beside it, `-debug` before the file's
    /// extension (`app.tar` → `app-debug.tar`), its reference named the same way.
    pub fn debug_variant(&self) -> ImageRef {
        let tag = |t: &str| format!("{t}{DEBUG_SUFFIX}");
        let file = |f: &std::path::Path| {
            let stem = f.file_stem().unwrap_or_default().to_string_lossy();
            let name = match f.extension() {
                Some(ext) => format!("{stem}{DEBUG_SUFFIX}.{}", ext.to_string_lossy()),
                None => format!("{stem}{DEBUG_SUFFIX}"),
            };
            f.with_file_name(name)
        };
        match self {
            ImageRef::Oci { dir, reference } => ImageRef::Oci {
                dir: dir.clone(),
                reference: reference.as_deref().map(tag),
            },
            ImageRef::OciArchive { file: f, reference } => ImageRef::OciArchive {
                file: file(f),
                reference: reference.as_deref().map(tag),
            },
            ImageRef::DockerArchive { file: f, reference } => ImageRef::DockerArchive {
                file: file(f),
                reference: reference.as_ref().map(|r| DockerRef {
                    repo: r.repo.clone(),
                    tag: tag(&r.tag),
                }),
            },
            ImageRef::Registry(r) => ImageRef::Registry(RegistryRef {
                tag: r.tag.as_deref().map(tag),
                ..r.clone()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ImageRef, String> {
        s.parse().map_err(|e: RefError| e.to_string())
    }

    #[test]
    fn parses_skopeo_style_names() {
        assert_eq!(
            parse("oci:out/layout:v1.2").unwrap(),
            ImageRef::Oci {
                dir: "out/layout".into(),
                reference: Some("v1.2".into())
            }
        );
        assert_eq!(
            parse("oci-archive:/tmp/a.tar").unwrap(),
            ImageRef::OciArchive {
                file: "/tmp/a.tar".into(),
                reference: None
            }
        );
        let docker = parse("docker-archive:a.tar:localhost:5000/team/app").unwrap();
        assert_eq!(
            docker.to_string(),
            "docker-archive:a.tar:localhost:5000/team/app:latest"
        );
        let docker = parse("docker-archive:a.tar:app:v1").unwrap();
        assert_eq!(docker.to_string(), "docker-archive:a.tar:app:v1");
        assert_eq!(
            parse("docker://127.0.0.1:5000/base:1").unwrap(),
            ImageRef::Registry("127.0.0.1:5000/base:1".parse().unwrap())
        );
        for text in [
            "oci:base:v1",
            "oci-archive:/b.tar",
            "docker://h.example/a:1",
        ] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn refuses_what_names_no_image_with_the_reason() {
        for (text, why) in [
            ("out/layout", "write e.g. `oci:out/layout`"),
            ("docker-daemon:app:v1", "not supported"),
            ("docker:localhost/app", "docker://HOST"),
            ("zip:x", "unknown transport `zip:`"),
            ("oci:", "names no path"),
            // An empty or malformed ref name is a typo, for a read as for a write.
            ("oci:x:", "not a valid image reference"),
            ("oci-archive:x:-bad", "not a valid image reference"),
            ("docker-archive:a.tar:App:v1", "repository"),
            ("docker-archive:a.tar:app:-v1", "tag"),
            (
                "docker://registry.example/App",
                "`App` is not a valid repository name",
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn a_word_with_a_transport_is_meant_as_an_image() {
        assert!(ImageRef::names_transport("docker://h/app"));
        assert!(ImageRef::names_transport("oci:"));
        assert!(!ImageRef::names_transport("./app"));
        assert!(!ImageRef::names_transport("docker:app"));
    }

    #[test]
    fn debug_variants_go_beside_their_image() {
        let variant = |s: &str| s.parse::<ImageRef>().unwrap().debug_variant().to_string();
        assert_eq!(variant("oci:out/app:v1"), "oci:out/app:v1-debug");
        assert_eq!(variant("oci:out/app"), "oci:out/app");
        assert_eq!(
            variant("oci-archive:out/app.tar"),
            "oci-archive:out/app-debug.tar"
        );
        assert_eq!(
            variant("docker-archive:app.tar:team/app:v1"),
            "docker-archive:app-debug.tar:team/app:v1-debug"
        );
        assert_eq!(
            variant("docker://127.0.0.1:5000/app:v1"),
            "docker://127.0.0.1:5000/app:v1-debug"
        );
        assert_eq!(variant("oci-archive:image"), "oci-archive:image-debug");
    }
}
