//! The image's SBOM again as CycloneDX 1.5 JSON, beside the SPDX document
//! (`/usr/share/sbom/<name>.cdx.json`), for scanners that read packages out of SPDX only in
//! their own shape: Trivy up to at least 0.44 takes an SPDX package only when a package whose
//! SPDXID starts `SPDXRef-Application-` and whose *name* is Trivy's application type
//! (`cargo`, `gobinary`) CONTAINS it, and so reads nothing from a document that names the
//! program itself; its CycloneDX reader takes any component with a package URL. Writing
//! Trivy's pseudo-packages into the SPDX document instead would show every other reader a
//! package called `cargo`.
//!
//! Made from the SPDX document, so the two say the same: the described package(s) become
//! `metadata.component`, build tools (`BUILD_TOOL_OF`) `metadata.tools`, everything else a
//! component, and `CONTAINS` the dependency graph. Deterministic: no clock, no random serial
//! (the serial number is derived from the content).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::IMAGE_DIR;

/// The CycloneDX document's path in the image for application `name`.
pub fn image_path(name: &str) -> String {
    format!("{IMAGE_DIR}/{name}.cdx.json")
}

/// The CycloneDX rendering of one of our SPDX documents; `None` if it is not one.
pub fn of_spdx(spdx: &[u8]) -> Option<Vec<u8>> {
    let spdx: Value = serde_json::from_slice(spdx).ok()?;
    let packages = spdx["packages"].as_array()?;
    let relationships = spdx["relationships"].as_array()?;
    let related = |kind: &'static str| {
        relationships
            .iter()
            .filter(move |r| r["relationshipType"] == kind)
            .filter_map(|r| {
                Some((
                    r["spdxElementId"].as_str()?,
                    r["relatedSpdxElement"].as_str()?,
                ))
            })
    };
    let described: Vec<&str> = related("DESCRIBES").map(|(_, b)| b).collect();
    let tools: Vec<&str> = related("BUILD_TOOL_OF").map(|(a, _)| a).collect();
    let by_id = |id: &str| packages.iter().find(|p| p["SPDXID"] == id);

    let root = match described.as_slice() {
        [one] => component(by_id(one)?, "application"),
        // Several programs: the image is the root, each program a component.
        _ => json!({
            "bom-ref": "SPDXRef-DOCUMENT",
            "type": "container",
            "name": spdx["name"],
        }),
    };
    let root_ref = root["bom-ref"].as_str()?.to_string();
    let mut components = Vec::new();
    // The tools as CycloneDX 1.4 listed them (still valid in 1.5): Trivy's reader takes no
    // other form.
    let mut tools_used = vec![json!({
        "name": "static-image",
        "version": env!("CARGO_PKG_VERSION"),
    })];
    for package in packages {
        let id = package["SPDXID"].as_str()?;
        if id == root_ref {
            continue;
        }
        if tools.contains(&id) {
            let mut tool = json!({ "name": package["name"] });
            if let Some(version) = package["versionInfo"].as_str() {
                tool["version"] = json!(version);
            }
            tools_used.push(tool);
        } else if described.contains(&id) {
            components.push(component(package, "application"));
        } else {
            components.push(component(package, "library"));
        }
    }
    let mut dependencies: Vec<(String, Vec<String>)> = Vec::new();
    let mut depend = |from: &str, to: &str| match dependencies.iter_mut().find(|d| d.0 == from) {
        Some(entry) => entry.1.push(to.to_string()),
        None => dependencies.push((from.to_string(), vec![to.to_string()])),
    };
    if described.len() > 1 {
        for program in &described {
            depend(&root_ref, program);
        }
    }
    for (from, to) in related("CONTAINS") {
        depend(from, to);
    }
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": spdx["creationInfo"]["created"],
            "tools": tools_used,
            "component": root,
        },
        "components": components,
        "dependencies": dependencies
            .into_iter()
            .map(|(r, on)| json!({ "ref": r, "dependsOn": on }))
            .collect::<Vec<_>>(),
    });
    // A serial number unique to this content, with no randomness (RFC 4122 layout, version 4
    // bits set so validators accept it).
    let digest = Sha256::digest(bom.to_string().as_bytes());
    let mut b: [u8; 16] = digest[..16].try_into().ok()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = crate::image::blob::to_hex(&b);
    bom["serialNumber"] = json!(format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ));
    let mut bytes = serde_json::to_vec_pretty(&bom).ok()?;
    bytes.push(b'\n');
    Some(bytes)
}

