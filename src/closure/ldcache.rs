//! glibc's `/etc/ld.so.cache` (the `glibc-ld.so.cache1.1` format, alone or after the old
//! `ld.so-1.7.0` table), read without running `ldconfig` or the loader.
//!
//! Layout (glibc `sysdeps/generic/dl-cache.h`): a 48-byte header (magic and version, entry
//! count, string table length, byte-order flag, extension offset), then 24-byte entries
//! (flags, key and value string offsets relative to the header, OS version, hwcap), then the
//! strings. Every count and offset is checked against the file's length: a truncated or
//! hostile cache is an error ([`CacheError`]) that the resolver reports and then ignores, as
//! the loader ignores a cache it cannot use; nothing is allocated beyond the file's size.

use std::collections::BTreeMap;

/// The largest cache read (real ones are well under 1 MiB).
pub const MAX_CACHE_BYTES: u64 = 16 << 20;

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const OLD_ENTRY: usize = 12;

/// `FLAG_ELF_LIBC6`: a glibc library (the low byte of an entry's flags).
const FLAG_ELF_LIBC6: i32 = 0x0003;
/// `FLAG_X8664_LIB64`.
const FLAG_X8664_LIB64: i32 = 0x0300;
/// `FLAG_AARCH64_LIB64`.
const FLAG_AARCH64_LIB64: i32 = 0x0a00;

/// Why a cache cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    /// The file starts with neither magic.
    #[error("is not a glibc ld.so.cache (no `glibc-ld.so.cache1.1` header)")]
    NotACache,
    /// A count or offset points past the end.
    #[error("is truncated or damaged: {0}")]
    Damaged(String),
    /// Written for a big-endian machine.
    #[error("is written for a big-endian machine")]
    BigEndian,
    /// Larger than [`MAX_CACHE_BYTES`].
    #[error("is larger than {} MiB", MAX_CACHE_BYTES >> 20)]
    TooLarge,
}

/// One cache entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    /// The entry's flags: library type in the low byte, required machine in the next.
    pub flags: i32,
    /// The soname (`libz.so.1`).
    pub name: String,
    /// The path it maps to.
    pub path: String,
}

/// A parsed cache: each soname's entries, in cache order.
#[derive(Clone, Debug, Default)]
pub struct LdCache {
    entries: BTreeMap<String, Vec<CacheEntry>>,
}

impl LdCache {
    /// The paths the cache gives for `name` on a machine (`e_machine`, 64-bit), best first;
    /// entries flagged for another machine are skipped, as the loader skips them.
    pub fn lookup(&self, name: &str, machine: u16) -> Vec<&str> {
        let wanted = match machine {
            62 => Some(FLAG_ELF_LIBC6 | FLAG_X8664_LIB64),
            183 => Some(FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64),
            _ => None,
        };
        self.entries
            .get(name)
            .into_iter()
            .flatten()
            .filter(|e| match wanted {
                Some(flags) => e.flags == flags,
                None => e.flags & 0xff == FLAG_ELF_LIBC6,
            })
            .map(|e| e.path.as_str())
            .collect()
    }

    /// How many sonames the cache knows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, CacheError> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| CacheError::Damaged(format!("no 4 bytes at offset {at}")))
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, CacheError> {
    Ok(u64::from(u32_at(bytes, at)?) | (u64::from(u32_at(bytes, at + 4)?) << 32))
}

/// The NUL-terminated string at `offset` of `strings`.
fn string_at(strings: &[u8], offset: u32) -> Result<String, CacheError> {
    let start = offset as usize;
    let tail = strings
        .get(start..)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CacheError::Damaged(format!("string offset {offset} past the end")))?;
    let end = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| CacheError::Damaged(format!("string at {offset} is not terminated")))?;
    Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
}

