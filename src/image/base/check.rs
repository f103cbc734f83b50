//! Checking what is read against its descriptor: size, digest, and the caps on documents.

use std::fs;
use std::io::{self, Read};

use oci_spec::image::Descriptor;

use super::{BaseError, MAX_DOCUMENT, invalid};
use crate::image::blob::{Blob, BlobStore};

/// Refuses a descriptor too big for a JSON document, before anything is read.
pub(super) fn check_document_size(spec: &str, descriptor: &Descriptor) -> Result<(), BaseError> {
    if descriptor.size() > MAX_DOCUMENT {
        return Err(invalid(
            spec,
            format!(
                "`{}` claims {} bytes, too big for a JSON document",
                descriptor.digest(),
                descriptor.size()
            ),
        ));
    }
    Ok(())
}

/// A document's bytes, checked against their descriptor.
pub(super) fn checked_document(
    spec: &str,
    descriptor: &Descriptor,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, BaseError> {
    let digest = crate::image::blob::sha256_digest(&bytes);
    check(spec, descriptor, bytes.len() as u64, &digest)?;
    Ok(bytes)
}

/// Checks bytes against their descriptor.
pub(super) fn check(
    spec: &str,
    descriptor: &Descriptor,
    size: u64,
    digest: &str,
) -> Result<(), BaseError> {
    if size != descriptor.size() || digest != descriptor.digest().to_string() {
        return Err(invalid(
            spec,
            format!(
                "blob `{}` does not match its descriptor: {size} bytes with digest {digest}, \
                 expected {} bytes",
                descriptor.digest(),
                descriptor.size()
            ),
        ));
    }
    Ok(())
}

/// The 64 hex digits of a descriptor's digest, refusing anything but well-formed sha256 (so
/// a digest can never name a path outside `blobs/sha256`, nor a URL outside the repository).
pub(super) fn sha256_hex<'d>(spec: &str, digest: &'d str) -> Result<&'d str, BaseError> {
    crate::image::blob::sha256_hex(digest)
        .ok_or_else(|| invalid(spec, format!("`{digest}` is not a sha256 digest")))
}

/// Streams `reader` into the store, at most `descriptor.size() + 1` bytes, and checks it.
pub(super) fn copy_checked(
    spec: &str,
    descriptor: &Descriptor,
    reader: &mut dyn Read,
    store: &BlobStore,
    read_error: &dyn Fn(io::Error) -> BaseError,
) -> Result<Blob, BaseError> {
    let mut writer = store.writer().map_err(read_error)?;
    io::copy(&mut reader.take(descriptor.size() + 1), &mut writer).map_err(read_error)?;
    let blob = writer
        .finish(descriptor.media_type().clone())
        .map_err(read_error)?;
    if let Err(e) = check(spec, descriptor, blob.size, &blob.digest) {
        let _ = fs::remove_file(&blob.path);
        return Err(e);
    }
    Ok(blob)
}
