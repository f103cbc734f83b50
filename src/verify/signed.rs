//! `verify IMAGE --key PUB`: the signatures and provenance attached to an image, checked
//! against one public key, offline.
//!
//! For the index and every platform manifest: a signature bundle by the key over exactly its
//! bytes (so its digest); each provenance bundle's DSSE signature by the key, its statement an
//! SLSA provenance whose subject is this digest; and every SBOM referring to it signed by the
//! key too. A bundle by another key, for another digest or moved from another image fails,
//! named; so does a subject with no signature at all.

use serde::Serialize;

use crate::sign::PublicKey;
use crate::sign::bundle::{self, Bundle, BundleError};
use crate::sign::provenance;
use crate::transport::read::attached::{Attached, Subject};

/// One check of one subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The manifest's or index's digest.
    pub subject: String,
    /// Its platform, or `index`.
    pub platform: String,
    /// What was checked: `signature`, `provenance`, `sbom signature`.
    pub check: &'static str,
    /// Whether it holds.
    pub ok: bool,
    /// What was found, or what failed.
    pub detail: String,
}

/// Every check of every subject, in the subjects' order.
pub fn check(subjects: &[Subject], key: &PublicKey) -> Vec<Check> {
    let mut checks = Vec::new();
    for subject in subjects {
        let platform = subject
            .platform
            .map(|p| p.to_string())
            .unwrap_or_else(|| "index".into());
        let mut push = |check, result: Result<String, String>| {
            checks.push(Check {
                subject: subject.digest.clone(),
                platform: platform.clone(),
                check,
                ok: result.is_ok(),
                detail: result.unwrap_or_else(|e| e),
            })
        };
        push(
            "signature",
            signature(&subject.referrers, &subject.bytes, key),
        );
        if let Some(result) = attestation(&subject.referrers, &subject.digest, key) {
            push("provenance", result);
        }
        for sbom in subject
            .referrers
            .iter()
            .filter(|r| crate::sbom::is_media_type(&r.artifact_type))
        {
            let result = signature(&sbom.referrers, &sbom.manifest, key)
                .map(|_| format!("SBOM `{}` signed by the key", sbom.digest))
                .map_err(|e| format!("SBOM `{}`: {e}", sbom.digest));
            push("sbom signature", result);
        }
    }
    checks
}

fn bundles(
    referrers: &[Attached],
) -> impl Iterator<Item = (&Attached, Result<Bundle, BundleError>)> {
    referrers
        .iter()
        .filter(|r| r.artifact_type == bundle::MEDIA_TYPE)
        .map(|r| {
            let parsed = match &r.document {
                Some(bytes) => Bundle::parse(bytes),
                None => Err(BundleError::Malformed(
                    "the artifact has no document".into(),
                )),
            };
            (r, parsed)
        })
}

/// A message-signature bundle by `key` over exactly `bytes`.
fn signature(referrers: &[Attached], bytes: &[u8], key: &PublicKey) -> Result<String, String> {
    let mut failures = Vec::new();
    for (artifact, bundle) in bundles(referrers) {
        let bundle = match bundle {
            Ok(b) if b.message_signature.is_some() => b,
            // A DSSE bundle is the provenance's business.
            Ok(_) => continue,
            Err(e) => {
                failures.push(format!("bundle `{}`: {e}", artifact.digest));
                continue;
            }
        };
        match bundle.verify_message(key, bytes) {
            Ok(()) => return Ok(format!("signed by the key (bundle `{}`)", artifact.digest)),
            Err(e) => failures.push(format!("bundle `{}`: {e}", artifact.digest)),
        }
    }
    if failures.is_empty() {
        return Err("no signature is attached".into());
    }
    Err(format!(
        "no signature by the key holds: {}",
        failures.join("; ")
    ))
}

