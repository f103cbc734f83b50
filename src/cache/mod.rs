//! What a run remembers for the next: compressed layers and file digests ([`layers`]), whole
//! packaging runs ([`replay`]), and the stamps and the one freshness rule every memo is judged
//! by ([`stamp`]), including those kept elsewhere (cargo's answers in `ahead`, a binary's
//! crates in `sbom::rust`, a parsed CA bundle in `image::ca`).
//!
//! ```text
//! <cache>/layers/<key>.json        a compressed layer's digest, size and diff_id
//! <cache>/blobs/sha256/<hex>       the compressed layer
//! <cache>/files/<path hash>.json   a file's stamp and content digest
//! <cache>/runs/<key>.json          a packaging run's record
//! <cache>/sbom/<key>.json          a Cargo package's linked crates
//! <cache>/ca/<key>.pem             a normalised CA bundle
//! <cache>/registry-blobs.json      which repositories of a registry hold which blobs
//! ```
//!
//! Every memo is an optimisation: one that cannot be read or written costs the next run its
//! speed, never its result.

pub mod layers;
pub mod replay;
pub mod stamp;

use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file and a rename: readers see all or nothing.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
    std::fs::create_dir_all(&dir)?;
    let mut staged = tempfile::NamedTempFile::new_in(&dir)?;
    staged.write_all(bytes)?;
    staged.persist(path).map_err(|e| e.error)?;
    Ok(())
}
