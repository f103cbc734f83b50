//! Walking an image index down to the manifests it names.

use std::cell::Cell;
use std::collections::HashSet;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use super::limits::{MAX_DOCUMENT_BYTES, MAX_DOCUMENTS, MAX_INDEX_DEPTH};
use super::{
    BaseError, BlobSource, EveryPlatform, image_at, image_of, invalid, parse_manifest, read_config,
};
use crate::image::blob::{Blob, BlobStore};
use crate::platform::{Platform, Platforms};

/// What is left to visit in [`every_platform`]: a descriptor and the digests of the indexes
/// above it, outermost first.
struct Visit {
    descriptor: Descriptor,
    above: Vec<String>,
    /// Named by an index (its platform is the entry's), rather than the root (its config's).
    listed: bool,
}

/// Every platform's image under `root`, in the order its indexes list them (depth first),
/// walked with an explicit stack: nesting deeper than [`MAX_INDEX_DEPTH`] and an index naming
/// itself or one above it are errors, and an index or manifest listed twice is read once.
pub(crate) fn every_platform(
    source: &dyn BlobSource,
    spec: &str,
    root: &Descriptor,
    store: &BlobStore,
    platforms: &Platforms,
    found: &mut EveryPlatform,
) -> Result<(), BaseError> {
    let known = |arch: &str, variant: Option<&str>| platforms.from_oci(arch, variant);
    let mut stack = vec![Visit {
        descriptor: root.clone(),
        above: Vec::new(),
        listed: false,
    }];
    let mut seen: HashSet<String> = HashSet::new();
    while let Some(Visit {
        descriptor,
        above,
        listed,
    }) = stack.pop()
    {
        let digest = descriptor.digest().to_string();
        if is_index(descriptor.media_type()) {
            enter(spec, &digest, &above)?;
            if !seen.insert(digest.clone()) {
                continue;
            }
            let index = parse_index(spec, &source.document(&descriptor)?)?;
            let mut path = above;
            path.push(digest);
            // Reversed onto the stack, so they come off in the index's order.
            for entry in index.manifests().iter().rev() {
                if entry.artifact_type().is_none() {
                    stack.push(Visit {
                        descriptor: entry.clone(),
                        above: path.clone(),
                        listed: true,
                    });
                }
            }
            continue;
        }
        if !listed {
            let manifest = parse_manifest(spec, &source.document(&descriptor)?)?;
            let config = read_config(source, spec, &manifest)?;
            let arch = config.architecture().to_string();
            match known(&arch, config.variant().as_deref()) {
                Some(platform) => {
                    let image = image_of(source, spec, digest, &manifest, config, platform, store)?;
                    found.0.push((platform, image));
                }
                None => found.1.push(format!("{}/{arch}", config.os())),
            }
            continue;
        }
        let Some(p) = descriptor.platform() else {
            found.1.push(format!("{digest} (no platform)"));
            continue;
        };
        let arch = p.architecture().to_string();
        match known(&arch, p.variant().as_deref()).filter(|_| p.os().to_string() == "linux") {
            Some(platform) => {
                if seen.insert(digest) {
                    let image = image_at(source, spec, &descriptor, platform, store)?;
                    found.0.push((platform, image));
                }
            }
            None => found.1.push(format!("{}/{arch}", p.os())),
        }
    }
    Ok(())
}

/// Refuses to enter the index `digest` below the indexes `above`: when it is one of them (a
/// cycle), or when there are already [`MAX_INDEX_DEPTH`] of them.
fn enter(spec: &str, digest: &str, above: &[String]) -> Result<(), BaseError> {
    if let Some(at) = above.iter().position(|a| a == digest) {
        return Err(BaseError::IndexCycle {
            spec: spec.to_string(),
            index: digest.to_string(),
            through: above[at + 1..].to_vec(),
        });
    }
    if above.len() >= MAX_INDEX_DEPTH {
        return Err(BaseError::TooDeep {
            spec: spec.to_string(),
            index: digest.to_string(),
            limit: MAX_INDEX_DEPTH,
        });
    }
    Ok(())
}

pub(crate) fn parse_index(spec: &str, bytes: &[u8]) -> Result<ImageIndex, BaseError> {
    serde_json::from_slice(bytes)
        .map_err(|e| invalid(spec, format!("its image index is not valid: {e}")))
}

/// Whether a media type is an image index (OCI) or a manifest list (Docker).
pub(crate) fn is_index(media_type: &MediaType) -> bool {
    let media = media_type.to_string();
    media == MediaType::ImageIndex.to_string()
        || media == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// Follows an index entry to the manifest for `platform`, through nested indexes (as deep as
/// [`MAX_INDEX_DEPTH`], none twice).
pub(crate) fn manifest_for(
    source: &dyn BlobSource,
    spec: &str,
    entry: &Descriptor,
    platform: Platform,
) -> Result<(String, ImageManifest), BaseError> {
    let mut entry = entry.clone();
    let mut above = Vec::new();
    loop {
        let digest = entry.digest().to_string();
        if !is_index(entry.media_type()) {
            let bytes = source.document(&entry)?;
            return Ok((digest, parse_manifest(spec, &bytes)?));
        }
        enter(spec, &digest, &above)?;
        let index = parse_index(spec, &source.document(&entry)?)?;
        entry = pick(spec, &index, platform)?.clone();
        above.push(digest);
    }
}

/// The entry of `index` for `platform`.
fn pick<'i>(
    spec: &str,
    index: &'i ImageIndex,
    platform: Platform,
) -> Result<&'i Descriptor, BaseError> {
    let found = index.manifests().iter().find(|d| {
        d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == "linux"
                && platform.is_oci(&p.architecture().to_string(), p.variant().as_deref())
        })
    });
    match found {
        Some(d) => Ok(d),
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

/// A source that counts what it is asked for: past [`MAX_DOCUMENTS`] documents, or
/// [`MAX_DOCUMENT_BYTES`] of them, an image is refused, whatever shape its indexes take.
pub(crate) struct Budgeted<'a> {
    inner: &'a dyn BlobSource,
    spec: &'a str,
    /// Documents asked for so far, and their claimed bytes.
    used: Cell<(usize, u64)>,
}

