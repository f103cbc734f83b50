//! `oci:DIR[:REF]`: an OCI image layout directory (image-spec `image-layout.md`).
//!
//! A layout is `oci-layout` (REQUIRED, `{"imageLayoutVersion":"1.0.0"}`), `index.json`
//! (REQUIRED) and `blobs/<alg>/<hex>`. A new layout is built in a hidden temporary directory
//! beside the target and renamed into place. An existing layout keeps every entry it has but
//! those carrying one of our reference names: blobs it lacks are added, then `index.json` is
//! replaced by rename, all under an exclusive lock on the layout directory, so concurrent runs
//! serialise instead of losing each other's tags.
//!
//! An existing layout is untrusted: `oci-layout` and `index.json` must be regular files of at
//! most [`MAX_LAYOUT_FILE`] bytes, `blobs/sha256` a real directory, and a blob already there
//! is kept only when its size and digest match; otherwise ours replaces it. Everything written
//! is 0644 (directories 0755) whatever the umask, so others can read what root wrote.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{ANNOTATION_REF_NAME, Descriptor, ImageIndex, MediaType};

use crate::image::blob::{Blob, as_sha256, blob_path, blob_path_of, canonical_json};
use crate::image::{ImageSet, Referrer};
use crate::staging::{Staged, sweep};
use crate::transport::write::guard::{
    BlobState, MAX_LAYOUT_FILE, check_blob, check_layout_dir, read_layout_file,
};
use crate::transport::write::{
    ImageSink, LayoutTarget, OutputError, Written, create_dirs, index_document, index_entries,
    layout_target, parent_of, remove_created, sync_dir, unique, write_error,
};

/// Writes images into an OCI layout directory.
pub struct LayoutSink {
    /// The layout directory.
    pub dir: PathBuf,
    /// Reference names (tags) to give the image; none leaves it untagged.
    pub references: Vec<String>,
    /// For the `-v` note on a blob that was replaced.
    pub ui: crate::ui::Ui,
    /// The layer cache's folder, whose file memo spares hashing blobs already there again.
    pub cache_dir: Option<PathBuf>,
}

impl ImageSink for LayoutSink {
    fn write(&self, image: &ImageSet) -> Result<Written, OutputError> {
        // What killed runs left beside the layout or inside it.
        sweep(&parent_of(&self.dir));
        match layout_target(&self.dir)? {
            LayoutTarget::Existing => self.merge(image)?,
            // Another run may create the layout between our look and our rename; then ours
            // joins it as any later run would.
            LayoutTarget::New => {
                if !self.create(image)? {
                    self.merge(image)?;
                }
            }
        }
        let first = self.references.first();
        Ok(Written {
            output: match first {
                Some(r) => format!("oci:{}:{r}", self.dir.display()),
                None => format!("oci:{}", self.dir.display()),
            },
            digest: image.digest().to_string(),
            references: self.references.clone(),
            pushed: None,
        })
    }
}

impl LayoutSink {
    /// Writes a whole new layout beside the target, then renames it into place; false when
    /// another run put a layout there first (nothing of ours is left behind).
    fn create(&self, image: &ImageSet) -> Result<bool, OutputError> {
        let parent = parent_of(&self.dir);
        let created = create_dirs(&parent)?;
        let result = self.create_in(&parent, image);
        if result.is_err() {
            remove_created(&created);
        }
        result
    }

