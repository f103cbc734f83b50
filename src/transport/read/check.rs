//! Checking what is read against its descriptor: size, digest, and the caps on documents.

use std::fs;
use std::io::{self, Read, Write};

use oci_spec::image::{Descriptor, Sha256Digest};
use sha2::{Digest as _, Sha256};

use super::{BaseError, MAX_DOCUMENT, MaxBlobSize, invalid};
use crate::image::blob::{Blob, BlobStore, BlobWriter, layer_decoder, to_hex};

/// Refuses a descriptor too big for a JSON document, before anything is read.
pub(crate) fn check_document_size(spec: &str, descriptor: &Descriptor) -> Result<(), BaseError> {
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
pub(crate) fn checked_document(
    spec: &str,
    descriptor: &Descriptor,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, BaseError> {
    let digest = crate::image::blob::sha256_digest(&bytes);
    check(spec, descriptor, bytes.len() as u64, &digest)?;
    Ok(bytes)
}

/// Checks bytes against their descriptor.
pub(crate) fn check(
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

/// A descriptor's digest as SHA-256, refusing any other algorithm (so a digest can never
/// name a path outside `blobs/sha256`, nor a URL outside the repository).
pub(crate) fn sha256_of(spec: &str, descriptor: &Descriptor) -> Result<Sha256Digest, BaseError> {
    let digest = descriptor.digest();
    crate::image::blob::as_sha256(digest)
        .ok_or_else(|| invalid(spec, format!("`{digest}` is not a sha256 digest")))
}

/// Refuses a blob claiming more than `max`, before anything is opened or asked for.
pub(crate) fn check_blob_size(
    spec: &str,
    descriptor: &Descriptor,
    max: MaxBlobSize,
) -> Result<(), BaseError> {
    if descriptor.size() > max.bytes() {
        return Err(BaseError::TooLarge {
            spec: spec.to_string(),
            blob: descriptor.digest().to_string(),
            claimed: descriptor.size(),
            limit: max,
        });
    }
    Ok(())
}

/// Streams `reader` into the store, at most `descriptor.size() + 1` bytes, and checks it
/// against `descriptor`. With a `diff_id`, the bytes are decompressed on their way (gzip or
/// zstd by media type), hashed and dropped, and the digest compared: one pass, and nothing
/// uncompressed is kept, so a decompression bomb costs time (capped by `max`), not space.
pub(crate) fn copy_checked(
    spec: &str,
    descriptor: &Descriptor,
    diff_id: Option<&str>,
    max: MaxBlobSize,
    reader: &mut dyn Read,
    store: &BlobStore,
    read_error: &dyn Fn(io::Error) -> BaseError,
) -> Result<Blob, BaseError> {
    let mut writer = store.writer().map_err(read_error)?;
    let mut tee = Tee {
        inner: reader.take(descriptor.size() + 1),
        copy: &mut writer,
        failed: None,
    };
    let media_type = descriptor.media_type().to_string();
    let uncompressed =
        diff_id.map(|_| uncompressed_digest(&mut tee, &media_type, max.uncompressed()));
    // What the decompressor left unread (trailing bytes, or the rest after a corrupt stream)
    // is still part of the blob, and its digest is checked first: a damaged blob is named
    // as damaged rather than as undecompressable.
    let drained = io::copy(&mut tee, &mut io::sink());
    if let Some(e) = tee.failed.take() {
        return Err(read_error(e));
    }
    drained.map_err(read_error)?;
    let blob = writer
        .finish(descriptor.media_type().clone())
        .map_err(read_error)?;
    let layer = || descriptor.digest().to_string();
    let verdict = check(spec, descriptor, blob.size, &blob.digest).and_then(|()| {
        match (diff_id, uncompressed) {
            (Some(expected), Some(Ok(Some(found)))) if found != expected => {
                Err(BaseError::DiffId {
                    spec: spec.to_string(),
                    layer: layer(),
                    expected: expected.to_string(),
                    found,
                })
            }
            (_, Some(Ok(None))) => Err(BaseError::Expands {
                spec: spec.to_string(),
                layer: layer(),
                max,
            }),
            (_, Some(Err(source))) => Err(BaseError::Decompress {
                spec: spec.to_string(),
                layer: layer(),
                media_type: media_type.clone(),
                source,
            }),
            _ => Ok(()),
        }
    });
    if let Err(e) = verdict {
        let _ = fs::remove_file(&blob.path);
        return Err(e);
    }
    Ok(blob)
}

/// The `sha256:` digest of a layer's uncompressed bytes, read from `compressed` as its media
/// type says; `None` once more than `cap` bytes come out.
fn uncompressed_digest(
    compressed: &mut dyn Read,
    media_type: &str,
    cap: u64,
) -> io::Result<Option<String>> {
    let mut decoder = layer_decoder(io::BufReader::new(compressed), media_type)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match decoder.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        if total > cap {
            return Ok(None);
        }
        hasher.update(&buffer[..n]);
    }
    Ok(Some(format!("sha256:{}", to_hex(&hasher.finalize()))))
}

/// Passes what it reads from `inner` on to `copy` too, so the bytes a decompressor consumes
/// are stored as they are read. A failure of either side is kept in `failed`: it is the
/// source's (or the store's) fault, not the data's.
struct Tee<'a, R> {
    inner: R,
    copy: &'a mut BlobWriter,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed.is_some() {
            return Err(io::Error::other("the blob could not be read"));
        }
        let result = self
            .inner
            .read(buf)
            .and_then(|n| self.copy.write_all(&buf[..n]).map(|()| n));
        result.map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                return e;
            }
            let again = io::Error::new(e.kind(), e.to_string());
            self.failed = Some(e);
            again
        })
    }
}
