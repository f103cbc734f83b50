//! Image transports: where images are read from and written to, one module per transport,
//! each reading and writing, as go-containerregistry groups `layout/` and `remote/`.
//!
//! | transport | module | reads | writes |
//! |---|---|---|---|
//! | `oci:DIR[:REF]` | [`layout`] | the layout on disk | a new layout, or an entry merged into one |
//! | `oci-archive:FILE[:REF]` | [`archive`] | unpacked into a private folder, then as a layout | a tar of a layout |
//! | `docker-archive:FILE[:REPO[:TAG]]` | [`archive`], [`docker_archive`] | as the OCI archive it also is | a tar of a layout plus Docker's `manifest.json` |
//! | `docker://HOST/REPO[:TAG\|@DIGEST]` | [`remote`] | pulled through [`crate::registry`] | pushed |
//!
//! What every reader shares (the hostile-input guards: limits, index walk, blob checks) is in
//! [`read`]; what every writer shares (atomic targets, the output guard) in [`write`]. The
//! transports sit behind an enum dispatch on the parsed name rather than a trait object: the
//! set is closed by the grammar, and each transport needs different data to open.

pub mod archive;
pub mod docker_archive;
pub mod layout;
pub mod name;
pub mod read;
pub mod reference;
pub mod remote;
pub mod write;

use std::fs;

use oci_spec::image::Descriptor;

use crate::image::blob::BlobStore;
use crate::platform::{Platform, Platforms};
use crate::registry::{Client, RegistryOptions};
use crate::ui::Ui;
use layout::read::Layout;
use name::{DockerRef, repo_from_name};
use read::walk::{Budgeted, every_platform};
use read::{BlobSource, EveryPlatform, image_at};
use remote::pull::Remote;
use write::guard::{self, LayoutTarget, archive_target, layout_target};

pub use crate::image::spec::BaseImage;
pub use name::{NameError, RegistryRef, check_tag};
pub use read::BaseError;
pub use read::limits::MaxBlobSize;
pub use reference::{ImageRef, RefError};
pub use write::{ImageSink, Input, OutputError, SinkContext, Written, check_outputs};

/// Reads the base image named by `spec` for each of `platforms`, copying its blobs into `store`.
pub fn load(
    spec: &ImageRef,
    platforms: &[Platform],
    store: &BlobStore,
    options: &RegistryOptions,
    ui: &Ui,
) -> Result<Vec<BaseImage>, BaseError> {
    let name = spec.to_string();
    let opened = Opened::open(spec, &name, options, ui)?;
    let source = &Budgeted::new(opened.source(), &name);
    let root = opened.root(reference_of(spec))?;
    // A pulled base is named as pullers write it, without the transport.
    let base_name = match spec {
        ImageRef::Registry(r) => match &r.digest {
            Some(d) => r.with_digest(d.as_ref()),
            None => format!(
                "{}/{}:{}",
                r.registry,
                r.repository,
                r.tag.as_deref().unwrap_or("latest")
            ),
        },
        _ => name.clone(),
    };
    platforms
        .iter()
        .map(|p| {
            let mut image = image_at(source, &name, &root, *p, store)?;
            image.name = base_name.clone();
            Ok(image)
        })
        .collect()
}

/// Every platform's image in the image `spec` names, its blobs copied into `store` and each
/// checked against its descriptor: what `verify IMAGE` reads. Platforms the tool has no row
/// for (`linux/s390x`, attestation manifests) are named in the second list, unread.
pub fn load_every_platform(
    spec: &ImageRef,
    store: &BlobStore,
    platforms: &Platforms,
    options: &RegistryOptions,
    ui: &Ui,
) -> Result<EveryPlatform, BaseError> {
    let name = spec.to_string();
    let opened = Opened::open(spec, &name, options, ui)?;
    let root = opened.root(reference_of(spec))?;
    let mut found = (Vec::new(), Vec::new());
    let source = Budgeted::new(opened.source(), &name);
    every_platform(&source, &name, &root, store, platforms, &mut found)?;
    Ok(found)
}

