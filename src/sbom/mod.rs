//! The image's software bill of materials: an SPDX 2.3 JSON document naming what is inside the
//! binary, so a scanner that finds no package database in a scratch image still sees the code.
//!
//! Input: the binary's verify report (Go build info, C library, the compilers named in
//! `.comment`), what the build knows ([`Facts`]: Cargo's resolved dependencies, the C library
//! of the toolchain) and the packages the user declares. Output: the document's bytes, the same
//! for the same inputs (no random serial, no clock: the namespace is derived from the content,
//! the creation time is the image's).
//!
//! SPDX by default (the SPDX project's own validator, `pyspdxtools`, proves it valid in the
//! tests), CycloneDX 1.6 with `--sbom-format cyclonedx` for scanners that want it, and beside
//! either a CycloneDX 1.5 copy for scanners that read no later one ([`scanner_copy`]): all are
//! written from the same [`Component`]s, so they name the same packages, URLs, licences and
//! hashes.

pub mod c;
mod cyclonedx;
mod programs;
pub mod read;
pub mod rust;
pub mod vendored;

pub use programs::{Program, document_of_programs};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::image::blob::to_hex;
use crate::verify::{Libc, StaticReport};

/// Where the document goes in the image: `<dir>/<name>.spdx.json` (or `.cdx.json`), names
/// syft's SBOM cataloger and grype pick up.
pub const IMAGE_DIR: &str = "/usr/share/sbom";

/// Where the CycloneDX 1.5 copy of the document goes in the image: a folder of its own, so
/// the image shows one document per format at the top (the one `sbom IMAGE` prints).
pub const SCANNER_COPY_DIR: &str = "/usr/share/sbom/cyclonedx-1.5";

/// A platform's SBOM: the document in the format asked for, and its CycloneDX 1.5 copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Documents {
    /// The document (`--sbom-format`), in the image and as the referrer.
    pub document: Vec<u8>,
    /// The copy in the image for scanners (at [`scanner_copy_path`]).
    pub scanner_copy: Vec<u8>,
}

/// The media type of an SPDX document, as a blob and as the referrer artifact's type.
pub const MEDIA_TYPE: &str = "application/spdx+json";

/// The media type of a CycloneDX JSON document.
pub const CYCLONEDX_MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// Whether an artifact of type `media_type` is an SBOM (of either format).
pub fn is_media_type(media_type: &str) -> bool {
    media_type == MEDIA_TYPE || media_type == CYCLONEDX_MEDIA_TYPE
}

/// `--sbom-format`: which standard the document follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// SPDX 2.3 JSON.
    #[default]
    Spdx,
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
}

impl Format {
    /// Every format, in the order the help lists them.
    pub const ALL: [Format; 2] = [Format::Spdx, Format::Cyclonedx];

    /// Its name on the command line and in the settings file.
    pub fn name(self) -> &'static str {
        match self {
            Format::Spdx => "spdx",
            Format::Cyclonedx => "cyclonedx",
        }
    }

    /// What to know when choosing it.
    pub fn description(self) -> &'static str {
        match self {
            Format::Spdx => "SPDX 2.3 JSON (/usr/share/sbom/<name>.spdx.json)",
            Format::Cyclonedx => "CycloneDX 1.6 JSON (/usr/share/sbom/<name>.cdx.json)",
        }
    }

    /// The media type of its documents.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Spdx => MEDIA_TYPE,
            Format::Cyclonedx => CYCLONEDX_MEDIA_TYPE,
        }
    }

    /// The format of documents of `media_type`.
    pub fn of_media_type(media_type: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.media_type() == media_type)
    }

    /// The document's file name for application `name`, with the suffix scanners look for.
    pub fn file_name(self, name: &str) -> String {
        match self {
            Format::Spdx => format!("{name}.spdx.json"),
            Format::Cyclonedx => format!("{name}.cdx.json"),
        }
    }

    /// The document's path in the image for application `name`.
    pub fn image_path(self, name: &str) -> String {
        format!("{IMAGE_DIR}/{}", self.file_name(name))
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("`{s}` is not spdx or cyclonedx"))
    }
}

