//! The dependency list cargo-auditable embeds in Rust binaries (`cargo auditable build`).
//!
//! Input: the bytes of the `.dep-v0` section: zlib-compressed JSON, `{"packages": [{"name",
//! "version", "source", "kind", "dependencies", "root"}]}` (rust-secure-code's `auditable-serde`
//! format; `kind` is absent for runtime packages and `"build"` for build-time ones, proc-macros
//! included). Output: the packages compiled into the binary, its own first.

use std::io::Read;

use serde::{Deserialize, Serialize};

/// The most decompressed bytes read: cargo-auditable caps its own output well below this.
const MAX_JSON: u64 = 8 << 20;

/// A crate compiled into the binary, as cargo-auditable recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditedCrate {
    /// The crate's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `crates.io`, `local`, `git`, `registry` or `other`.
    pub source: String,
    /// The binary's own package.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub root: bool,
}

#[derive(Deserialize)]
struct Recorded {
    packages: Vec<RecordedPackage>,
}

#[derive(Deserialize)]
struct RecordedPackage {
    name: String,
    version: String,
    source: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    root: bool,
}

/// The runtime crates of a `.dep-v0` section (the root first); `None` when the bytes are not
/// cargo-auditable's.
pub fn parse(section: &[u8]) -> Option<Vec<AuditedCrate>> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(section)
        .take(MAX_JSON + 1)
        .read_to_end(&mut json)
        .ok()?;
    if json.len() as u64 > MAX_JSON {
        return None;
    }
    let recorded: Recorded = serde_json::from_slice(&json).ok()?;
    let mut crates: Vec<AuditedCrate> = recorded
        .packages
        .into_iter()
        .filter(|p| p.kind.as_deref() != Some("build"))
        .map(|p| AuditedCrate {
            name: p.name,
            version: p.version,
            source: p.source,
            root: p.root,
        })
        .collect();
    crates.sort_by_key(|c| !c.root);
    Some(crates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn compressed(json: &str) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json.as_bytes()).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn runtime_crates_come_out_root_first() {
        let section = compressed(
            r#"{"packages":[
                {"name":"cc","version":"1.2.0","source":"crates.io","kind":"build"},
                {"name":"itoa","version":"1.0.19","source":"crates.io"},
                {"name":"app","version":"0.1.0","source":"local","dependencies":[0,1],"root":true}
            ],"format":8}"#,
        );
        let crates = parse(&section).unwrap();
        let names: Vec<_> = crates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["app", "itoa"]);
        assert!(crates[0].root);
        assert_eq!(crates[1].source, "crates.io");
    }

    #[test]
    fn other_bytes_are_not_a_dependency_list() {
        assert!(parse(b"not zlib").is_none());
        assert!(parse(&compressed("{\"no\":1}")).is_none());
        assert!(parse(&[]).is_none());
    }
}
