//! C libraries that crates compile from the sources they carry (OpenSSL by `openssl-src`,
//! SQLite by `libsqlite3-sys` with `bundled`): the SBOM names them under their own name and
//! release, which is what advisories are filed against. Which crates do this, and where each
//! keeps the library's release, is data (`toolchains/crates.toml`), so a new crate is a data
//! change.

use std::path::Path;

use serde::Deserialize;

use super::{Component, Role, purl};

/// The built-in rules; the SBOM cache keys on them, so a changed rule is applied to old builds.
pub(super) const CRATES: &str = include_str!("../../toolchains/crates.toml");

/// A crate of the build that may carry a C library.
pub struct Candidate<'a> {
    /// The crate's name.
    pub name: &'a str,
    /// Its version (`300.6.1+3.6.3`).
    pub version: &'a str,
    /// The features it was resolved with.
    pub features: &'a [String],
    /// The folder of its sources (where its `Cargo.toml` is).
    pub dir: &'a Path,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    vendored: Vec<Rule>,
    /// Libraries built for a crate rather than by it (`provide`).
    #[serde(default, rename = "provide")]
    _provide: Vec<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(rename = "crate")]
    krate: String,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    unless_features: Vec<String>,
    library: String,
    version: String,
    purl_name: String,
}

fn rules() -> Vec<Rule> {
    // The file is built in and parsed by a unit test; a broken one lists nothing.
    toml::from_str::<File>(CRATES)
        .map(|f| f.vendored)
        .unwrap_or_default()
}

/// The C libraries `candidates` compile into the binary, one component each.
pub fn libraries(candidates: &[Candidate<'_>]) -> Vec<Component> {
    let rules = rules();
    let mut out = Vec::new();
    for c in candidates {
        for rule in rules.iter().filter(|r| r.krate == c.name) {
            let on = |list: &[String]| list.iter().any(|f| c.features.contains(f));
            if (!rule.features.is_empty() && !on(&rule.features)) || on(&rule.unless_features) {
                continue;
            }
            let version = release(&rule.version, c);
            out.push(Component {
                purl: Some(purl("generic", &rule.purl_name, version.as_deref())),
                comment: Some(format!(
                    "C sources carried by the crate `{}` {}, compiled into the binary",
                    c.name, c.version
                )),
                ..Component::new(Role::Library, &rule.library, version)
            });
        }
    }
    out
}

/// The library's release, by the rule's `version` (see `toolchains/crates.toml`).
fn release(how: &str, c: &Candidate<'_>) -> Option<String> {
    if let Some(prefix) = how.strip_prefix("build:") {
        let (_, build) = c.version.split_once('+')?;
        return build
            .strip_prefix(prefix)
            .filter(|v| !v.is_empty())
            .map(str::to_string);
    }
    let (path, start) = how.strip_prefix("file:")?.split_once(':')?;
    let text = std::fs::read_to_string(c.dir.join(path)).ok()?;
    let line = text.lines().find(|l| l.starts_with(start))?;
    let quoted = line[start.len()..].split('"').nth(1)?;
    (!quoted.is_empty()).then(|| quoted.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_rules_parse() {
        assert!(toml::from_str::<File>(CRATES).is_ok());
        assert!(rules().iter().any(|r| r.krate == "openssl-src"));
    }

    #[test]
    fn libraries_are_named_with_their_own_release() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sqlite3")).unwrap();
        std::fs::write(
            dir.path().join("sqlite3/sqlite3.h"),
            "#define SQLITE_VERSION_NUMBER 3049001\n#define SQLITE_VERSION        \"3.49.1\"\n",
        )
        .unwrap();
        let none: Vec<String> = Vec::new();
        let bundled = vec!["bundled".to_string()];
        let pkg_config = vec!["pkg-config".to_string()];
        let found = libraries(&[
            Candidate {
                name: "openssl-src",
                version: "300.6.1+3.6.3",
                features: &none,
                dir: dir.path(),
            },
            Candidate {
                name: "libsqlite3-sys",
                version: "0.31.0",
                features: &bundled,
                dir: dir.path(),
            },
            Candidate {
                name: "zstd-sys",
                version: "2.1.3+zstd.1.5.7",
                features: &none,
                dir: dir.path(),
            },
            // The system's library, not the crate's sources: not listed.
            Candidate {
                name: "zstd-sys",
                version: "2.1.3+zstd.1.5.7",
                features: &pkg_config,
                dir: dir.path(),
            },
            Candidate {
                name: "libsqlite3-sys",
                version: "0.31.0",
                features: &none,
                dir: dir.path(),
            },
            Candidate {
                name: "itoa",
                version: "1.0.0",
                features: &none,
                dir: dir.path(),
            },
        ]);
        let named: Vec<(&str, Option<&str>, Option<&str>)> = found
            .iter()
            .map(|c| (c.name.as_str(), c.version.as_deref(), c.purl.as_deref()))
            .collect();
        assert_eq!(
            named,
            [
                ("OpenSSL", Some("3.6.3"), Some("pkg:generic/openssl@3.6.3")),
                ("SQLite", Some("3.49.1"), Some("pkg:generic/sqlite@3.49.1")),
                ("zstd", Some("1.5.7"), Some("pkg:generic/zstd@1.5.7")),
            ]
        );
        assert!(
            found[0]
                .comment
                .as_deref()
                .is_some_and(|c| c.contains("`openssl-src` 300.6.1+3.6.3"))
        );
    }
}