impl<'a> Budgeted<'a> {
    pub(crate) fn new(inner: &'a dyn BlobSource, spec: &'a str) -> Budgeted<'a> {
        Budgeted {
            inner,
            spec,
            used: Cell::new((0, 0)),
        }
    }
}

impl BlobSource for Budgeted<'_> {
    fn document(&self, descriptor: &Descriptor) -> Result<Vec<u8>, BaseError> {
        let (count, bytes) = self.used.get();
        let used = (count + 1, bytes.saturating_add(descriptor.size()));
        let too_many = |what, limit| BaseError::TooMany {
            spec: self.spec.to_string(),
            what,
            limit,
        };
        if used.0 > MAX_DOCUMENTS {
            return Err(too_many(
                "manifests, indexes and configs",
                MAX_DOCUMENTS as u64,
            ));
        }
        if used.1 > MAX_DOCUMENT_BYTES {
            return Err(too_many(
                "bytes of manifests, indexes and configs",
                MAX_DOCUMENT_BYTES,
            ));
        }
        self.used.set(used);
        self.inner.document(descriptor)
    }

    fn copy_blob(
        &self,
        descriptor: &Descriptor,
        diff_id: &str,
        store: &BlobStore,
    ) -> Result<Blob, BaseError> {
        self.inner.copy_blob(descriptor, diff_id, store)
    }

    fn referrer_candidates(&self, subject: &Descriptor) -> Result<Vec<Descriptor>, BaseError> {
        self.inner.referrer_candidates(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Documents by digest, served unchecked: the only way to build an index that names
    /// itself, which a digest check makes impossible on disk or from a registry.
    struct Unchecked(HashMap<String, Vec<u8>>);

    impl BlobSource for Unchecked {
        fn document(&self, descriptor: &Descriptor) -> Result<Vec<u8>, BaseError> {
            Ok(self.0[&descriptor.digest().to_string()].clone())
        }

        fn copy_blob(&self, _: &Descriptor, _: &str, _: &BlobStore) -> Result<Blob, BaseError> {
            Err(invalid("test", "no layers here"))
        }

        fn referrer_candidates(&self, _: &Descriptor) -> Result<Vec<Descriptor>, BaseError> {
            Ok(Vec::new())
        }
    }

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn entry(c: char) -> serde_json::Value {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest(c),
            "size": 1,
            "platform": {"os": "linux", "architecture": "amd64"},
        })
    }

    /// Indexes `a`, `b`, … each naming the indexes listed for it.
    fn source(graph: &[(char, &[char])]) -> Unchecked {
        Unchecked(
            graph
                .iter()
                .map(|(name, names)| {
                    let entries: Vec<_> = names.iter().map(|c| entry(*c)).collect();
                    let index = serde_json::json!({"schemaVersion": 2, "manifests": entries});
                    (digest(*name), serde_json::to_vec(&index).unwrap())
                })
                .collect(),
        )
    }

    /// What walking every platform, and following one, from `root` says.
    fn walk(source: &Unchecked, root: char) -> (String, String) {
        let root: Descriptor = serde_json::from_value(entry(root)).unwrap();
        let store = BlobStore::new().unwrap();
        let every = every_platform(
            source,
            "x",
            &root,
            &store,
            &Platforms::builtin(),
            &mut (Vec::new(), Vec::new()),
        );
        let one = manifest_for(source, "x", &root, Platform::amd64());
        (
            every.err().unwrap().to_string(),
            one.err().unwrap().to_string(),
        )
    }

    #[test]
    fn an_index_naming_itself_or_an_index_above_it_is_refused() {
        let said = format!("image `x`: index `{}` names itself", digest('a'));
        assert_eq!(walk(&source(&[('a', &['a'])]), 'a'), (said.clone(), said));
        let said = format!(
            "image `x`: index `{}` names itself through `{}` -> `{}`",
            digest('a'),
            digest('b'),
            digest('c')
        );
        let cycle = source(&[('a', &['b']), ('b', &['c']), ('c', &['a'])]);
        assert_eq!(walk(&cycle, 'a'), (said.clone(), said));
    }

    #[test]
    fn nine_nested_indexes_are_refused() {
        // `0` names `1` … names `9`: the ninth, `8`, is one too deep.
        let names: Vec<char> = "0123456789".chars().collect();
        let graph: Vec<(char, Vec<char>)> = names.windows(2).map(|w| (w[0], vec![w[1]])).collect();
        let graph: Vec<(char, &[char])> = graph.iter().map(|(c, v)| (*c, v.as_slice())).collect();
        let said = format!(
            "image `x`: index `{}` is nested more than 8 indexes deep",
            digest('8')
        );
        assert_eq!(walk(&source(&graph), '0'), (said.clone(), said));
    }
}
