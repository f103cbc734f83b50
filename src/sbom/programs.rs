//! The SBOM of an image of several programs: one document describing each program (its
//! package, what is linked into it, the tools that made it) and each program's file in the
//! image with its checksums. A component two programs share (the C library, a crate both link)
//! is listed once, with a relationship from each program that holds it.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Component, Facts, Inputs, Role, components, package, spdx_id_part};
use crate::image::blob::to_hex;
use crate::verify::StaticReport;

/// One program of the image, as its document describes it.
#[derive(Clone)]
pub struct Program<'a> {
    /// Its name (its file's name in `/app/`).
    pub name: &'a str,
    /// Its path in the image.
    pub path: String,
    /// The binary's SHA-256, hex.
    pub sha256: &'a str,
    /// The binary's SHA-1, hex (SPDX 2.3 requires it of every file).
    pub sha1: String,
    /// Its verify report.
    pub report: &'a StaticReport,
    /// What the build knows of it.
    pub facts: &'a Facts,
}

/// The components of several programs' documents.
pub(super) struct Merged {
    /// Each program's components as a one-program document lists them: its package first.
    pub lists: Vec<Vec<Component>>,
    /// The programs' packages first (two binaries of one Cargo package share one), then every
    /// other component once, sorted.
    pub all: Vec<Component>,
    /// How many of `all` are the programs' packages.
    pub apps: usize,
}

impl Merged {
    /// Each component's identifier in a document: `{prefix}-{i}-{name}`.
    pub fn ids(&self, prefix: &str) -> Vec<String> {
        self.all
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{prefix}-{i}-{}", spdx_id_part(&c.name)))
            .collect()
    }

    /// Where `c` is in [`Merged::all`].
    pub fn index_of(&self, c: &Component) -> Option<usize> {
        self.all.iter().position(|a| a.same(c))
    }

    /// The programs whose package is the `i`th component, with their indexes.
    pub fn held<'p, 'a>(
        &self,
        i: usize,
        programs: &'p [Program<'a>],
    ) -> Vec<(usize, &'p Program<'a>)> {
        programs
            .iter()
            .zip(&self.lists)
            .enumerate()
            .filter(|(_, (_, l))| i < self.apps && l[0].same(&self.all[i]))
            .map(|(k, (p, _))| (k, p))
            .collect()
    }
}

