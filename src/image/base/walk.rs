//! Walking an image index down to the manifests it names.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use super::{
    BaseError, BlobSource, EveryPlatform, image_at, image_of, invalid, parse_manifest, read_config,
};
use crate::image::blob::BlobStore;
use crate::platform::Platform;

/// Whether an index entry's platform is `platform`: same architecture, and the same variant
/// when both name one.
pub(super) fn platform_matches(platform: Platform, arch: &str, variant: Option<&str>) -> bool {
    platform.arch() == arch
        && match (platform.variant(), variant) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        }
}

pub(super) fn every_platform(
    source: &dyn BlobSource,
    spec: &str,
    root: &Descriptor,
    store: &BlobStore,
    found: &mut EveryPlatform,
) -> Result<(), BaseError> {
    let known = |arch: &str, variant: Option<&str>| {
        Platform::all()
            .into_iter()
            .find(|p| platform_matches(*p, arch, variant))
    };
    if !is_index(root.media_type()) {
        let manifest = parse_manifest(spec, &source.document(root)?)?;
        let config = read_config(source, spec, &manifest)?;
        let arch = config.architecture().to_string();
        match known(&arch, config.variant().as_deref()) {
            Some(platform) => {
                let digest = root.digest().to_string();
                let image = image_of(source, spec, digest, &manifest, config, platform, store)?;
                found.0.push((platform, image));
            }
            None => found.1.push(format!("{}/{arch}", config.os())),
        }
        return Ok(());
    }
    let index: ImageIndex = serde_json::from_slice(&source.document(root)?)
        .map_err(|e| invalid(spec, format!("its image index is not valid: {e}")))?;
    for entry in index.manifests() {
        if entry.artifact_type().is_some() {
            continue;
        }
        if is_index(entry.media_type()) {
            every_platform(source, spec, entry, store, found)?;
            continue;
        }
        let Some(p) = entry.platform() else {
            found.1.push(format!("{} (no platform)", entry.digest()));
            continue;
        };
        let arch = p.architecture().to_string();
        match known(&arch, p.variant().as_deref()).filter(|_| p.os().to_string() == "linux") {
            Some(platform) => found
                .0
                .push((platform, image_at(source, spec, entry, platform, store)?)),
            None => found.1.push(format!("{}/{arch}", p.os())),
        }
    }
    Ok(())
}

/// Whether a media type is an image index (OCI) or a manifest list (Docker).
pub(super) fn is_index(media_type: &MediaType) -> bool {
    let media = media_type.to_string();
    media == MediaType::ImageIndex.to_string()
        || media == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// Follows an index entry to the manifest for `platform` (through a nested index).
pub(super) fn manifest_for(
    source: &dyn BlobSource,
    spec: &str,
    entry: &Descriptor,
    platform: Platform,
) -> Result<(String, ImageManifest), BaseError> {
    let bytes = source.document(entry)?;
    if !is_index(entry.media_type()) {
        return Ok((entry.digest().to_string(), parse_manifest(spec, &bytes)?));
    }
    let index: ImageIndex = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(spec, format!("its image index is not valid: {e}")))?;
    let found = index.manifests().iter().find(|d| {
        d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == "linux"
                && platform_matches(
                    platform,
                    &p.architecture().to_string(),
                    p.variant().as_deref(),
                )
        })
    });
    match found {
        Some(d) => manifest_for(source, spec, d, platform),
        None => Err(BaseError::NoPlatform {
            spec: spec.to_string(),
            platform,
            available: index
                .manifests()
                .iter()
                .filter_map(|d| d.platform().as_ref())
                .map(|p| format!("{}/{}", p.os(), p.architecture()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
