//! Signing: keys, Sigstore bundles and the SLSA provenance statement.
//!
//! Keys only, offline: a bundle names its key by a hint and carries no certificate, log entry
//! or timestamp, which is what `cosign verify --key` and `@sigstore/verify` with a public key
//! accept. Signatures are deterministic, so signing keeps an image's digests reproducible.

pub mod bundle;
pub mod key;
pub mod provenance;
pub mod source;

pub use bundle::{Bundle, BundleError};
pub use key::{Algorithm, KeyError, PrivateKey, PublicKey};