/// The document describing `programs` (the entrypoint's first) in `format`: the bytes are the
/// same for the same inputs.
pub fn write(
    format: Format,
    name: &str,
    programs: &[Program<'_>],
    declared: &[Component],
    created: i64,
) -> Vec<u8> {
    match (format, programs) {
        (Format::Spdx, [one]) => document(&Inputs {
            name,
            sha256: one.sha256,
            report: one.report,
            facts: one.facts,
            declared,
            created,
        }),
        (Format::Spdx, _) => document_of_programs(name, programs, declared, created),
        (Format::Cyclonedx, _) => {
            cyclonedx::document(cyclonedx::Version::V1_6, name, programs, declared, created)
        }
    }
}

/// The same components as CycloneDX 1.5 with 1.4's list of tools: the form scanners that read
/// no later version take (Trivy 0.44 refuses a 1.6 document, and reads an SPDX one only when
/// its packages sit under pseudo-packages named after Trivy's own analyzers).
pub fn scanner_copy(
    name: &str,
    programs: &[Program<'_>],
    declared: &[Component],
    created: i64,
) -> Vec<u8> {
    cyclonedx::document(cyclonedx::Version::V1_5, name, programs, declared, created)
}

/// The scanners' copy's path in the image for application `name`, with the suffix they look for.
pub fn scanner_copy_path(name: &str) -> String {
    format!("{SCANNER_COPY_DIR}/{name}.cdx.json")
}

/// What part a component plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// The program itself.
    Application,
    /// Code linked into it.
    Library,
    /// A compiler or linker that made it (not inside it).
    BuildTool,
}

/// One package the document names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Component {
    /// What part it plays.
    pub role: Role,
    /// Its name (a module path, a crate name, `musl`).
    pub name: String,
    /// Its version, when known.
    pub version: Option<String>,
    /// Its package URL.
    pub purl: Option<String>,
    /// Its declared licence (an SPDX expression).
    pub license: Option<String>,
    /// Where it can be downloaded.
    pub download: Option<String>,
    /// A note on where the facts come from.
    pub comment: Option<String>,
}

impl Component {
    /// Whether `other` is the same package (name, version and URL).
    pub fn same(&self, other: &Component) -> bool {
        self.name == other.name && self.version == other.version && self.purl == other.purl
    }

    /// A component with only a name and a version.
    pub fn new(role: Role, name: impl Into<String>, version: Option<String>) -> Component {
        Component {
            role,
            name: name.into(),
            version,
            purl: None,
            license: None,
            download: None,
            comment: None,
        }
    }

    /// `pkg:generic/NAME@VERSION`.
    fn generic(role: Role, name: &str, version: Option<String>) -> Component {
        Component {
            purl: Some(purl("generic", name, version.as_deref())),
            ..Component::new(role, name, version)
        }
    }

    /// Parses a `--sbom-package` value: a package URL (`pkg:TYPE/…/NAME@VERSION`), or
    /// `NAME@VERSION` / `NAME` (recorded as `pkg:generic`).
    pub fn declared(text: &str) -> Result<Component, String> {
        let bad = |why: &str| format!("`{text}` is not a package: {why}");
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return Err(bad(
                "give NAME@VERSION or a package URL (pkg:TYPE/NAME@VERSION)",
            ));
        }
        if let Some(rest) = text.strip_prefix("pkg:") {
            let main = rest.split(['?', '#']).next().unwrap_or_default();
            let (path, version) = match main.rsplit_once('@') {
                Some((p, v)) => (p, Some(percent_decode(v))),
                None => (main, None),
            };
            let (kind, name) = match (path.split_once('/'), path.rsplit_once('/')) {
                (Some((kind, _)), Some((_, name))) => (kind, name),
                _ => return Err(bad("a package URL is pkg:TYPE/[NAMESPACE/]NAME[@VERSION]")),
            };
            if kind.is_empty() || name.is_empty() || version.as_deref() == Some("") {
                return Err(bad("a package URL is pkg:TYPE/[NAMESPACE/]NAME[@VERSION]"));
            }
            return Ok(Component {
                purl: Some(text.to_string()),
                comment: Some("declared with --sbom-package (or `sbom-packages`)".into()),
                ..Component::new(Role::Library, percent_decode(name), version)
            });
        }
        let (name, version) = match text.split_once('@') {
            Some((name, version)) => (name, Some(version.to_string())),
            None => (text, None),
        };
        if name.is_empty() || version.as_deref() == Some("") || name.contains('/') {
            return Err(bad(
                "give NAME@VERSION or a package URL (pkg:TYPE/NAME@VERSION)",
            ));
        }
        Ok(Component {
            comment: Some("declared with --sbom-package (or `sbom-packages`)".into()),
            ..Component::generic(Role::Library, name, version)
        })
    }
}