/// Parses a cache's bytes.
pub fn parse(bytes: &[u8]) -> Result<LdCache, CacheError> {
    if bytes.len() as u64 > MAX_CACHE_BYTES {
        return Err(CacheError::TooLarge);
    }
    // The old format first (glibc < 2.32 wrote both): skip its table to the new header.
    let start = if bytes.starts_with(OLD_MAGIC) {
        let count = u32_at(bytes, 12)? as usize;
        let end = count
            .checked_mul(OLD_ENTRY)
            .and_then(|n| n.checked_add(16))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| CacheError::Damaged(format!("the old table claims {count} entries")))?;
        // The new header is aligned to 8 bytes (`ALIGN_CACHE`).
        end.next_multiple_of(8)
    } else {
        0
    };
    let new = bytes.get(start..).unwrap_or_default();
    if !new.starts_with(NEW_MAGIC) {
        return Err(CacheError::NotACache);
    }
    if new.len() < NEW_HEADER {
        return Err(CacheError::Damaged("the header is cut short".into()));
    }
    let count = u32_at(new, 20)? as usize;
    // 2 is little-endian, 3 big; 0 predates the flag (native order, little on our machines).
    if new[28] == 3 {
        return Err(CacheError::BigEndian);
    }
    let entries_end = count
        .checked_mul(NEW_ENTRY)
        .and_then(|n| n.checked_add(NEW_HEADER))
        .filter(|&end| end <= new.len())
        .ok_or_else(|| {
            CacheError::Damaged(format!(
                "it claims {count} entries, more than its {} bytes hold",
                new.len()
            ))
        })?;
    let mut cache = LdCache::default();
    for i in 0..count {
        let at = NEW_HEADER + i * NEW_ENTRY;
        let flags = u32_at(new, at)? as i32;
        let key = u32_at(new, at + 4)?;
        let value = u32_at(new, at + 8)?;
        let hwcap = u64_at(new, at + 16)?;
        // Entries for a glibc-hwcaps subdirectory (x86-64-v3…) depend on the CPU that runs
        // the image; the baseline entry is the one every machine can load.
        if hwcap != 0 {
            continue;
        }
        // String offsets count from the new header (glibc: `cache_data = cache_new`).
        let name = string_at(new, key)?;
        let path = string_at(new, value)?;
        if key as usize >= entries_end && value as usize >= entries_end {
            cache
                .entries
                .entry(name.clone())
                .or_default()
                .push(CacheEntry { flags, name, path });
        } else {
            return Err(CacheError::Damaged(format!(
                "entry {i} names a string inside the entry table"
            )));
        }
    }
    Ok(cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new-format cache of `(flags, name, path, hwcap)` entries.
    fn cache(entries: &[(i32, &str, &str, u64)]) -> Vec<u8> {
        let mut strings = Vec::new();
        let table = NEW_HEADER + entries.len() * NEW_ENTRY;
        let mut rows = Vec::new();
        for (flags, name, path, hwcap) in entries {
            let key = table + strings.len();
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            let value = table + strings.len();
            strings.extend_from_slice(path.as_bytes());
            strings.push(0);
            rows.extend_from_slice(&flags.to_le_bytes());
            rows.extend_from_slice(&(key as u32).to_le_bytes());
            rows.extend_from_slice(&(value as u32).to_le_bytes());
            rows.extend_from_slice(&0u32.to_le_bytes());
            rows.extend_from_slice(&hwcap.to_le_bytes());
        }
        let mut out = NEW_MAGIC.to_vec();
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&[2, 0, 0, 0]);
        out.extend_from_slice(&[0u8; 16]);
        assert_eq!(out.len(), NEW_HEADER);
        out.extend_from_slice(&rows);
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn entries_are_found_by_name_and_machine() {
        let bytes = cache(&[
            (0x0303, "libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1", 0),
            (0x0a03, "libz.so.1", "/lib/aarch64-linux-gnu/libz.so.1", 0),
            (
                0x0303,
                "libm.so.6",
                "/lib/x86_64-linux-gnu/x86-64-v3/libm.so.6",
                1 << 62,
            ),
            (0x0303, "libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6", 0),
        ]);
        let cache = parse(&bytes).unwrap();
        assert_eq!(
            cache.lookup("libz.so.1", 62),
            ["/lib/x86_64-linux-gnu/libz.so.1"]
        );
        assert_eq!(
            cache.lookup("libz.so.1", 183),
            ["/lib/aarch64-linux-gnu/libz.so.1"]
        );
        assert_eq!(
            cache.lookup("libm.so.6", 62),
            ["/lib/x86_64-linux-gnu/libm.so.6"]
        );
        assert!(cache.lookup("libnope.so", 62).is_empty());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn an_old_table_before_the_new_one_is_skipped() {
        let new = cache(&[(0x0303, "libc.so.6", "/lib/libc.so.6", 0)]);
        let mut bytes = OLD_MAGIC.to_vec();
        bytes.push(0);
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&[0u8; OLD_ENTRY]);
        while !bytes.len().is_multiple_of(8) {
            bytes.push(0);
        }
        bytes.extend_from_slice(&new);
        assert_eq!(
            parse(&bytes).unwrap().lookup("libc.so.6", 62),
            ["/lib/libc.so.6"]
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = cache(&[
            (0x0303, "libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1", 0),
            (0x0303, "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", 0),
        ]);
        assert!(parse(&bytes).is_ok());
        for len in 0..bytes.len() {
            // Cut before the last string's terminator: each must be refused.
            assert!(parse(&bytes[..len]).is_err(), "{len} bytes parsed");
        }
    }

    #[test]
    fn hostile_counts_and_offsets_are_refused() {
        let mut huge = cache(&[(0x0303, "a", "b", 0)]);
        huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&huge), Err(CacheError::Damaged(_))));
        let mut wild = cache(&[(0x0303, "a", "b", 0)]);
        wild[NEW_HEADER + 4..NEW_HEADER + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&wild), Err(CacheError::Damaged(_))));
        let mut inside = cache(&[(0x0303, "a", "b", 0)]);
        inside[NEW_HEADER + 4..NEW_HEADER + 8].copy_from_slice(&0u32.to_le_bytes());
        assert!(parse(&inside).is_err());
        let mut big_endian = cache(&[]);
        big_endian[28] = 3;
        assert_eq!(parse(&big_endian).unwrap_err(), CacheError::BigEndian);
        assert_eq!(parse(b"nonsense").unwrap_err(), CacheError::NotACache);
        let mut old = OLD_MAGIC.to_vec();
        old.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0xff]);
        assert!(parse(&old).is_err());
    }

    #[test]
    fn mutated_caches_never_panic() {
        let good = cache(&[
            (0x0303, "libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1", 0),
            (0x0a03, "libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", 0),
        ]);
        // A fixed xorshift sequence: the same bytes flipped on every run.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5000 {
            let mut bytes = good.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % bytes.len() as u64) as usize;
                bytes[at] = (state >> 32) as u8;
            }
            if let Ok(parsed) = parse(&bytes) {
                let _ = parsed.lookup("libz.so.1", 62);
            }
        }
    }

    #[test]
    fn the_host_cache_parses_when_there_is_one() {
        let Ok(bytes) = std::fs::read("/etc/ld.so.cache") else {
            return;
        };
        let cache = parse(&bytes).unwrap();
        assert!(!cache.is_empty());
    }
}