/// The provenance bundles signed by `key`: each must be an SLSA provenance v1 statement about
/// `digest`. Bundles by other keys are not ours to judge (several builders may attest one
/// image); one naming the key whose signature does not hold is a forgery and fails. `None`
/// when the key signed none.
fn attestation(
    referrers: &[Attached],
    digest: &str,
    key: &PublicKey,
) -> Option<Result<String, String>> {
    let mut found = 0;
    let mut failures = Vec::new();
    for (artifact, bundle) in bundles(referrers) {
        let Ok(bundle) = bundle else { continue };
        if bundle.dsse_envelope.is_none() {
            continue;
        }
        let statement = match bundle.verify_statement(key) {
            Err(BundleError::OtherKey { .. }) => continue,
            Err(e) => Err(e.to_string()),
            Ok(statement) => Ok(statement),
        };
        found += 1;
        let result = statement
            .and_then(|statement| provenance::subject(&statement))
            .and_then(|s| {
                if s.predicate_type != provenance::PREDICATE_TYPE {
                    Err(format!(
                        "its predicate is `{}`, not SLSA provenance v1",
                        s.predicate_type
                    ))
                } else if !s.digests.iter().any(|d| d == digest) {
                    Err(format!(
                        "it is about {}, not this manifest (moved from another image?)",
                        s.digests.join(", ")
                    ))
                } else {
                    Ok(())
                }
            });
        if let Err(e) = result {
            failures.push(format!("bundle `{}`: {e}", artifact.digest));
        }
    }
    match (found, failures.is_empty()) {
        (0, _) => None,
        (n, true) => Some(Ok(format!(
            "{n} SLSA provenance statement{} about this digest, signed by the key",
            if n == 1 { "" } else { "s" }
        ))),
        (_, false) => Some(Err(failures.join("; "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{Algorithm, PrivateKey};

    fn attached(bundle: &Bundle) -> Attached {
        Attached {
            digest: "sha256:b".into(),
            artifact_type: bundle::MEDIA_TYPE.into(),
            annotations: Default::default(),
            manifest: Vec::new(),
            document: Some(bundle.to_bytes()),
            referrers: Vec::new(),
        }
    }

    fn statement(digest: &str) -> Vec<u8> {
        provenance::statement(&provenance::Inputs {
            subject_name: "app".into(),
            subject_digest: digest.into(),
            external: serde_json::json!({}),
            dependencies: Vec::new(),
            builder_id: provenance::DEFAULT_BUILDER_ID.into(),
            times: None,
        })
    }

    #[test]
    fn a_signed_subject_with_its_provenance_passes_and_a_moved_one_fails() {
        let key = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
        let bytes = b"{\"manifest\":1}".to_vec();
        let digest = crate::image::blob::sha256_digest(&bytes);
        let subject = |provenance_for: &str| Subject {
            digest: digest.clone(),
            bytes: bytes.clone(),
            platform: None,
            referrers: vec![
                attached(&Bundle::sign_message(&key, &bytes)),
                attached(&Bundle::sign_statement(&key, &statement(provenance_for))),
            ],
        };
        let checks = check(&[subject(&digest)], &key.public());
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        assert_eq!(checks.len(), 2);
        let other = format!("sha256:{}", "0".repeat(64));
        let checks = check(&[subject(&other)], &key.public());
        assert!(!checks[1].ok && checks[1].detail.contains("moved from another image"));
    }

    #[test]
    fn no_signature_or_another_key_fails_naming_why() {
        let key = PrivateKey::generate(Algorithm::Ed25519).unwrap();
        let other = PrivateKey::generate(Algorithm::Ed25519).unwrap();
        let bytes = b"{}".to_vec();
        let bare = Subject {
            digest: crate::image::blob::sha256_digest(&bytes),
            bytes: bytes.clone(),
            platform: None,
            referrers: Vec::new(),
        };
        let checks = check(std::slice::from_ref(&bare), &key.public());
        assert_eq!(checks[0].detail, "no signature is attached");
        let signed_by_other = Subject {
            referrers: vec![attached(&Bundle::sign_message(&other, &bytes))],
            ..bare
        };
        let checks = check(&[signed_by_other], &key.public());
        assert!(
            !checks[0].ok && checks[0].detail.contains("another key"),
            "{checks:?}"
        );
    }
}