impl std::str::FromStr for Component {
    type Err = String;

    fn from_str(text: &str) -> Result<Component, String> {
        Component::declared(text)
    }
}

/// What the build knows beyond the binary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// The program's own package (a Cargo package), when the build knows it.
    pub app: Option<Component>,
    /// Linked packages (Cargo's resolved dependencies, the toolchain's C library).
    pub parts: Vec<Component>,
    /// Why the facts are incomplete, when they are (shown as a warning and kept in the
    /// document's comment).
    pub gaps: Vec<String>,
}

/// Everything a document is made from.
pub struct Inputs<'a> {
    /// The application's name (the image's).
    pub name: &'a str,
    /// The binary's SHA-256, hex.
    pub sha256: &'a str,
    /// The binary's verify report.
    pub report: &'a StaticReport,
    /// What the build knows.
    pub facts: &'a Facts,
    /// What the user declares (`--sbom-package`).
    pub declared: &'a [Component],
    /// The image's creation time, seconds since the epoch.
    pub created: i64,
}

/// The components of a document: the application first, then the rest sorted, each once.
pub fn components(inputs: &Inputs<'_>) -> Vec<Component> {
    let report = inputs.report;
    let go = report.go.as_ref();
    // Without the build's answers, a Rust binary built by cargo-auditable still says which
    // crates it holds.
    let audited = match (&inputs.facts.app, &report.crates) {
        (None, Some(crates)) => crates.as_slice(),
        _ => &[],
    };
    let crate_component = |c: &crate::verify::auditable::AuditedCrate, role| Component {
        purl: (c.root || c.source != "local").then(|| purl("cargo", &c.name, Some(&c.version))),
        comment: Some(format!(
            "from the binary's cargo-auditable record (source: {})",
            c.source
        )),
        ..Component::new(role, &c.name, Some(c.version.clone()))
    };
    let from_binary = || {
        if let Some(root) = audited.iter().find(|c| c.root) {
            return crate_component(root, Role::Application);
        }
        match go.and_then(|g| g.main.as_ref()) {
            Some(main) => {
                let version = go_version(&main.version);
                Component {
                    purl: Some(go_purl(&main.path, version.as_deref())),
                    ..Component::new(Role::Application, &main.path, version)
                }
            }
            None => Component::new(Role::Application, inputs.name, None),
        }
    };
    let mut app = inputs.facts.app.clone().unwrap_or_else(from_binary);
    app.role = Role::Application;

    let mut parts: Vec<Component> = inputs.facts.parts.clone();
    parts.extend(
        audited
            .iter()
            .filter(|c| !c.root)
            .map(|c| crate_component(c, Role::Library)),
    );
    if let Some(go) = go {
        for dep in &go.deps {
            let version = go_version(&dep.version);
            parts.push(Component {
                purl: Some(go_purl(&dep.path, version.as_deref())),
                comment: Some("from the binary's Go build information".into()),
                ..Component::new(Role::Library, &dep.path, version)
            });
        }
        if let Some(toolchain) = &go.go_version {
            // Named as syft names it, so vulnerability databases match the standard library.
            let version = toolchain.trim_start_matches("go").to_string();
            parts.push(Component {
                purl: Some(purl("golang", "stdlib", Some(&version))),
                comment: Some(
                    "the Go standard library, from the binary's build information".into(),
                ),
                ..Component::new(Role::Library, "stdlib", Some(toolchain.clone()))
            });
        }
    }
    let has = |parts: &[Component], name: &str| parts.iter().any(|p| p.name == name);
    match report.libc {
        // A dynamic program's C library is a file of its own (a `--closure` image names its
        // package), not code linked into it.
        _ if report.linkage == crate::verify::Linkage::Dynamic => {}
        Some(Libc::Glibc) if !has(&parts, "glibc") => {
            let version = report.glibc.as_ref().map(|g| g.version.clone());
            parts.push(Component {
                comment: report
                    .glibc
                    .as_ref()
                    .map(|g| format!("linked statically; version {g}")),
                ..Component::generic(Role::Library, "glibc", version)
            });
        }
        Some(Libc::Musl) if !has(&parts, "musl") => parts.push(Component {
            comment: Some("linked statically; the binary does not record which release".into()),
            ..Component::generic(Role::Library, "musl", None)
        }),
        _ => {}
    }
    for line in &report.compilers {
        if let Some(tool) = compiler(line) {
            parts.push(tool);
        }
    }
    parts.extend(inputs.declared.iter().cloned());
    parts.retain(|p| !(p.name == app.name && p.version == app.version));
    parts.sort();
    parts.dedup_by(|a, b| a.name == b.name && a.version == b.version && a.purl == b.purl);
    std::iter::once(app).chain(parts).collect()
}