    fn create_in(&self, parent: &Path, image: &ImageSet) -> Result<bool, OutputError> {
        let fail = write_error(&self.dir);
        // Removed on drop, so any error below leaves nothing behind.
        let staging = Staged::dir(parent, &self.dir).map_err(write_error(parent))?;
        let root = staging.path();
        let sha = root.join("blobs/sha256");
        for d in [root.join("blobs"), sha.clone()] {
            fs::create_dir(&d).map_err(&fail)?;
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).map_err(&fail)?;
        }
        for blob in unique(image.blobs_with_referrers()) {
            place_blob(blob, &blob_path(root, &blob.digest)).map_err(&fail)?;
        }
        write_synced(&root.join("oci-layout"), &super::marker().map_err(&fail)?).map_err(&fail)?;
        let mut entries = index_entries(image, &self.references);
        entries.extend(image.referrers().map(Referrer::descriptor));
        let index = index_document(entries, &self.dir)?;
        write_synced(&root.join("index.json"), &index).map_err(&fail)?;
        for d in [sha.as_path(), &root.join("blobs"), root] {
            sync_dir(d).map_err(&fail)?;
        }
        // rename(2) replaces an empty directory; a non-empty one was refused earlier.
        if let Err(source) = staging.persist(&self.dir) {
            if fs::symlink_metadata(self.dir.join("oci-layout")).is_ok_and(|m| m.is_file()) {
                return Ok(false);
            }
            return Err(fail(source));
        }
        sync_dir(parent).map_err(write_error(parent))?;
        Ok(true)
    }

    /// Adds the image to an existing layout, keeping its other entries.
    fn merge(&self, image: &ImageSet) -> Result<(), OutputError> {
        let fail = write_error(&self.dir);
        let lock = File::open(&self.dir).map_err(&fail)?;
        lock.lock().map_err(&fail)?;
        let (mut index, old_index) = read_index_bytes(&self.dir)?;
        let sha = self.dir.join("blobs/sha256");
        check_layout_dir(&self.dir, &self.dir.join("blobs"))?;
        check_layout_dir(&self.dir, &sha)?;
        for d in [self.dir.join("blobs"), sha.clone()] {
            if !d.exists() {
                fs::create_dir(&d).map_err(write_error(&d))?;
                fs::set_permissions(&d, fs::Permissions::from_mode(0o755))
                    .map_err(write_error(&d))?;
            }
        }
        sweep(&self.dir);
        sweep(&sha);
        let memo = self
            .cache_dir
            .as_ref()
            .map(crate::cache::layers::LayerCache::new);
        let mut added: Vec<PathBuf> = Vec::new();
        let result = (|| {
            for blob in unique(image.blobs_with_referrers()) {
                let target = blob_path(&self.dir, &blob.digest);
                let replaced =
                    match check_blob(&target, &blob.digest, Some(blob.size), memo.as_ref()) {
                        BlobState::Whole => continue,
                        BlobState::Missing => None,
                        BlobState::Wrong(why) => Some(why),
                        BlobState::Directory => {
                            return Err(OutputError::BadLayout {
                                path: self.dir.clone(),
                                detail: format!(
                                    "blob `{}` is a directory, not a file; remove it",
                                    blob.digest
                                ),
                            });
                        }
                    };
                let staged = Staged::file(&sha, &target).map_err(write_error(&sha))?;
                place_blob(blob, staged.path()).map_err(write_error(&target))?;
                if replaced.is_some() {
                    // What we copy over a damaged blob must itself be whole.
                    let state = check_blob(staged.path(), &blob.digest, Some(blob.size), None);
                    if state != BlobState::Whole {
                        return Err(write_error(&target)(io::Error::other(format!(
                            "the blob to write is damaged too ({state:?})"
                        ))));
                    }
                }
                staged.persist(&target).map_err(write_error(&target))?;
                if let Some(why) = replaced {
                    self.ui.verbose(format_args!(
                        "replaced blob {} in `{}`: {why}",
                        blob.digest,
                        self.dir.display()
                    ));
                } else {
                    added.push(target);
                }
            }
            if !added.is_empty() {
                sync_dir(&sha).map_err(write_error(&sha))?;
            }

            // Replace the entries that carry our reference names (and our referrers, listed
            // once); keep everything else.
            let referrers: Vec<_> = image.referrers().map(Referrer::descriptor).collect();
            let mut manifests: Vec<_> = index
                .manifests()
                .iter()
                .filter(|d| {
                    let name = d
                        .annotations()
                        .as_ref()
                        .and_then(|a| a.get(ANNOTATION_REF_NAME));
                    !name.is_some_and(|n| self.references.contains(n))
                        && !referrers.iter().any(|r| r.digest() == d.digest())
                })
                .cloned()
                .collect();
            manifests.extend(index_entries(image, &self.references));
            manifests.extend(referrers);
            drop_orphaned_referrers(&self.dir, &mut manifests);
            index.set_manifests(manifests);
            let index_path = self.dir.join("index.json");
            let bytes = canonical_json(&index)
                .map_err(io::Error::from)
                .map_err(write_error(&index_path))?;
            // Nothing changed (the same image again): nothing to write or sync.
            if old_index == bytes {
                return Ok(());
            }
            let staged = Staged::file(&self.dir, &index_path).map_err(&fail)?;
            write_all_synced(staged.file_handle(), &bytes).map_err(&fail)?;
            staged
                .persist(&index_path)
                .map_err(write_error(&index_path))?;
            sync_dir(&self.dir).map_err(&fail)
        })();
        if result.is_err() {
            for path in &added {
                let _ = fs::remove_file(path);
            }
        }
        result
    }
}

