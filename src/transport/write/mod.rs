//! What every writer shares (stage `write`: an assembled image set to its outputs): the
//! [`ImageSink`] interface, what a sink reports ([`Written`]), its error ([`OutputError`]),
//! the output guard ([`guard`]), and the helpers for atomic targets.
//!
//! Every sink is atomic. A new layout or archive is written to a temporary name beside the
//! target, fsynced, then renamed into place, so a failure leaves nothing and a crash leaves at
//! worst a hidden temporary. Adding a tag to an existing layout writes only the blobs it lacks,
//! then replaces `index.json` by rename under a lock; on failure the blobs it added are removed.
//! A push uploads every blob before any manifest, and a tag is set last, so a failed push
//! leaves no tag naming a partial image.

pub mod guard;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::{ANNOTATION_REF_NAME, Descriptor};
use serde::{Deserialize, Serialize};

use crate::image::ImageSet;
pub use guard::{Input, check_outputs};
pub(crate) use guard::{LayoutTarget, archive_target, layout_target};

/// What a sink wrote.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Written {
    /// The output spec with its reference, as skopeo would take it.
    pub output: String,
    /// The manifest digest.
    pub digest: String,
    /// The references (tags) written.
    pub references: Vec<String>,
    /// For a push: what was pushed and which blobs were sent.
    // Runs that push are never replayed (see `replay`), so a record never holds this.
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub pushed: Option<Pushed>,
}

/// What a push did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Pushed {
    /// `HOST/REPO@sha256:…`: exactly what was pushed.
    pub reference: String,
    /// Blobs uploaded.
    pub uploaded: Vec<String>,
    /// Blobs mounted from another repository of the registry.
    pub mounted: Vec<String>,
    /// Blobs the repository had already.
    pub existing: Vec<String>,
    /// The SBOM artifacts pushed, which refer to the images.
    pub referrers: Vec<String>,
}