/// What a document of `programs` in the image `name` describes, and why its facts are
/// incomplete where they are (each gap once).
pub(super) fn description(name: &str, programs: &[Program<'_>]) -> String {
    let mut text = match programs {
        [_] => format!(
            "The statically linked program `{name}` of a scratch image, and what is linked into it."
        ),
        _ => {
            let names: Vec<String> = programs.iter().map(|p| format!("`{}`", p.path)).collect();
            format!(
                "The statically linked programs {} of a scratch image (the first is its \
                 entrypoint), and what is linked into each.",
                names.join(", ")
            )
        }
    };
    for gap in programs.iter().flat_map(|p| &p.facts.gaps) {
        if !text.contains(gap.as_str()) {
            text.push(' ');
            text.push_str(gap);
        }
    }
    text
}

/// Lists every program's components, and each component once.
pub(super) fn merge(programs: &[Program<'_>], declared: &[Component], created: i64) -> Merged {
    let lists: Vec<Vec<Component>> = programs
        .iter()
        .map(|p| {
            components(&Inputs {
                name: p.name,
                sha256: p.sha256,
                report: p.report,
                facts: p.facts,
                declared,
                created,
            })
        })
        .collect();
    let mut all: Vec<Component> = Vec::new();
    for list in &lists {
        if !all.iter().any(|c| c.same(&list[0])) {
            all.push(list[0].clone());
        }
    }
    let apps = all.len();
    let mut parts: Vec<Component> = lists
        .iter()
        .flat_map(|l| l.iter().skip(1).cloned())
        .filter(|c| !all.iter().any(|a| a.same(c)))
        .collect();
    parts.sort();
    parts.dedup_by(|a, b| a.same(b));
    all.extend(parts);
    Merged { lists, all, apps }
}

/// The SPDX 2.3 JSON document of an image named `name` holding `programs` (the entrypoint's
/// first), pretty-printed, ending in a newline; the same bytes for the same inputs.
pub fn document_of_programs(
    name: &str,
    programs: &[Program<'_>],
    declared: &[Component],
    created: i64,
) -> Vec<u8> {
    let merged = merge(programs, declared, created);
    let ids = merged.ids("SPDXRef-Package");
    let id_of = |c: &Component| {
        merged
            .index_of(c)
            .map(|i| ids[i].clone())
            .unwrap_or_default()
    };
    let Merged { lists, all, apps } = &merged;
    let apps = *apps;
    // A program's package holds its file (two binaries of one Cargo package, both): SPDX lets
    // a package contain files only when they are listed as analysed, with a verification code.
    // Its checksum is its one binary's; a package two binaries share has none.
    let packages: Vec<Value> = all
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(i, (c, id))| {
            let held = merged.held(i, programs);
            let sha256 = match held.as_slice() {
                [(_, one)] => Some(one.sha256),
                _ => None,
            };
            let mut value = package(c, id, sha256);
            if !held.is_empty() {
                value["filesAnalyzed"] = json!(true);
                value["hasFiles"] = held
                    .iter()
                    .map(|(k, p)| json!(file_id(*k, p.name)))
                    .collect();
                let sha1s: Vec<&str> = held.iter().map(|(_, p)| p.sha1.as_str()).collect();
                value["packageVerificationCode"] =
                    json!({ "packageVerificationCodeValue": verification_code(sha1s) });
            }
            value
        })
        .collect();
    let files: Vec<Value> = programs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "SPDXID": file_id(i, p.name),
                "fileName": format!(".{}", p.path),
                "fileTypes": ["BINARY"],
                "checksums": [
                    { "algorithm": "SHA1", "checksumValue": p.sha1 },
                    { "algorithm": "SHA256", "checksumValue": p.sha256 },
                ],
                "licenseConcluded": "NOASSERTION",
                "copyrightText": "NOASSERTION",
            })
        })
        .collect();
    let mut relationships: Vec<Value> = ids[..apps]
        .iter()
        .map(|id| {
            json!({
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": id,
            })
        })
        .collect();
    for (i, (program, list)) in programs.iter().zip(lists).enumerate() {
        let app = id_of(&list[0]);
        relationships.push(json!({
            "spdxElementId": app,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": file_id(i, program.name),
        }));
        for c in &list[1..] {
            let id = id_of(c);
            let relationship = match c.role {
                Role::BuildTool => (id, "BUILD_TOOL_OF", app.clone()),
                _ => (app.clone(), "CONTAINS", id),
            };
            let relationship = json!({
                "spdxElementId": relationship.0,
                "relationshipType": relationship.1,
                "relatedSpdxElement": relationship.2,
            });
            if !relationships.contains(&relationship) {
                relationships.push(relationship);
            }
        }
    }
    let comment = description(name, programs);
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "comment": comment,
        "creationInfo": {
            "created": crate::image::config::rfc3339(created),
            "creators": [format!("Tool: static-image-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "files": files,
        "relationships": relationships,
    });
    // A namespace unique to this content, with no randomness: the digest of everything else.
    let digest = to_hex(&Sha256::digest(doc.to_string().as_bytes()));
    doc["documentNamespace"] = Value::String(format!(
        "https://spdx.org/spdxdocs/static-image/{}-{digest}",
        spdx_id_part(name)
    ));
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// SPDX's package verification code: the SHA-1 of the package's files' SHA-1s, sorted and
/// joined (SPDX 2.3, clause 7.9).
fn verification_code(mut sha1s: Vec<&str>) -> String {
    use sha1::Digest as _;
    sha1s.sort_unstable();
    to_hex(&sha1::Sha1::digest(sha1s.concat().as_bytes()))
}

/// The identifier of the `i`th program's file.
fn file_id(i: usize, name: &str) -> String {
    format!("SPDXRef-File-{i}-{}", spdx_id_part(name))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::platform::Platform;
    use crate::verify::{Libc, Linkage, Machine};

    pub(crate) fn report(path: &str) -> StaticReport {
        StaticReport {
            path: path.into(),
            linkage: Linkage::StaticPie,
            interpreter: None,
            needed: vec![],
            machine: Machine {
                name: "x86-64".into(),
                elf_machine: goblin::elf::header::EM_X86_64,
                bits: 64,
                little_endian: true,
                platform: Some(Platform::amd64()),
            },
            expected_platform: None,
            libc: Some(Libc::Musl),
            glibc: None,
            go: None,
            crates: None,
            compilers: vec!["rustc version 1.95.0".into()],
            hazards: vec![],
            problems: vec![],
            hint: None,
            ok: true,
        }
    }

    pub(crate) fn facts(app: &str, parts: &[&str]) -> Facts {
        Facts {
            app: Some(Component::new(Role::Application, app, Some("1.0.0".into()))),
            parts: parts
                .iter()
                .map(|p| Component::new(Role::Library, *p, Some("0.1.0".into())))
                .collect(),
            gaps: vec![],
        }
    }

    #[test]
    fn each_program_is_described_and_what_they_share_is_listed_once() {
        let (server, migrate) = (report("server"), report("migrate"));
        let (server_facts, migrate_facts) = (
            facts("server", &["common", "tokio"]),
            facts("migrate", &["common"]),
        );
        let programs = [
            Program {
                name: "server",
                path: "/app/server".into(),
                sha256: "aa",
                sha1: "11".into(),
                report: &server,
                facts: &server_facts,
            },
            Program {
                name: "migrate",
                path: "/app/migrate".into(),
                sha256: "bb",
                sha1: "22".into(),
                report: &migrate,
                facts: &migrate_facts,
            },
        ];
        let bytes = document_of_programs("server", &programs, &[], 0);
        assert_eq!(bytes, document_of_programs("server", &programs, &[], 0));
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        let names: Vec<&str> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        // The programs first, then every other component once (musl and rustc from both),
        // libraries before build tools.
        assert_eq!(
            names,
            ["server", "migrate", "common", "musl", "tokio", "rustc"]
        );
        let rel = |from: &str, kind: &str, to: &str| {
            doc["relationships"].as_array().unwrap().contains(&json!({
                "spdxElementId": from,
                "relationshipType": kind,
                "relatedSpdxElement": to,
            }))
        };
        assert!(rel(
            "SPDXRef-DOCUMENT",
            "DESCRIBES",
            "SPDXRef-Package-0-server"
        ));
        assert!(rel(
            "SPDXRef-DOCUMENT",
            "DESCRIBES",
            "SPDXRef-Package-1-migrate"
        ));
        assert!(rel(
            "SPDXRef-Package-0-server",
            "CONTAINS",
            "SPDXRef-Package-2-common"
        ));
        assert!(rel(
            "SPDXRef-Package-1-migrate",
            "CONTAINS",
            "SPDXRef-Package-2-common"
        ));
        assert!(rel(
            "SPDXRef-Package-0-server",
            "CONTAINS",
            "SPDXRef-Package-4-tokio"
        ));
        assert!(!rel(
            "SPDXRef-Package-1-migrate",
            "CONTAINS",
            "SPDXRef-Package-4-tokio"
        ));
        assert!(rel(
            "SPDXRef-Package-1-migrate",
            "CONTAINS",
            "SPDXRef-File-1-migrate"
        ));
        assert!(rel(
            "SPDXRef-Package-5-rustc",
            "BUILD_TOOL_OF",
            "SPDXRef-Package-1-migrate"
        ));
        assert_eq!(doc["files"][1]["fileName"], "./app/migrate");
        assert_eq!(doc["files"][1]["checksums"][1]["checksumValue"], "bb");
        assert_eq!(
            doc["packages"][0]["hasFiles"],
            json!(["SPDXRef-File-0-server"])
        );
    }

    #[test]
    fn the_verification_code_is_the_sha1_of_the_sorted_sha1s() {
        // SPDX 2.3 clause 7.9: order does not matter.
        assert_eq!(
            verification_code(vec!["b", "a"]),
            verification_code(vec!["a", "b"])
        );
        use sha1::Digest as _;
        assert_eq!(
            verification_code(vec!["b", "a"]),
            to_hex(&sha1::Sha1::digest(b"ab"))
        );
    }
}
