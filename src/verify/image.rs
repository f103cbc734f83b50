//! `verify IMAGE_SPEC`: every ELF file of every platform of an image, from any transport the
//! tool reads (`oci:`, `oci-archive:`, a `docker-archive:` holding an OCI index, `docker://`),
//! made by any tool.
//!
//! Each platform's layers are read top-down as the runtime would stack them: a file replaced or
//! removed (a `.wh.` whiteout, an opaque directory) by a higher layer is not judged by its lower
//! copy. Every remaining regular file that starts with the ELF magic is verified against the
//! platform of the manifest it came from: no interpreter, no needed libraries, the right
//! machine. The entrypoint must be one of the files there. This is the check that catches the
//! classic `exec /app: no such file or directory` before the image ships.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serde::Serialize;

use super::{StaticReport, verify_bytes};
use crate::image::base::{self, BaseImage, BaseSpec};
use crate::image::blob::BlobStore;
use crate::image::layer::Layer;
use crate::platform::Platform;
use crate::registry::RegistryOptions;
use crate::ui::Ui;

/// The verdict on one platform's image.
#[derive(Clone, Debug, Serialize)]
pub struct PlatformVerdict {
    /// The platform of its manifest.
    pub platform: Platform,
    /// Its manifest's digest.
    pub digest: String,
    /// The entrypoint its config names, if any.
    pub entrypoint: Option<String>,
    /// Every ELF file in its final filesystem, checked.
    pub files: Vec<StaticReport>,
    /// What is wrong beyond single files (a missing entrypoint, ELF files that do not parse).
    pub problems: Vec<String>,
    /// What is odd but harmless (a layer tar without its end blocks).
    pub notes: Vec<String>,
    /// No file has a problem and nothing else is wrong.
    pub ok: bool,
}

/// The verdict on an image.
#[derive(Clone, Debug, Serialize)]
pub struct ImageVerdict {
    /// The image, as named.
    pub image: String,
    /// Each platform the tool knows, in the order the image lists them.
    pub platforms: Vec<PlatformVerdict>,
    /// Manifests for platforms the tool has no ELF machine for, not checked.
    pub skipped: Vec<String>,
    /// Every platform is ok.
    pub ok: bool,
}