/// Drops the referrers (SBOMs, signatures, provenance) whose subject is no longer listed (its
/// tag moved to another image), and then those referring to a dropped one: they would
/// describe nothing the layout holds.
fn drop_orphaned_referrers(dir: &Path, manifests: &mut Vec<Descriptor>) {
    // Manifests are small; a blob that is not a small regular file is not one of them.
    let read = |d: &Descriptor| -> Option<serde_json::Value> {
        let path = blob_path_of(dir, &as_sha256(d.digest())?);
        let (file, _) = crate::fsguard::open_regular(&path, false).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_LAYOUT_FILE).read_to_end(&mut bytes).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let ours = |d: &Descriptor| {
        d.artifact_type().as_ref().is_some_and(|t| {
            let t = t.to_string();
            crate::sbom::is_media_type(&t) || t == crate::sign::bundle::MEDIA_TYPE
        })
    };
    // The images listed, and the platform images of listed indexes.
    let mut listed: Vec<String> = Vec::new();
    for d in manifests.iter().filter(|d| !ours(d)) {
        listed.push(d.digest().to_string());
        if *d.media_type() == MediaType::ImageIndex
            && let Some(index) = read(d)
        {
            let children = index["manifests"].as_array().cloned().unwrap_or_default();
            listed.extend(
                children
                    .iter()
                    .filter_map(|c| c["digest"].as_str().map(str::to_string)),
            );
        }
    }
    // Each referrer's subject: `None` (kept) when it cannot be read or names none.
    let subjects: Vec<Option<String>> = manifests
        .iter()
        .map(|d| {
            if !ours(d) {
                return None;
            }
            read(d).and_then(|m| m["subject"]["digest"].as_str().map(str::to_string))
        })
        .collect();
    // A referrer of a referrer (an SBOM's signature) is kept when its subject is: repeat until
    // nothing more is kept. Each round keeps at least one more or ends, so this is bounded by
    // the number of entries.
    let mut kept: Vec<bool> = subjects.iter().map(Option::is_none).collect();
    loop {
        let mut more = false;
        for (i, subject) in subjects.iter().enumerate() {
            if !kept[i] && subject.as_ref().is_some_and(|s| listed.contains(s)) {
                kept[i] = true;
                listed.push(manifests[i].digest().to_string());
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    let mut keep = kept.into_iter();
    manifests.retain(|_| keep.next().unwrap_or(true));
}

/// Puts a staged blob at `target` (mode 0644): a hard link when on the same filesystem, else a
/// copy, synced.
pub(crate) fn place_blob(blob: &Blob, target: &Path) -> io::Result<()> {
    let _ = fs::remove_file(target);
    if blob.shared || fs::hard_link(&blob.path, target).is_err() {
        fs::copy(&blob.path, target)?;
    }
    let file = File::open(target)?;
    file.set_permissions(fs::Permissions::from_mode(0o644))?;
    file.sync_all()
}

/// Writes a new file, 0644 whatever the umask, and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file = File::create_new(path)?;
    file.set_permissions(fs::Permissions::from_mode(0o644))?;
    write_all_synced(&file, bytes)
}

fn write_all_synced(mut file: &File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

/// Checks an existing layout as [`LayoutSink`] will find it: `oci-layout` and `index.json`
/// readable and bounded, `blobs` and `blobs/sha256` real directories.
pub(crate) fn check_existing(dir: &Path) -> Result<(), OutputError> {
    read_index_bytes(dir)?;
    check_layout_dir(dir, &dir.join("blobs"))?;
    check_layout_dir(dir, &dir.join("blobs/sha256"))
}

/// Reads and checks an existing layout's `oci-layout` and `index.json`.
pub fn read_index(dir: &Path) -> Result<ImageIndex, OutputError> {
    read_index_bytes(dir).map(|(index, _)| index)
}

/// [`read_index`], with the bytes of `index.json` as read.
fn read_index_bytes(dir: &Path) -> Result<(ImageIndex, Vec<u8>), OutputError> {
    let bad = |detail: String| OutputError::BadLayout {
        path: dir.to_owned(),
        detail,
    };
    let layout = read_layout_file(dir, "oci-layout")?;
    super::check_marker(&layout).map_err(bad)?;
    let bytes = read_layout_file(dir, "index.json")?;
    let index = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("`index.json` is not a valid OCI index: {e}")))?;
    Ok((index, bytes))
}