/// The index (when the image has one) and each platform manifest of the image `spec` names,
/// with the artifacts referring to each: what `verify --key` checks.
pub fn attached(
    spec: &ImageRef,
    platforms: &Platforms,
    options: &RegistryOptions,
    ui: &Ui,
) -> Result<Vec<read::attached::Subject>, BaseError> {
    let name = spec.to_string();
    let opened = Opened::open(spec, &name, options, ui)?;
    let root = opened.root(reference_of(spec))?;
    let source = Budgeted::new(opened.source(), &name);
    read::attached::subjects(&source, &name, &root, platforms)
}

/// The `index.json` ref name a layout or archive spec picks, if any: a docker-archive's
/// entries are named by their tag, as `docker save` and our writer name them.
fn reference_of(spec: &ImageRef) -> Option<&str> {
    match spec {
        ImageRef::Oci { reference, .. } | ImageRef::OciArchive { reference, .. } => {
            reference.as_deref()
        }
        ImageRef::DockerArchive { reference, .. } => reference.as_ref().map(|r| r.tag.as_str()),
        ImageRef::Registry(_) => None,
    }
}

/// An image source, opened: a layout (an archive unpacked into a private directory first) or a
/// registry repository, connected.
enum Opened<'a> {
    Layout {
        layout: Layout<'a>,
        /// The unpacked archive, removed when dropped.
        _unpacked: Option<crate::staging::Staged>,
    },
    /// Boxed: a connected client is much larger than a path.
    Remote(Box<Remote<'a>>),
}

impl<'a> Opened<'a> {
    fn open(
        spec: &'a ImageRef,
        name: &'a str,
        options: &RegistryOptions,
        ui: &Ui,
    ) -> Result<Opened<'a>, BaseError> {
        Ok(match spec {
            ImageRef::Oci { dir, .. } => Opened::Layout {
                layout: Layout::new(dir.clone(), name, options.max_blob_size),
                _unpacked: None,
            },
            // A docker-archive is read as the OCI archive it also is.
            ImageRef::OciArchive { file, .. } | ImageRef::DockerArchive { file, .. } => {
                let unpacked = archive::read::unpack_archive(file, name, options.max_blob_size)?;
                Opened::Layout {
                    layout: Layout::new(unpacked.path().to_owned(), name, options.max_blob_size),
                    _unpacked: Some(unpacked),
                }
            }
            ImageRef::Registry(reference) => {
                let scopes = vec![format!("repository:{}:pull", reference.repository)];
                let client = Client::connect(reference, scopes, options, ui).map_err(|source| {
                    BaseError::Pull {
                        spec: name.to_string(),
                        source: Box::new(source),
                    }
                })?;
                Opened::Remote(Box::new(Remote {
                    client,
                    reference,
                    spec: name,
                    max: options.max_blob_size,
                    root: std::cell::RefCell::new(None),
                }))
            }
        })
    }

    fn source(&self) -> &dyn BlobSource {
        match self {
            Opened::Layout { layout, .. } => layout,
            Opened::Remote(remote) => remote.as_ref(),
        }
    }

    /// What the spec names: the layout's entry under `reference` (or its only one), or the
    /// registry's manifest or index for the tag or digest.
    fn root(&self, reference: Option<&str>) -> Result<Descriptor, BaseError> {
        match self {
            Opened::Layout { layout, .. } => layout.root_entry(reference),
            Opened::Remote(remote) => remote.root(),
        }
    }
}

impl ImageRef {
    /// Refuses a target that is in the way (a file where a layout goes, a directory where an
    /// archive goes, a non-empty directory that is not a layout) before any work is done.
    /// The sinks check again when they write.
    pub fn preflight(&self) -> Result<(), OutputError> {
        match self {
            ImageRef::Oci { dir, .. } => match layout_target(dir)? {
                // Read as the merge will read it, so a broken layout fails before any work.
                LayoutTarget::Existing => layout::write::check_existing(dir),
                LayoutTarget::New => Ok(()),
            },
            ImageRef::OciArchive { file, .. } | ImageRef::DockerArchive { file, .. } => {
                archive_target(file)
            }
            // A digest names content, which we cannot choose: a push names a tag.
            ImageRef::Registry(reference) => match &reference.digest {
                Some(_) => Err(OutputError::Usage(format!(
                    "`{reference}`: push to a tag, not a digest (the image's digest is known \
                     only once it is built)"
                ))),
                None => Ok(()),
            },
        }
    }
}

