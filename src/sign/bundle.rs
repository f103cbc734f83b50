//! Sigstore bundles (protobuf-specs `sigstore_bundle.proto`, v0.3, in its JSON form) for keys
//! only: no certificate, no transparency-log entry, no timestamp. A bundle holds either a
//! message signature (over an artifact's bytes, with their SHA-256) or a DSSE envelope (over an
//! in-toto statement), and names the key by a hint, which `@sigstore/verify` and cosign match
//! against the keys they are given.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::key::{PrivateKey, PublicKey};

/// The media type of a bundle, as a blob and as a referrer's `artifactType`.
pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// DSSE's payload type for in-toto statements.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A bundle is a few kilobytes; a referrer's document larger than this is not one of ours, and
/// reading it whole would let a hostile image choose how much memory verify takes.
pub const MAX_BUNDLE: u64 = 4 * 1024 * 1024;

/// A Sigstore bundle with key-based verification material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// Always [`MEDIA_TYPE`] for bundles we write.
    pub media_type: String,
    /// Which key signed.
    pub verification_material: VerificationMaterial,
    /// A signature over an artifact's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<MessageSignature>,
    /// A signed statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
}

/// The key, by hint; empty log entries and timestamps (this is an offline, keys-only bundle).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// The signing key's identifier.
    pub public_key: KeyHint,
    /// Transparency-log entries: none.
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
    /// Signed timestamps: none.
    #[serde(default)]
    pub timestamp_verification_data: TimestampVerificationData,
}

/// A key named by its hint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHint {
    /// See [`PublicKey::hint`].
    pub hint: String,
}

/// RFC 3161 timestamps: none are made offline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimestampVerificationData {
    /// Always empty here.
    #[serde(default)]
    pub rfc3161_timestamps: Vec<serde_json::Value>,
}

/// A signature over an artifact's bytes, with the artifact's digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    /// The artifact's digest.
    pub message_digest: HashOutput,
    /// The signature, base64.
    pub signature: String,
}

/// A digest as protobuf-specs spell it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashOutput {
    /// `SHA2_256`.
    pub algorithm: String,
    /// The digest, base64.
    pub digest: String,
}

/// A DSSE envelope (secure-systems-lab/dsse `envelope.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The statement, base64.
    pub payload: String,
    /// What the payload is: [`INTOTO_PAYLOAD_TYPE`].
    pub payload_type: String,
    /// One signature per key.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Over the envelope's PAE, base64.
    pub sig: String,
    /// The key's hint (DSSE leaves `keyid` to the application).
    #[serde(default)]
    pub keyid: String,
}

/// Why a bundle does not hold for an artifact or a key. Each names what failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not JSON of a bundle's shape.
    #[error("not a Sigstore bundle: {0}")]
    Malformed(String),
    /// Another media type.
    #[error("a bundle of media type `{0}`, where `{MEDIA_TYPE}` is read")]
    MediaType(String),
    /// It signs something else than it should.
    #[error("it is not a {0}")]
    Kind(&'static str),
    /// Made with another key.
    #[error("signed by another key (hint `{found}`; the key given has `{expected}`)")]
    OtherKey {
        /// The bundle's hint.
        found: String,
        /// The given key's hint.
        expected: String,
    },
    /// Its digest is not the artifact's.
    #[error("it signs digest sha256:{found}, not the artifact's sha256:{expected}")]
    OtherDigest {
        /// What the bundle names.
        found: String,
        /// The artifact's.
        expected: String,
    },
    /// The signature does not verify.
    #[error("its signature does not verify with the key")]
    BadSignature,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str, what: &str) -> Result<Vec<u8>, BundleError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| BundleError::Malformed(format!("its {what} is not base64")))
}

fn material(key: &PublicKey) -> VerificationMaterial {
    VerificationMaterial {
        public_key: KeyHint { hint: key.hint() },
        tlog_entries: Vec::new(),
        timestamp_verification_data: TimestampVerificationData::default(),
    }
}