/// The SPDX 2.3 JSON document for `inputs`, pretty-printed, ending in a newline.
pub fn document(inputs: &Inputs<'_>) -> Vec<u8> {
    let components = components(inputs);
    let ids: Vec<String> = components
        .iter()
        .enumerate()
        .map(|(i, c)| format!("SPDXRef-Package-{i}-{}", spdx_id_part(&c.name)))
        .collect();
    let packages: Vec<Value> = components
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(i, (c, id))| package(c, id, (i == 0).then_some(inputs.sha256)))
        .collect();
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": ids[0],
    })];
    for (c, id) in components.iter().zip(&ids).skip(1) {
        relationships.push(match c.role {
            Role::BuildTool => json!({
                "spdxElementId": id,
                "relationshipType": "BUILD_TOOL_OF",
                "relatedSpdxElement": ids[0],
            }),
            _ => json!({
                "spdxElementId": ids[0],
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": id,
            }),
        });
    }
    let mut comment = format!(
        "The statically linked program `{}` of a scratch image, and what is linked into it.",
        inputs.name
    );
    for gap in &inputs.facts.gaps {
        comment.push(' ');
        comment.push_str(gap);
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": inputs.name,
        "comment": comment,
        "creationInfo": {
            "created": crate::image::config::rfc3339(inputs.created),
            "creators": [format!("Tool: static-image-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    });
    // A namespace unique to this content, with no randomness: the digest of everything else.
    let digest = to_hex(&Sha256::digest(doc.to_string().as_bytes()));
    doc["documentNamespace"] = Value::String(format!(
        "https://spdx.org/spdxdocs/static-image/{}-{digest}",
        spdx_id_part(inputs.name)
    ));
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn package(c: &Component, id: &str, sha256: Option<&str>) -> Value {
    let mut p = json!({
        "SPDXID": id,
        "name": c.name,
        "downloadLocation": c.download.as_deref().unwrap_or("NOASSERTION"),
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": c.license.as_deref().and_then(license_expression)
            .unwrap_or_else(|| "NOASSERTION".into()),
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": match c.role {
            Role::Application | Role::BuildTool => "APPLICATION",
            Role::Library => "LIBRARY",
        },
    });
    if let Some(version) = &c.version {
        p["versionInfo"] = json!(version);
    }
    if let Some(purl) = &c.purl {
        p["externalRefs"] = json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }]);
    }
    if let Some(sha256) = sha256 {
        p["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sha256 }]);
    }
    if let Some(comment) = &c.comment {
        p["comment"] = json!(comment);
    }
    p
}

/// A licence field as an SPDX expression (both formats take those), or `None` when it is not one: Cargo's old `MIT/Apache-2.0`
/// form becomes `MIT OR Apache-2.0`; anything with other characters is not claimed.
fn license_expression(text: &str) -> Option<String> {
    let text = text.replace('/', " OR ");
    let words: Vec<&str> = text.split_whitespace().collect();
    let ok = !words.is_empty()
        && words.iter().all(|w| {
            w.trim_matches(['(', ')'])
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | ':'))
        });
    ok.then(|| words.join(" "))
}

/// Characters an SPDX identifier may hold (`[A-Za-z0-9.-]`).
pub(crate) fn spdx_id_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A Go module version, or `None` for a main module built from source (`(devel)`).
fn go_version(version: &str) -> Option<String> {
    (!version.is_empty() && version != "(devel)").then(|| version.to_string())
}

/// `pkg:golang/NAMESPACE/NAME@VERSION` for a module path.
fn go_purl(path: &str, version: Option<&str>) -> String {
    purl("golang", path, version)
}