/// Why an image could not be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum ImageVerifyError {
    /// The image could not be read.
    #[error(transparent)]
    Read(#[from] base::BaseError),
    /// A layer could not be decompressed or its tar read.
    #[error("image `{image}`: layer `{digest}` cannot be read as a {media_type} tar")]
    Layer {
        /// The image.
        image: String,
        /// The layer's digest.
        digest: String,
        /// Its media type.
        media_type: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The staging area could not be made.
    #[error("cannot create a staging directory for the image's blobs")]
    Staging(#[source] io::Error),
    /// The image holds no platform the tool can check.
    #[error("image `{image}` holds no platform this tool knows (it has: {found})")]
    NoPlatform {
        /// The image.
        image: String,
        /// What it has.
        found: String,
    },
}

/// Whether a command-line word names an image rather than a file.
pub fn is_image_spec(word: &str) -> bool {
    ["oci:", "oci-archive:", "docker-archive:", "docker://"]
        .iter()
        .any(|t| word.starts_with(t))
        && !Path::new(word).exists()
}

/// Verifies every platform of the image `spec` names (`docker-archive:` is read as the OCI
/// archive it also is).
pub fn verify_image(
    text: &str,
    options: &RegistryOptions,
    ui: &Ui,
) -> Result<ImageVerdict, ImageVerifyError> {
    let (images, skipped, _store) = open(text, options, ui)?;
    let mut platforms = Vec::new();
    for (platform, image) in &images {
        platforms.push(verify_platform(text, *platform, image)?);
    }
    let ok = platforms.iter().all(|p| p.ok);
    Ok(ImageVerdict {
        image: text.to_string(),
        platforms,
        skipped,
        ok,
    })
}

/// Every platform of the image `text` names that the tool knows, the others' names, and the
/// store holding their blobs (which lives as long as it).
pub(crate) type Opened = (Vec<(Platform, BaseImage)>, Vec<String>, BlobStore);

/// Opens the image `text` names, from any transport (`docker-archive:` is read as the OCI
/// archive it also is); an image with no platform the tool knows is an error.
pub(crate) fn open(
    text: &str,
    options: &RegistryOptions,
    ui: &Ui,
) -> Result<Opened, ImageVerifyError> {
    let spec: BaseSpec = match text.strip_prefix("docker-archive:") {
        Some(rest) => format!("oci-archive:{rest}").parse(),
        None => text.parse(),
    }
    .map_err(|detail: String| base::BaseError::Invalid {
        spec: text.to_string(),
        // The spec is named once, by the error itself.
        detail: detail
            .trim_start_matches(&format!("`{text}`: "))
            .to_string(),
    })?;
    let store = BlobStore::new().map_err(ImageVerifyError::Staging)?;
    let (images, skipped) = base::load_every_platform(&spec, &store, options, ui)?;
    if images.is_empty() {
        return Err(ImageVerifyError::NoPlatform {
            image: text.to_string(),
            found: if skipped.is_empty() {
                "nothing".into()
            } else {
                skipped.join(", ")
            },
        });
    }
    Ok((images, skipped, store))
}

fn verify_platform(
    text: &str,
    platform: Platform,
    image: &BaseImage,
) -> Result<PlatformVerdict, ImageVerifyError> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let present = scan(text, &image.layers, &mut notes, &mut |path, entry| {
        let mut magic = [0u8; 4];
        if entry.read_exact(&mut magic).is_err() || magic != *b"\x7fELF" {
            return Ok(());
        }
        let mut bytes = magic.to_vec();
        entry.read_to_end(&mut bytes)?;
        match verify_bytes(Path::new(path), &bytes, Some(platform)) {
            Ok(report) => files.push(report),
            // A shared library or object file is no program of ours to judge.
            Err(super::VerifyError::NotExecutable { .. }) => {}
            Err(e) => problems.push(e.to_string()),
        }
        Ok(())
    })?;
    let entrypoint = image
        .config
        .config()
        .as_ref()
        .and_then(|c| c.entrypoint().as_ref())
        .and_then(|e| e.first().cloned());
    if let Some(entry) = entrypoint.as_deref().filter(|e| e.starts_with('/'))
        && !present.contains(normal(entry).as_str())
    {
        problems.push(format!(
            "the entrypoint `{entry}` is not in the image: it would fail with \
             `exec {entry}: no such file or directory`"
        ));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let ok = problems.is_empty() && files.iter().all(|f| f.ok);
    Ok(PlatformVerdict {
        platform,
        digest: image.digest.clone(),
        entrypoint,
        files,
        problems,
        notes,
        ok,
    })
}

/// A path as the image's filesystem names it: `/a/b`, no `./`, no trailing `/`.
fn normal(path: &str) -> String {
    let trimmed = path.trim_start_matches("./").trim_matches('/');
    format!("/{trimmed}")
}

/// Reads the layers top-down, handing every regular file of the final filesystem to
/// `on_file` (top layer first); returns every path present in it.
pub(crate) fn scan(
    text: &str,
    layers: &[Layer],
    notes: &mut Vec<String>,
    on_file: &mut dyn FnMut(&str, &mut dyn Read) -> io::Result<()>,
) -> Result<HashSet<String>, ImageVerifyError> {
    let mut present: HashSet<String> = HashSet::new();
    // Paths removed by a higher layer, and directories a higher layer made opaque.
    let mut removed: HashSet<String> = HashSet::new();
    let mut opaque: HashSet<String> = HashSet::new();
    for layer in layers.iter().rev() {
        let layer_error = |source| ImageVerifyError::Layer {
            image: text.to_string(),
            digest: layer.blob.digest.clone(),
            media_type: layer.blob.media_type.to_string(),
            source,
        };
        let reader =
            decompressed(&layer.blob.path, layer.blob.media_type.as_ref()).map_err(layer_error)?;
        let mut archive = tar::Archive::new(reader);
        let (mut added, mut now_removed, mut now_opaque) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        for entry in archive.entries().map_err(layer_error)? {
            let mut entry = match entry {
                Ok(entry) => entry,
                // The stream ended between entries, where tar's padding and end blocks belong:
                // every entry before was whole (umoci 0.4 writes single-file layers this way).
                // (The tar crate reports it as an `Other` error whose text says so.)
                Err(e)
                    if e.kind() == io::ErrorKind::UnexpectedEof
                        || e.to_string().contains("unexpected EOF") =>
                {
                    notes.push(format!(
                        "layer `{}` ends without tar's end-of-archive blocks",
                        layer.blob.digest
                    ));
                    break;
                }
                Err(e) => return Err(layer_error(e)),
            };
            let raw = entry
                .path()
                .map_err(layer_error)?
                .to_string_lossy()
                .into_owned();
            let path = normal(&raw);
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
            if name == ".wh..wh..opq" {
                now_opaque.insert(normal(dir));
                continue;
            }
            if let Some(gone) = name.strip_prefix(".wh.") {
                now_removed.insert(normal(&format!("{dir}/{gone}")));
                continue;
            }
            let hidden = present.contains(&path)
                || ancestors(&path).any(|a| removed.contains(a) || opaque.contains(a))
                || removed.contains(&path);
            if hidden {
                continue;
            }
            added.insert(path.clone());
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            on_file(&path, &mut entry).map_err(layer_error)?;
        }
        present.extend(added);
        removed.extend(now_removed);
        opaque.extend(now_opaque);
    }
    Ok(present)
}

/// `/a/b/c` → `/a/b`, `/a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        let (dir, _) = rest.rsplit_once('/')?;
        rest = dir;
        (!dir.is_empty()).then_some(dir)
    })
}

/// A layer blob's tar stream, by its media type (OCI or Docker).
pub(crate) fn decompressed(path: &Path, media_type: &str) -> io::Result<Box<dyn Read>> {
    let file = BufReader::new(File::open(path)?);
    Ok(
        if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
            Box::new(zstd::stream::read::Decoder::new(file)?)
        } else if media_type.ends_with("gzip") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_their_ancestors() {
        assert_eq!(normal("./usr/bin/ls"), "/usr/bin/ls");
        assert_eq!(normal("app/"), "/app");
        assert_eq!(
            ancestors("/usr/bin/ls").collect::<Vec<_>>(),
            vec!["/usr/bin", "/usr"]
        );
        assert!(is_image_spec("docker://h/app"));
        assert!(!is_image_spec("./app"));
    }
}