/// DSSE's pre-authentication encoding: what an envelope's signatures cover.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Bundle {
    /// Signs `artifact`'s bytes (an image manifest: its SHA-256 is the image's digest).
    pub fn sign_message(key: &PrivateKey, artifact: &[u8]) -> Self {
        Bundle {
            media_type: MEDIA_TYPE.into(),
            verification_material: material(&key.public()),
            message_signature: Some(MessageSignature {
                message_digest: HashOutput {
                    algorithm: "SHA2_256".into(),
                    digest: b64(&Sha256::digest(artifact)),
                },
                signature: b64(&key.sign(artifact)),
            }),
            dsse_envelope: None,
        }
    }

    /// Signs an in-toto `statement` (JSON bytes) in a DSSE envelope.
    pub fn sign_statement(key: &PrivateKey, statement: &[u8]) -> Self {
        let public = key.public();
        Bundle {
            media_type: MEDIA_TYPE.into(),
            verification_material: material(&public),
            message_signature: None,
            dsse_envelope: Some(Envelope {
                payload: b64(statement),
                payload_type: INTOTO_PAYLOAD_TYPE.into(),
                signatures: vec![EnvelopeSignature {
                    sig: b64(&key.sign(&pae(INTOTO_PAYLOAD_TYPE, statement))),
                    keyid: public.hint(),
                }],
            }),
        }
    }

    /// Reads a bundle from its JSON (the caller bounds the size with [`MAX_BUNDLE`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        let bundle: Bundle =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed(e.to_string()))?;
        if bundle.media_type != MEDIA_TYPE {
            return Err(BundleError::MediaType(bundle.media_type));
        }
        Ok(bundle)
    }

    /// The bundle as canonical JSON bytes (sorted keys, no spaces), so it is reproducible.
    pub fn to_bytes(&self) -> Vec<u8> {
        // serde_json::Value keeps its keys sorted: round-trip through it.
        serde_json::to_value(self)
            .and_then(|value| serde_json::to_vec(&value))
            .unwrap_or_default()
    }

    fn check_key(&self, key: &PublicKey) -> Result<(), BundleError> {
        let found = &self.verification_material.public_key.hint;
        let expected = key.hint();
        if *found != expected {
            return Err(BundleError::OtherKey {
                found: found.clone(),
                expected,
            });
        }
        Ok(())
    }

    /// Checks that the bundle signs exactly `artifact` with `key`.
    pub fn verify_message(&self, key: &PublicKey, artifact: &[u8]) -> Result<(), BundleError> {
        let signed = self
            .message_signature
            .as_ref()
            .ok_or(BundleError::Kind("message signature"))?;
        self.check_key(key)?;
        if signed.message_digest.algorithm != "SHA2_256" {
            return Err(BundleError::Malformed(format!(
                "its digest algorithm is `{}`, not SHA2_256",
                signed.message_digest.algorithm
            )));
        }
        let found = unb64(&signed.message_digest.digest, "digest")?;
        let expected = Sha256::digest(artifact);
        if found != expected.as_slice() {
            return Err(BundleError::OtherDigest {
                found: super::key::hex(&found),
                expected: super::key::hex(&expected),
            });
        }
        let signature = unb64(&signed.signature, "signature")?;
        if !key.verify(artifact, &signature) {
            return Err(BundleError::BadSignature);
        }
        Ok(())
    }

    /// Checks the envelope's signature with `key` and returns the statement it signs.
    pub fn verify_statement(&self, key: &PublicKey) -> Result<Vec<u8>, BundleError> {
        let envelope = self
            .dsse_envelope
            .as_ref()
            .ok_or(BundleError::Kind("DSSE envelope"))?;
        self.check_key(key)?;
        if envelope.payload_type != INTOTO_PAYLOAD_TYPE {
            return Err(BundleError::Malformed(format!(
                "its payload type is `{}`, not `{INTOTO_PAYLOAD_TYPE}`",
                envelope.payload_type
            )));
        }
        let payload = unb64(&envelope.payload, "payload")?;
        let signed = pae(&envelope.payload_type, &payload);
        // One signature by the key is enough; others (other keys) are not ours to judge.
        let holds = envelope
            .signatures
            .iter()
            .any(|s| unb64(&s.sig, "signature").is_ok_and(|sig| key.verify(&signed, &sig)));
        if !holds {
            return Err(BundleError::BadSignature);
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::super::key::Algorithm;
    use super::*;

    #[test]
    fn pae_is_dsse_s_encoding() {
        // The example in secure-systems-lab/dsse protocol.md.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn a_message_bundle_holds_for_its_artifact_and_key_only() {
        for algorithm in Algorithm::ALL {
            let key = PrivateKey::generate(algorithm).unwrap();
            let bundle = Bundle::sign_message(&key, b"{\"schemaVersion\":2}");
            let bundle = Bundle::parse(&bundle.to_bytes()).unwrap();
            let public = key.public();
            bundle
                .verify_message(&public, b"{\"schemaVersion\":2}")
                .unwrap();
            assert!(matches!(
                bundle.verify_message(&public, b"{\"schemaVersion\":3}"),
                Err(BundleError::OtherDigest { .. })
            ));
            let other = PrivateKey::generate(algorithm).unwrap().public();
            assert!(matches!(
                bundle.verify_message(&other, b"{\"schemaVersion\":2}"),
                Err(BundleError::OtherKey { .. })
            ));
            assert_eq!(
                bundle.verify_statement(&public),
                Err(BundleError::Kind("DSSE envelope"))
            );
        }
    }

    #[test]
    fn a_forged_signature_under_the_right_hint_is_caught() {
        let key = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
        let forger = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
        let mut bundle = Bundle::sign_statement(&forger, b"{}");
        bundle.verification_material.public_key.hint = key.public().hint();
        assert_eq!(
            bundle.verify_statement(&key.public()),
            Err(BundleError::BadSignature)
        );
        let good = Bundle::sign_statement(&key, b"{\"a\":1}");
        assert_eq!(good.verify_statement(&key.public()).unwrap(), b"{\"a\":1}");
    }

    #[test]
    fn the_same_key_and_artifact_give_the_same_bytes() {
        let key = PrivateKey::generate(Algorithm::EcdsaP256).unwrap();
        assert_eq!(
            Bundle::sign_statement(&key, b"{}").to_bytes(),
            Bundle::sign_statement(&key, b"{}").to_bytes()
        );
    }
}