impl ImageRef {
    /// Whether writing here would need the bytes of blob `digest`: an existing layout that
    /// holds it whole (a regular file whose SHA-256 is `digest`, remembered in `memo` while
    /// its stamp holds) does not; anything else does.
    pub fn needs_blob(
        &self,
        digest: &str,
        memo: Option<&crate::cache::layers::LayerCache>,
    ) -> bool {
        match self {
            ImageRef::Oci { dir, .. } => {
                digest.is_empty()
                    || !(fs::symlink_metadata(dir.join("oci-layout")).is_ok_and(|m| m.is_file())
                        && guard::check_blob(
                            &crate::image::blob::blob_path(dir, digest),
                            digest,
                            None,
                            memo,
                        ) == guard::BlobState::Whole)
            }
            ImageRef::OciArchive { .. }
            | ImageRef::DockerArchive { .. }
            | ImageRef::Registry(_) => true,
        }
    }
}

/// The sink for a spec. `tags` apply where the spec names no reference; `name` gives the
/// archives' repository when none is named.
pub fn sink_for(
    spec: &ImageRef,
    tags: &[String],
    name: &str,
    context: &SinkContext,
) -> Box<dyn ImageSink> {
    let or_tags = |reference: &Option<String>| match reference {
        Some(r) => vec![r.clone()],
        None => tags.to_vec(),
    };
    match spec {
        ImageRef::Oci { dir, reference } => Box::new(layout::write::LayoutSink {
            dir: dir.clone(),
            references: or_tags(reference),
            ui: context.ui.clone(),
            cache_dir: context.cache_dir.clone(),
        }),
        ImageRef::OciArchive { file, reference } => Box::new(archive::write::ArchiveSink {
            file: file.clone(),
            // `REPO:TAG`, as a docker-archive's `RepoTags`: podman and ctr take a bare tag for
            // the repository and load `v1` as `localhost/v1:latest` or `import-DATE:v1`.
            references: match reference {
                Some(r) => vec![r.clone()],
                None => tags
                    .iter()
                    .map(|t| format!("{}:{t}", repo_from_name(name)))
                    .collect(),
            },
            docker: None,
        }),
        ImageRef::DockerArchive { file, reference } => {
            let refs = match reference {
                Some(r) => vec![r.clone()],
                None => tags
                    .iter()
                    .map(|t| DockerRef {
                        repo: repo_from_name(name),
                        tag: t.clone(),
                    })
                    .collect(),
            };
            Box::new(archive::write::ArchiveSink {
                file: file.clone(),
                references: refs.iter().map(|r| r.tag.clone()).collect(),
                docker: Some(refs),
            })
        }
        ImageRef::Registry(reference) => Box::new(remote::push::RegistrySink {
            reference: reference.clone(),
            tags: or_tags(&reference.tag),
            context: context.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_names_a_tag_not_a_digest() {
        let by_digest: ImageRef = format!("docker://h.example/app@sha256:{}", "b".repeat(64))
            .parse()
            .unwrap();
        let err = by_digest.preflight().unwrap_err().to_string();
        assert!(err.contains("push to a tag, not a digest"), "{err}");
        let by_tag: ImageRef = "docker://h.example/app:v1".parse().unwrap();
        assert!(by_tag.preflight().is_ok());
    }

    #[test]
    fn a_docker_archive_is_read_by_its_tag() {
        let named: ImageRef = "docker-archive:a.tar:team/app:v1".parse().unwrap();
        assert_eq!(reference_of(&named), Some("v1"));
        let bare: ImageRef = "docker-archive:a.tar".parse().unwrap();
        assert_eq!(reference_of(&bare), None);
    }
}
