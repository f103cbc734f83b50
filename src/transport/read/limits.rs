//! The bounds on reading an image nobody here controls: how big a blob may claim to be, how far
//! a layer may expand, how deep and how wide its indexes may go, how many entries an archive
//! may hold. Each is checked before the work it bounds, so a hostile image costs at most these.

use std::fmt;
use std::str::FromStr;

/// The default [`MaxBlobSize`]: 8 GiB, above any real layer.
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 8 << 30;

/// How many times its compressed size a layer may grow when decompressed. Real layers rarely
/// pass 10x; a gzip bomb reaches 1000x. Past it, a layer is refused rather than hashed forever.
pub const EXPANSION: u64 = 4;

/// The most indexes on the path from the image named down to a manifest.
pub const MAX_INDEX_DEPTH: usize = 8;

/// The most documents (indexes and manifests) read for one image.
pub const MAX_DOCUMENTS: usize = 10_000;

/// The most bytes of documents (indexes, manifests, configs) read for one image, so that many
/// small documents cost no more than a few big ones.
pub const MAX_DOCUMENT_BYTES: u64 = 64 << 20;

/// The most entries an `oci-archive:` may hold (an image of a few platforms holds tens).
pub const MAX_ARCHIVE_ENTRIES: usize = 100_000;

/// The largest blob an image read may claim (`--max-blob-size`, `STATIC_IMAGE_MAX_BLOB_SIZE`):
/// a descriptor claiming more is refused before anything is downloaded or opened, and a layer
/// may expand to [`EXPANSION`] times it when decompressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxBlobSize(u64);

impl MaxBlobSize {
    /// A limit of `bytes` (at least 1).
    pub fn new(bytes: u64) -> MaxBlobSize {
        MaxBlobSize(bytes.max(1))
    }

    /// The limit in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// The most a layer may expand to when decompressed.
    pub fn uncompressed(self) -> u64 {
        self.0.saturating_mul(EXPANSION)
    }
}

impl Default for MaxBlobSize {
    fn default() -> MaxBlobSize {
        MaxBlobSize(DEFAULT_MAX_BLOB_SIZE)
    }
}

/// Binary units, largest first, as the flag takes them.
const UNITS: [(&str, u64); 5] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

impl FromStr for MaxBlobSize {
    type Err = String;

    /// `8GiB`, `512MiB`, `64KiB`, `1TiB` or a number of bytes (units in any case).
    fn from_str(text: &str) -> Result<MaxBlobSize, String> {
        let trimmed = text.trim();
        let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = trimmed.split_at(digits);
        let unit = unit.trim();
        let scale = if unit.is_empty() {
            Some(1)
        } else {
            UNITS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(unit))
                .map(|(_, scale)| *scale)
        };
        let bytes = number
            .parse::<u64>()
            .ok()
            .zip(scale)
            .and_then(|(n, scale)| n.checked_mul(scale))
            .filter(|&b| b > 0);
        bytes.map(MaxBlobSize).ok_or_else(|| {
            format!("`{text}` is not a size: write bytes, or a whole number of KiB, MiB, GiB or TiB (e.g. `8GiB`)")
        })
    }
}

impl fmt::Display for MaxBlobSize {
    /// In the largest unit that divides it, as the flag takes it (`8GiB`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, scale) = UNITS
            .iter()
            .find(|(_, scale)| self.0.is_multiple_of(*scale))
            .copied()
            .unwrap_or(("B", 1));
        write!(f, "{}{name}", self.0 / scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units_and_print_back() {
        let parse = |t: &str| t.parse::<MaxBlobSize>().map(MaxBlobSize::bytes);
        assert_eq!(parse("8GiB"), Ok(8 << 30));
        assert_eq!(parse("512mib"), Ok(512 << 20));
        assert_eq!(parse("4096"), Ok(4096));
        assert_eq!(parse("1 TiB"), Ok(1 << 40));
        assert!(parse("0").is_err());
        assert!(parse("8GB").is_err());
        assert!(parse("-1").is_err());
        assert!(parse("99999999TiB").is_err());
        assert_eq!(MaxBlobSize::default().to_string(), "8GiB");
        assert_eq!(MaxBlobSize::new(1536 << 20).to_string(), "1536MiB");
        assert_eq!(MaxBlobSize::new(1000).to_string(), "1000B");
        assert_eq!(MaxBlobSize::new(1000).uncompressed(), 4000);
    }
}
