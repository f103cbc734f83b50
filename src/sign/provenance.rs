//! The SLSA provenance v1 statement (slsa.dev/spec/v1.0/provenance) for an image manifest or
//! index: an in-toto Statement v1 whose subject is the digest signed.
//!
//! The statement must stay reproducible when the image is: no absolute host paths (the project
//! is named relative to its root), no clock unless `SOURCE_DATE_EPOCH` gives one, no random
//! invocation id. Keys are sorted by serializing through `serde_json::Value`.

use std::collections::BTreeMap;

use serde::Serialize;

/// in-toto's statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// SLSA provenance v1's predicate type.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What kind of build made the image; its parameters are `externalParameters`' keys.
pub const BUILD_TYPE: &str = "urn:static-image:build-type:image:v1";
/// The builder, unless `STATIC_IMAGE_BUILDER_ID` names the platform the run is on (a CI
/// system's runner id, say), which is what consumers of SLSA compare.
pub const DEFAULT_BUILDER_ID: &str = "urn:static-image:builder:local";

/// One input the build read: a source, a lockfile, a toolchain, a base image
/// (SLSA's `ResourceDescriptor`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// What it is (`source`, `Cargo.lock`, `rustc`, `base`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it comes from (a package URL, an image reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Its digests by algorithm (`sha256`, `gitCommit`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// Anything else worth stating (`dirty`, `version`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Resource {
    /// A resource named `name` with one digest.
    pub fn with_digest(name: &str, algorithm: &str, digest: &str) -> Resource {
        Resource {
            name: Some(name.into()),
            digest: [(algorithm.to_string(), digest.to_string())].into(),
            ..Resource::default()
        }
    }
}

/// Everything a statement is made of.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The subject's name (the image's reference, or its name).
    pub subject_name: String,
    /// The subject's digest, `sha256:<hex>`.
    pub subject_digest: String,
    /// The flags that shaped the image, the platform, the project path relative to its root.
    pub external: serde_json::Value,
    /// What the build read.
    pub dependencies: Vec<Resource>,
    /// `runDetails.builder.id`.
    pub builder_id: String,
    /// Start and finish, seconds since the epoch; `None` leaves them out (no
    /// `SOURCE_DATE_EPOCH`: a clock reading would make the statement differ every run).
    pub times: Option<(i64, i64)>,
}

/// The statement as canonical JSON bytes.
pub fn statement(inputs: &Inputs) -> Vec<u8> {
    let (algorithm, hex) = inputs
        .subject_digest
        .split_once(':')
        .unwrap_or(("sha256", inputs.subject_digest.as_str()));
    let mut metadata = serde_json::Map::new();
    if let Some((started, finished)) = inputs.times {
        metadata.insert("startedOn".into(), rfc3339(started).into());
        metadata.insert("finishedOn".into(), rfc3339(finished).into());
    }
    let value = serde_json::json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": inputs.subject_name,
            "digest": { algorithm: hex },
        }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": inputs.external,
                "resolvedDependencies": inputs.dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": inputs.builder_id,
                    "version": { "static-image": env!("CARGO_PKG_VERSION") },
                },
                "metadata": metadata,
            },
        },
    });
    // `json!` builds maps whose keys serialize sorted: the bytes depend on the content alone.
    serde_json::to_vec(&value).unwrap_or_default()
}

fn rfc3339(seconds: i64) -> String {
    crate::image::config::rfc3339(seconds)
}

/// What a statement says about its subject, read back for checking.
#[derive(Debug, PartialEq, Eq)]
pub struct Subject {
    /// The predicate type.
    pub predicate_type: String,
    /// Each subject's digests as `algorithm:hex`.
    pub digests: Vec<String>,
}

/// Reads the statement type, predicate type and subject digests of an in-toto statement.
pub fn subject(statement: &[u8]) -> Result<Subject, String> {
    let value: serde_json::Value =
        serde_json::from_slice(statement).map_err(|e| format!("not JSON: {e}"))?;
    if value["_type"] != STATEMENT_TYPE {
        return Err(format!("its `_type` is not `{STATEMENT_TYPE}`"));
    }
    let predicate_type = value["predicateType"]
        .as_str()
        .ok_or("it has no `predicateType`")?
        .to_string();
    let subjects = value["subject"]
        .as_array()
        .ok_or("it has no `subject` list")?;
    let digests = subjects
        .iter()
        .filter_map(|s| s["digest"].as_object())
        .flat_map(|d| {
            d.iter()
                .filter_map(|(alg, hex)| Some(format!("{alg}:{}", hex.as_str()?)))
        })
        .collect();
    Ok(Subject {
        predicate_type,
        digests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            subject_name: "app:latest".into(),
            subject_digest: format!("sha256:{}", "a".repeat(64)),
            external: serde_json::json!({"platform": "linux/amd64", "project": "."}),
            dependencies: vec![
                Resource::with_digest("Cargo.lock", "sha256", &"b".repeat(64)),
                Resource::with_digest("source", "gitCommit", &"c".repeat(40)),
            ],
            builder_id: DEFAULT_BUILDER_ID.into(),
            times: None,
        }
    }

    #[test]
    fn the_statement_is_slsa_v1_about_its_subject() {
        let bytes = statement(&inputs());
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["predicateType"], PREDICATE_TYPE);
        assert_eq!(value["subject"][0]["digest"]["sha256"], "a".repeat(64));
        let build = &value["predicate"]["buildDefinition"];
        assert_eq!(build["buildType"], BUILD_TYPE);
        assert_eq!(
            build["resolvedDependencies"][1]["digest"]["gitCommit"],
            "c".repeat(40)
        );
        assert!(
            value["predicate"]["runDetails"]["metadata"]
                .get("startedOn")
                .is_none()
        );
        let read = subject(&bytes).unwrap();
        assert_eq!(read.digests, vec![format!("sha256:{}", "a".repeat(64))]);
    }

    #[test]
    fn times_come_only_from_the_inputs_so_the_bytes_repeat() {
        let mut timed = inputs();
        timed.times = Some((1_700_000_000, 1_700_000_000));
        assert_eq!(statement(&timed), statement(&timed));
        let value: serde_json::Value = serde_json::from_slice(&statement(&timed)).unwrap();
        assert_eq!(
            value["predicate"]["runDetails"]["metadata"]["startedOn"],
            "2023-11-14T22:13:20Z"
        );
        assert_ne!(statement(&timed), statement(&inputs()));
    }

    #[test]
    fn a_statement_of_another_kind_is_refused() {
        assert!(subject(b"{\"_type\":\"x\"}").is_err());
        assert!(subject(b"not json").is_err());
    }
}
