//! The glibc release a static glibc binary was built against.
//!
//! A static binary carries no symbol versions, and glibc's version string is linked only
//! when the program asks for it (`gnu_get_libc_version`, which brings `__libc_version` and the
//! "GNU C Library … release version X.Y" banner along). When neither is there, the run-time
//! tunables table, which every static glibc program embeds by name, bounds the release from
//! below: a tunable added in 2.35 means "2.35 or later". Only tunables whose release is sure
//! are listed; the report says which kind of answer it is.

use goblin::elf::{Elf, section_header};
use serde::{Deserialize, Serialize};

/// What the binary says about its glibc.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlibcVersion {
    /// `2.36`.
    pub version: String,
    /// True when read from glibc's own version string; false for a lower bound.
    pub exact: bool,
    /// Where it was read: `__libc_version`, `banner`, or `tunable glibc.x.y`.
    pub evidence: String,
}

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.exact {
            write!(f, "{} (from {})", self.version, self.evidence)
        } else {
            write!(f, "{} or later (from {})", self.version, self.evidence)
        }
    }
}

/// Tunables and the glibc release that introduced each (glibc's NEWS), newest first.
const TUNABLES: &[(&str, &str)] = &[
    ("glibc.mem.decorate_maps", "2.39"),
    ("glibc.pthread.stack_hugetlb", "2.38"),
    ("glibc.pthread.rseq", "2.35"),
    ("glibc.rtld.dynamic_sort", "2.35"),
    ("glibc.malloc.hugetlb", "2.35"),
    ("glibc.rtld.nns", "2.33"),
    ("glibc.mem.tagging", "2.33"),
    ("glibc.malloc.tcache_count", "2.26"),
];

/// The glibc release of a static glibc binary, as exactly as its contents allow.
pub fn version(elf: &Elf<'_>, bytes: &[u8]) -> Option<GlibcVersion> {
    if let Some(v) = libc_version_symbol(elf, bytes) {
        return Some(GlibcVersion {
            version: v,
            exact: true,
            evidence: "`__libc_version`".into(),
        });
    }
    if let Some(v) = banner(bytes) {
        return Some(GlibcVersion {
            version: v,
            exact: true,
            evidence: "its version banner".into(),
        });
    }
    TUNABLES.iter().find_map(|(name, release)| {
        let mut needle = name.as_bytes().to_vec();
        // The names are NUL-terminated strings; a longer name must not match a prefix.
        needle.push(0);
        memchr::memmem::find(bytes, &needle).map(|_| GlibcVersion {
            version: (*release).into(),
            exact: false,
            evidence: format!("tunable `{name}`"),
        })
    })
}

/// The string `__libc_version` points at, found through the section holding its address.
fn libc_version_symbol(elf: &Elf<'_>, bytes: &[u8]) -> Option<String> {
    let sym = elf.syms.iter().find(|s| {
        s.st_shndx != section_header::SHN_UNDEF as usize
            && elf.strtab.get_at(s.st_name) == Some("__libc_version")
    })?;
    let sh = elf.section_headers.iter().find(|sh| {
        sh.sh_type != section_header::SHT_NOBITS
            && sh.sh_addr <= sym.st_value
            && sym.st_value < sh.sh_addr.saturating_add(sh.sh_size)
    })?;
    let offset = usize::try_from(sh.sh_offset.checked_add(sym.st_value - sh.sh_addr)?).ok()?;
    let text = bytes.get(offset..)?;
    let end = text.iter().take(16).position(|&b| b == 0)?;
    release(std::str::from_utf8(&text[..end]).ok()?)
}

/// The version in "GNU C Library (…) stable release version 2.36." when the banner is linked.
fn banner(bytes: &[u8]) -> Option<String> {
    // Bounded, so a huge file is not paged in whole for a hint.
    let bytes = &bytes[..bytes.len().min(super::elf_read::TABLE_CAP as usize * 4)];
    let start = memchr::memmem::find(bytes, b"GNU C Library")?;
    let window = &bytes[start..bytes.len().min(start + 200)];
    let at = memchr::memmem::find(window, b"release version ")? + "release version ".len();
    let rest = &window[at..];
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(rest.len());
    release(
        std::str::from_utf8(&rest[..end])
            .ok()?
            .trim_end_matches('.'),
    )
}

/// `2.36` from text that must be digits and dots, with a major and a minor number.
fn release(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split('.').collect();
    let ok = parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_gives_the_release() {
        let bytes = b"\0\0GNU C Library (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36.\nCopyright";
        assert_eq!(banner(bytes).as_deref(), Some("2.36"));
        assert_eq!(banner(b"GNU C Library (x) stable release version "), None);
        assert_eq!(banner(b"GNU C Library"), None);
    }

    #[test]
    fn releases_are_numbers_only() {
        assert_eq!(release("2.36").as_deref(), Some("2.36"));
        assert_eq!(release("2.36.1").as_deref(), Some("2.36.1"));
        assert_eq!(release("2"), None);
        assert_eq!(release("2.x"), None);
        assert_eq!(release("2..3"), None);
    }

    #[test]
    fn tunables_bound_the_release_from_below_and_whole_names_only() {
        let table: Vec<(&str, &str)> = TUNABLES.to_vec();
        // Newest first, so the first hit is the best bound.
        let mut sorted = table.clone();
        sorted.sort_by(|a, b| {
            let v = |s: &str| {
                s.split('.')
                    .map(|p| p.parse::<u32>().unwrap())
                    .collect::<Vec<_>>()
            };
            v(b.1).cmp(&v(a.1))
        });
        assert_eq!(table, sorted);
    }
}
