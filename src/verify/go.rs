//! The build information the Go linker embeds in every binary (`go version -m` prints it).
//!
//! Input: the bytes of the `.go.buildinfo` section. Output: [`GoBuildInfo`]: the Go version, the
//! main package and module, the dependencies, and the build settings (`CGO_ENABLED`, `-ldflags`…).
//! Format, as written by `cmd/link` and read by `debug/buildinfo` since Go 1.18: a 32-byte header
//! (`\xff Go buildinf:`, pointer size, flags with bit 1 set for inline strings), then the version
//! and the module info as uvarint-length-prefixed strings. Older binaries store pointers instead;
//! we recognise them as Go but read nothing more.

use serde::{Deserialize, Serialize};

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
/// Flag bit: version and module info follow the header inline (Go 1.18+).
const FLAG_INLINE_STRINGS: u8 = 0x2;
/// The module info is wrapped in 16-byte sentinels (`runtime/debug` strips them the same way).
const SENTINEL_LEN: usize = 16;

/// A module as the build info lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoModule {
    /// Module path (`golang.org/x/net`).
    pub path: String,
    /// Version (`v0.1.0`, or `(devel)` for the main module built from source).
    pub version: String,
    /// The go.sum hash, when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<String>,
}

/// What a Go binary says about how it was built.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoBuildInfo {
    /// The toolchain (`go1.22.1`); `None` for pre-1.18 binaries.
    pub go_version: Option<String>,
    /// The main package's import path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The main module.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<GoModule>,
    /// Every dependency module linked in.
    pub deps: Vec<GoModule>,
    /// Build settings in order (`CGO_ENABLED=1`, `-ldflags=…`, `GOARCH=…`).
    pub settings: Vec<(String, String)>,
}

impl GoBuildInfo {
    /// A build setting's value (`CGO_ENABLED`).
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// True when the binary was built with cgo, so it links a C library.
    pub fn uses_cgo(&self) -> bool {
        self.setting("CGO_ENABLED") == Some("1")
    }
}

/// Parses a `.go.buildinfo` section. `None` when the bytes are not Go build info.
pub fn parse(section: &[u8]) -> Option<GoBuildInfo> {
    if section.len() < HEADER_LEN || !section.starts_with(MAGIC) {
        return None;
    }
    let flags = section[MAGIC.len() + 1];
    if flags & FLAG_INLINE_STRINGS == 0 {
        // Pre-1.18 layout: pointers into the data segment. It is Go; the details stay unread.
        return Some(GoBuildInfo::default());
    }
    let mut rest = &section[HEADER_LEN..];
    let version = read_string(&mut rest)?;
    let modinfo = read_string(&mut rest)?;
    let mut info = parse_modinfo(unwrap_sentinels(modinfo));
    info.go_version = Some(String::from_utf8_lossy(version).into_owned());
    Some(info)
}

/// Reads one uvarint-length-prefixed string, advancing `rest`.
fn read_string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut len: u64 = 0;
    let mut shift = 0;
    loop {
        let (&byte, tail) = rest.split_first()?;
        *rest = tail;
        len |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let len = usize::try_from(len).ok()?;
    if len > rest.len() {
        return None;
    }
    let (text, tail) = rest.split_at(len);
    *rest = tail;
    Some(text)
}

/// Strips the sentinels around the module info, exactly as `debug/buildinfo` does: they are
/// binary, so this works on bytes, before any decoding.
fn unwrap_sentinels(wrapped: &[u8]) -> &[u8] {
    let framed =
        wrapped.len() > 2 * SENTINEL_LEN && wrapped[wrapped.len() - SENTINEL_LEN - 1] == b'\n';
    if framed {
        &wrapped[SENTINEL_LEN..wrapped.len() - SENTINEL_LEN]
    } else {
        &[]
    }
}

/// Parses the text `go version -m` prints: tab-separated `path`, `mod`, `dep`, `=>`, `build` lines.
fn parse_modinfo(text: &[u8]) -> GoBuildInfo {
    let text = String::from_utf8_lossy(text);
    let mut info = GoBuildInfo::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let module = || GoModule {
            path: fields.get(1).unwrap_or(&"").to_string(),
            version: fields.get(2).unwrap_or(&"").to_string(),
            sum: fields.get(3).map(|s| s.to_string()),
        };
        match fields.first().copied() {
            Some("path") => info.package = fields.get(1).map(|s| s.to_string()),
            Some("mod") => info.main = Some(module()),
            Some("dep") => info.deps.push(module()),
            // A replacement applies to the dependency listed just before it.
            Some("=>") => {
                if let Some(last) = info.deps.last_mut() {
                    *last = module();
                }
            }
            Some("build") => {
                if let Some((k, v)) = fields.get(1).and_then(|kv| kv.split_once('=')) {
                    info.settings.push((k.to_string(), v.to_string()));
                }
            }
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a section as the Go 1.18+ linker lays it out.
    fn section(version: &str, modinfo: &str) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(8); // pointer size
        out.push(FLAG_INLINE_STRINGS);
        out.resize(HEADER_LEN, 0);
        // cmd/go's infoStart and infoEnd: not UTF-8, as in real binaries.
        let start = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
        let end = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";
        let wrapped = [&start[..], modinfo.as_bytes(), &end[..]].concat();
        for s in [version.as_bytes(), wrapped.as_slice()] {
            let mut len = s.len();
            while len >= 0x80 {
                out.push((len as u8) | 0x80);
                len >>= 7;
            }
            out.push(len as u8);
            out.extend_from_slice(s);
        }
        out
    }

    #[test]
    fn reads_version_modules_and_settings() {
        let modinfo = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
                       dep\tgolang.org/x/net\tv0.1.0\th1:abc=\n\
                       dep\told.example/lib\tv1.0.0\th1:x=\n=>\tnew.example/lib\tv1.1.0\th1:y=\n\
                       build\t-ldflags=-s -w\nbuild\tCGO_ENABLED=1\nbuild\tGOARCH=amd64\n";
        let info = parse(&section("go1.22.1", modinfo)).unwrap();
        assert_eq!(info.go_version.as_deref(), Some("go1.22.1"));
        assert_eq!(info.package.as_deref(), Some("example.com/app"));
        assert_eq!(info.main.as_ref().unwrap().version, "(devel)");
        assert_eq!(info.deps.len(), 2);
        assert_eq!(info.deps[1].path, "new.example/lib");
        assert_eq!(info.setting("-ldflags"), Some("-s -w"));
        assert!(info.uses_cgo());
    }

    #[test]
    fn long_strings_use_multi_byte_lengths() {
        let long = format!("path\t{}\n", "a".repeat(300));
        let info = parse(&section("go1.23.0", &long)).unwrap();
        assert_eq!(info.package.unwrap().len(), 300);
    }

    #[test]
    fn rejects_other_bytes_and_truncation() {
        assert_eq!(parse(b"not go at all, not go at all, not go"), None);
        let full = section("go1.22.1", "path\tx\n");
        assert_eq!(parse(&full[..HEADER_LEN + 3]), None);
        // A length prefix that claims more than is there.
        let mut bad = full[..HEADER_LEN].to_vec();
        bad.extend_from_slice(&[0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(parse(&bad), None);
    }

    #[test]
    fn old_layout_is_go_without_details() {
        let mut old = MAGIC.to_vec();
        old.extend_from_slice(&[8, 0]);
        old.resize(HEADER_LEN + 16, 0);
        assert_eq!(parse(&old), Some(GoBuildInfo::default()));
    }
}