/// One SPDX package as a CycloneDX component of `kind`, its SPDXID the `bom-ref`.
fn component(package: &Value, kind: &str) -> Value {
    let mut c = json!({
        "bom-ref": package["SPDXID"],
        "type": kind,
        "name": package["name"],
    });
    if let Some(version) = package["versionInfo"].as_str() {
        c["version"] = json!(version);
    }
    let purl = package["externalRefs"].as_array().and_then(|refs| {
        refs.iter()
            .find(|r| r["referenceType"] == "purl")
            .and_then(|r| r["referenceLocator"].as_str())
    });
    if let Some(purl) = purl {
        c["purl"] = json!(purl);
    }
    if let Some(license) = package["licenseDeclared"]
        .as_str()
        .filter(|l| *l != "NOASSERTION" && *l != "NONE")
    {
        c["licenses"] = json!([{ "expression": license }]);
    }
    if let Some(sha256) = package["checksums"].as_array().and_then(|sums| {
        sums.iter()
            .find(|s| s["algorithm"] == "SHA256")
            .and_then(|s| s["checksumValue"].as_str())
    }) {
        c["hashes"] = json!([{ "alg": "SHA-256", "content": sha256 }]);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spdx_document_becomes_the_same_cyclonedx_bom() {
        let spdx = json!({
            "name": "app",
            "creationInfo": { "created": "1970-01-01T00:00:00Z" },
            "packages": [
                { "SPDXID": "SPDXRef-Package-0-app", "name": "app", "versionInfo": "1.0.0",
                  "licenseDeclared": "MIT",
                  "checksums": [{ "algorithm": "SHA256", "checksumValue": "ab" }],
                  "externalRefs": [{ "referenceType": "purl",
                                     "referenceLocator": "pkg:cargo/app@1.0.0" }] },
                { "SPDXID": "SPDXRef-Package-1-itoa", "name": "itoa", "versionInfo": "1.0.15",
                  "licenseDeclared": "NOASSERTION",
                  "externalRefs": [{ "referenceType": "purl",
                                     "referenceLocator": "pkg:cargo/itoa@1.0.15" }] },
                { "SPDXID": "SPDXRef-Package-2-rustc", "name": "rustc", "versionInfo": "1.95.0" },
            ],
            "relationships": [
                { "spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                  "relatedSpdxElement": "SPDXRef-Package-0-app" },
                { "spdxElementId": "SPDXRef-Package-0-app", "relationshipType": "CONTAINS",
                  "relatedSpdxElement": "SPDXRef-Package-1-itoa" },
                { "spdxElementId": "SPDXRef-Package-2-rustc", "relationshipType": "BUILD_TOOL_OF",
                  "relatedSpdxElement": "SPDXRef-Package-0-app" },
            ],
        });
        let bytes = serde_json::to_vec(&spdx).unwrap();
        let bom: Value = serde_json::from_slice(&of_spdx(&bytes).unwrap()).unwrap();
        assert_eq!(bom["metadata"]["component"]["purl"], "pkg:cargo/app@1.0.0");
        assert_eq!(
            bom["metadata"]["component"]["licenses"][0]["expression"],
            "MIT"
        );
        assert_eq!(bom["metadata"]["component"]["hashes"][0]["content"], "ab");
        let components = bom["components"].as_array().unwrap();
        assert_eq!(components.len(), 1);
        assert_eq!(components[0]["purl"], "pkg:cargo/itoa@1.0.15");
        assert!(components[0].get("licenses").is_none());
        assert_eq!(
            bom["metadata"]["tools"][1],
            json!({ "name": "rustc", "version": "1.95.0" })
        );
        assert_eq!(
            bom["dependencies"],
            json!([{ "ref": "SPDXRef-Package-0-app", "dependsOn": ["SPDXRef-Package-1-itoa"] }])
        );
        // The same document, the same bytes.
        assert_eq!(of_spdx(&bytes), of_spdx(&bytes));
        assert!(of_spdx(b"not json").is_none());
    }
}
