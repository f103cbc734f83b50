//! `docker-archive:FILE[:REPO[:TAG]]`: what a Docker archive adds to an OCI archive.
//!
//! The archive is an OCI layout in a tar, as [`super::archive`] writes and reads it, plus
//! Docker's `manifest.json` (`Config`, `RepoTags`, `Layers`, paths into `blobs/`), which is
//! what `docker save` has written since Docker 25: older `docker load` reads `manifest.json`,
//! newer readers and skopeo may read either, and blobs are stored once. Its `index.json`
//! entries are named by tag, with containerd's full image name beside, so a read picks an
//! entry by the tag of `REPO:TAG` (see [`super::load`]).

use std::io;

use oci_spec::image::Descriptor;
use serde::Serialize;

use crate::image::{Image, ImageSet};
use crate::transport::name::{DockerRef, registry_host};
use crate::transport::write::index_entry;

/// containerd's annotation for the full image name, which `docker save` writes into index.json.
const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

/// One entry of Docker's `manifest.json`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// The `index.json` entries of a docker archive: one per repository:tag, named by the tag and
/// by the full name containerd gives the image.
pub(crate) fn index_entries(image: &ImageSet, refs: &[DockerRef]) -> Vec<Descriptor> {
    refs.iter()
        .map(|r| {
            let mut entry = index_entry(image, Some(&r.tag));
            let mut annotations = entry.annotations().clone().unwrap_or_default();
            annotations.insert(CONTAINERD_IMAGE_NAME.into(), full_name(r));
            entry.set_annotations(Some(annotations));
            entry
        })
        .collect()
}

/// `docker.io/library/app:latest` for `app:latest`, as containerd names images.
fn full_name(r: &DockerRef) -> String {
    if registry_host(&r.repo).is_some() {
        r.to_string()
    } else if r.repo.contains('/') {
        format!("docker.io/{r}")
    } else {
        format!("docker.io/library/{r}")
    }
}

/// Docker's `manifest.json` for one image under `refs`.
pub(crate) fn manifest(image: &Image, refs: &[DockerRef]) -> io::Result<Vec<u8>> {
    let path = |hex: &str| format!("blobs/sha256/{hex}");
    let manifest = [DockerManifest {
        config: path(image.config.hex()),
        repo_tags: refs.iter().map(|r| r.to_string()).collect(),
        layers: image.layers.iter().map(|l| path(l.blob.hex())).collect(),
    }];
    Ok(serde_json::to_vec(&manifest)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_names_are_fully_qualified() {
        let r = |s: &str| s.parse::<DockerRef>().unwrap();
        assert_eq!(full_name(&r("app:v1")), "docker.io/library/app:v1");
        assert_eq!(full_name(&r("team/app")), "docker.io/team/app:latest");
        assert_eq!(
            full_name(&r("localhost:5000/app:v1")),
            "localhost:5000/app:v1"
        );
        assert_eq!(full_name(&r("ghcr.io/o/app:v1")), "ghcr.io/o/app:v1");
    }
}