/// Why an output could not be written. Nothing was left half-written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file or directory of the output could not be created or written.
    #[error("cannot write `{path}`")]
    Write {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The target exists and is something else.
    #[error("`{path}` exists and is not {expected}")]
    NotOurs {
        /// The target.
        path: PathBuf,
        /// What it should have been ("an OCI image layout").
        expected: &'static str,
    },
    /// A docker-archive was asked to hold several platforms.
    #[error(
        "`{path}`: a docker-archive holds one platform; write several platforms to `oci:` or `oci-archive:`, or build one `--platform`"
    )]
    OnePlatform {
        /// The archive.
        path: PathBuf,
    },
    /// A registry refused or failed the push.
    #[error("cannot push to `{target}`")]
    Push {
        /// The output.
        target: String,
        /// Why (boxed: errors travel by value).
        #[source]
        source: Box<crate::registry::RegistryError>,
    },
    /// An output that cannot be written as asked.
    #[error("{0}")]
    Usage(String),
    /// An output names the same file or directory as another output or an input, or lies
    /// inside it (or holds it).
    #[error("output `{path}` is or overlaps {role} `{other}`")]
    Overlap {
        /// The output as given.
        path: PathBuf,
        /// The other path as given.
        other: PathBuf,
        /// What the other path is ("another output", "the binary").
        role: &'static str,
    },
    /// An existing layout could not be read or is broken.
    #[error("existing OCI layout `{path}` is unreadable: {detail}")]
    BadLayout {
        /// The layout directory.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl OutputError {
    /// What the user can do about it, when there is something specific to say.
    pub fn help(&self) -> Option<String> {
        match self {
            OutputError::Write { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied
                    || source.raw_os_error() == Some(30) =>
            {
                Some("choose a writable location with `--output`".into())
            }
            OutputError::Write { source, .. } if source.raw_os_error() == Some(28) => Some(
                "that filesystem is full: free space there or choose another place with \
                 `--output`; nothing was left half-written"
                    .into(),
            ),
            OutputError::Overlap { .. } => Some(
                "give each output its own path, apart from the files the run reads (binaries, \
                 `--add` sources, CA files, `--base`)"
                    .into(),
            ),
            OutputError::NotOurs { .. } => {
                Some("choose another path with `--output`, or remove what is there".into())
            }
            OutputError::Push { source, .. } => source.help(),
            _ => None,
        }
    }

    /// Whether the outputs asked for cannot be written as given (exit 2, as a bad flag).
    pub fn is_usage(&self) -> bool {
        matches!(self, OutputError::Usage(_) | OutputError::Overlap { .. })
    }
}

/// Writes images somewhere. One implementation per transport.
pub trait ImageSink {
    /// Writes `set` under the sink's references, atomically.
    fn write(&self, set: &ImageSet) -> Result<Written, OutputError>;
}

/// What sinks need beyond their spec.
#[derive(Clone, Debug, Default)]
pub struct SinkContext {
    /// For progress and `-v` lines.
    pub ui: crate::ui::Ui,
    /// Registry settings (`--insecure`).
    pub registry: crate::registry::RegistryOptions,
    /// Where pushes remember which repositories hold which blobs (for cross-repository
    /// mounts), if anywhere.
    pub known_blobs: Option<PathBuf>,
    /// The layer cache's folder, whose file memo spares hashing a layout's blobs again, if any.
    pub cache_dir: Option<PathBuf>,
}

/// The `index.json` entry for a set under one reference name.
pub(crate) fn index_entry(set: &ImageSet, reference: Option<&str>) -> Descriptor {
    let mut descriptor = set.descriptor();
    if let Some(name) = reference {
        descriptor.set_annotations(Some(
            [(ANNOTATION_REF_NAME.to_string(), name.to_string())].into(),
        ));
    }
    descriptor
}

/// The index entries for a set: one per reference name, or one untagged.
pub(crate) fn index_entries(set: &ImageSet, references: &[String]) -> Vec<Descriptor> {
    if references.is_empty() {
        return vec![index_entry(set, None)];
    }
    references
        .iter()
        .map(|r| index_entry(set, Some(r)))
        .collect()
}

/// The canonical bytes of an OCI image index listing `manifests`.
pub(crate) fn index_document(
    manifests: Vec<Descriptor>,
    target: &Path,
) -> Result<Vec<u8>, OutputError> {
    let index = oci_spec::image::ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(oci_spec::image::MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(io::Error::other)
        .map_err(write_error(target))?;
    crate::image::blob::canonical_json(&index)
        .map_err(io::Error::from)
        .map_err(write_error(target))
}

/// Blobs in order, each once (two layers, or two platforms' configs, may be identical).
pub(crate) fn unique<'a>(
    blobs: impl Iterator<Item = &'a crate::image::blob::Blob>,
) -> Vec<&'a crate::image::blob::Blob> {
    let mut seen = std::collections::HashSet::new();
    blobs.filter(|b| seen.insert(b.digest.clone())).collect()
}

/// Maps an I/O error at `path` to [`OutputError::Write`].
pub(crate) fn write_error(path: &Path) -> impl Fn(io::Error) -> OutputError + use<> {
    let path = path.to_owned();
    move |source| OutputError::Write {
        path: path.clone(),
        source,
    }
}

/// Creates `dir`'s missing ancestors and `dir`; returns those it created, outermost first,
/// so a failed write can remove them again.
pub(crate) fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(d) = cursor {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_owned());
        cursor = d.parent();
    }
    missing.reverse();
    for (i, d) in missing.iter().enumerate() {
        if let Err(source) = fs::create_dir(d) {
            remove_created(&missing[..i]);
            return Err(OutputError::Write {
                path: d.clone(),
                source,
            });
        }
    }
    Ok(missing)
}

/// Removes directories [`create_dirs`] made, innermost first, if they are still empty.
pub(crate) fn remove_created(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = fs::remove_dir(d);
    }
}

/// The directory holding `path` (`.` for a bare name).
pub(crate) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Flushes a directory's entries to disk, so a rename into it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