/// `pkg:TYPE/PATH@VERSION`, each path segment and the version percent-encoded (purl spec).
pub fn purl(kind: &str, path: &str, version: Option<&str>) -> String {
    let path: Vec<String> = path.split('/').map(percent_encode).collect();
    let mut out = format!("pkg:{kind}/{}", path.join("/"));
    if let Some(version) = version {
        out.push('@');
        out.push_str(&percent_encode(version));
    }
    out
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A compiler or linker named in `.comment` (`rustc version 1.95.0 (…)`, `GCC: (Debian
/// 12.2.0-14) 12.2.0`, `clang version 19.1.0`, `Linker: LLD 19.1.0`), as a build tool.
fn compiler(line: &str) -> Option<Component> {
    let version_after = |rest: &str| {
        rest.split_whitespace()
            .next()
            .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
            .map(str::to_string)
    };
    let (name, version) = if let Some(rest) = line.strip_prefix("rustc version ") {
        ("rustc", version_after(rest))
    } else if let Some(rest) = line.strip_prefix("GCC: ") {
        // The release is the last word; the parenthesised part is the distribution's build.
        ("gcc", rest.rsplit(' ').next().and_then(version_after))
    } else if let Some(at) = line.find("clang version ") {
        ("clang", version_after(&line[at + "clang version ".len()..]))
    } else if let Some(rest) = line.strip_prefix("Linker: LLD ") {
        ("lld", version_after(rest))
    } else {
        return None;
    };
    Some(Component {
        comment: Some(format!("named in the binary's .comment section: `{line}`")),
        ..Component::generic(Role::BuildTool, name, version)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_encode_each_segment() {
        assert_eq!(
            purl("golang", "github.com/a/b", Some("v1.0.0+incompatible")),
            "pkg:golang/github.com/a/b@v1.0.0%2Bincompatible"
        );
        assert_eq!(
            purl("cargo", "itoa", Some("1.0.15")),
            "pkg:cargo/itoa@1.0.15"
        );
        assert_eq!(purl("generic", "musl", None), "pkg:generic/musl");
    }

    #[test]
    fn declared_packages_parse_or_are_refused() {
        let zlib = Component::declared("zlib@1.3.1").unwrap();
        assert_eq!(
            (zlib.name.as_str(), zlib.version.as_deref()),
            ("zlib", Some("1.3.1"))
        );
        assert_eq!(zlib.purl.as_deref(), Some("pkg:generic/zlib@1.3.1"));
        let ssl = Component::declared("pkg:deb/debian/libssl3@3.0.15-1?arch=amd64").unwrap();
        assert_eq!(
            (ssl.name.as_str(), ssl.version.as_deref()),
            ("libssl3", Some("3.0.15-1"))
        );
        assert_eq!(
            ssl.purl.as_deref(),
            Some("pkg:deb/debian/libssl3@3.0.15-1?arch=amd64")
        );
        assert!(Component::declared("sqlite").unwrap().version.is_none());
        for bad in ["", "a b@1", "zlib@", "pkg:generic", "pkg:/x@1", "a/b@1"] {
            let err = Component::declared(bad).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn compilers_come_from_comment_lines() {
        let rustc = compiler("rustc version 1.95.0 (59807616e 2026-04-14)").unwrap();
        assert_eq!(
            (rustc.name.as_str(), rustc.version.as_deref()),
            ("rustc", Some("1.95.0"))
        );
        let gcc = compiler("GCC: (Debian 12.2.0-14+deb12u1) 12.2.0").unwrap();
        assert_eq!(gcc.version.as_deref(), Some("12.2.0"));
        let clang = compiler("clang version 19.1.7 (https://github.com/x 1234)").unwrap();
        assert_eq!(clang.version.as_deref(), Some("19.1.7"));
        assert_eq!(compiler("Linker: LLD 19.1.7").unwrap().name, "lld");
        assert!(compiler("something else").is_none());
    }

    #[test]
    fn licences_are_claimed_only_when_they_read_as_expressions() {
        assert_eq!(
            license_expression("MIT/Apache-2.0").as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(
            license_expression("(MIT OR Apache-2.0) AND Unicode-3.0").as_deref(),
            Some("(MIT OR Apache-2.0) AND Unicode-3.0")
        );
        assert_eq!(license_expression("see LICENSE, please"), None);
    }
}
