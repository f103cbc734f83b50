//! `static-image sbom IMAGE_SPEC`: the SBOM an image carries, read from its files (so every
//! transport works, `docker-archive:` included): the top-most `/usr/share/sbom/*.spdx.json` (or
//! `*.cdx.json`, CycloneDX)
//! of the chosen platform.

use std::collections::HashMap;
use std::io::{self, Read};

use super::IMAGE_DIR;
use crate::platform::{Platform, Platforms};
use crate::registry::RegistryOptions;
use crate::ui::Ui;
use crate::verify::image::{ImageVerifyError, open, read_wanted, stacked_tree};
use crate::verify::stack::Kind;

/// The largest document read (a very large dependency tree is a few MB).
const MAX_SBOM: u64 = 64 << 20;

/// Why an image's SBOM could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// The image could not be read.
    #[error(transparent)]
    Image(#[from] ImageVerifyError),
    /// `--platform` names a platform the image lacks.
    #[error("image `{image}` has no {wanted} image (it has: {found})")]
    NoPlatform {
        /// The image.
        image: String,
        /// The platform asked for.
        wanted: Platform,
        /// What it has.
        found: String,
    },
    /// Several platforms and no `--platform`.
    #[error("image `{image}` holds several platforms ({found}); name one with --platform")]
    SeveralPlatforms {
        /// The image.
        image: String,
        /// What it has.
        found: String,
    },
    /// The platform's files hold no SBOM.
    #[error(
        "image `{image}` for {platform} holds no SBOM (no {IMAGE_DIR}/*.spdx.json or *.cdx.json)"
    )]
    Missing {
        /// The image.
        image: String,
        /// The platform.
        platform: Platform,
    },
}

impl SbomError {
    /// What the user can do about it, when there is something specific to say.
    pub fn help(&self) -> Option<String> {
        match self {
            SbomError::Missing { .. } => Some(
                "static-image puts one in every image it makes, unless told `--no-sbom`; \
                 images made by other tools may carry theirs elsewhere or not at all"
                    .into(),
            ),
            _ => None,
        }
    }

    /// Whether the command line asked for something the image cannot answer as asked.
    pub fn is_usage(&self) -> bool {
        matches!(self, SbomError::SeveralPlatforms { .. })
    }
}

/// The platform read, the document's path in the image, and its bytes.
pub type Found = (Platform, String, Vec<u8>);

/// Reads the SBOM of `platform` (or of the only platform) of the image `text` names.
pub fn read(
    text: &str,
    platform: Option<Platform>,
    platforms: &Platforms,
    options: &RegistryOptions,
    ui: &Ui,
) -> Result<Found, SbomError> {
    let (images, _skipped, _store) = open(text, platforms, options, ui)?;
    let found = || {
        images
            .iter()
            .map(|(p, _)| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (platform, image) = match (platform, images.as_slice()) {
        (Some(wanted), _) => {
            images
                .iter()
                .find(|(p, _)| *p == wanted)
                .ok_or_else(|| SbomError::NoPlatform {
                    image: text.to_string(),
                    wanted,
                    found: found(),
                })?
        }
        (None, [only]) => only,
        (None, _) => {
            return Err(SbomError::SeveralPlatforms {
                image: text.to_string(),
                found: found(),
            });
        }
    };
    let prefix = format!("{IMAGE_DIR}/");
    let mut notes = Vec::new();
    let tree = stacked_tree(text, &image.layers, &mut notes)?;
    // The image shows one document per file name; the first by path is printed.
    // Documents in folders below describe added parts (the debug variant's shell). An SPDX
    // document is preferred: an image in SPDX also carries a CycloneDX copy for scanners.
    let find = |suffix: &str| {
        tree.iter().find_map(|(path, node)| {
            let document = path.starts_with(&prefix)
                && !path[prefix.len()..].contains('/')
                && path.ends_with(suffix);
            match (&node.kind, node.content) {
                (Kind::File, Some(content)) if document => Some((path.clone(), content)),
                _ => None,
            }
        })
    };
    let Some((path, content)) = find(".spdx.json").or_else(|| find(".cdx.json")) else {
        return Err(SbomError::Missing {
            image: text.to_string(),
            platform: *platform,
        });
    };
    let mut document: Option<(String, Vec<u8>)> = None;
    let wanted = HashMap::from([(content, path)]);
    read_wanted(text, &image.layers, &wanted, &mut |_, path, entry| {
        let mut bytes = Vec::new();
        entry.take(MAX_SBOM + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_SBOM {
            return Err(io::Error::other(format!(
                "`{path}` is larger than {MAX_SBOM} bytes"
            )));
        }
        document = Some((path.to_string(), bytes));
        Ok(())
    })?;
    let (path, bytes) = document.ok_or_else(|| SbomError::Missing {
        image: text.to_string(),
        platform: *platform,
    })?;
    Ok((*platform, path, bytes))
}
