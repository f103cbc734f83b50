//! `verify --policy FILE` and the flags of the same names: what an image must be to deploy.
//!
//! A policy file is TOML with the flags' names as keys:
//!
//! ```toml
//! require-signature = true    # every manifest and the index signed by --key
//! require-provenance = true   # and attested (SLSA provenance v1) by it
//! require-sbom = true         # every platform manifest has an SBOM artifact
//! forbid-shells = true        # no shell, script or interpreter anywhere in the image
//! forbid-root = true          # the config's user is not root
//! allowed-base = ["sha256:…"] # the base image (its manifest's annotation) is one of these
//! ```
//!
//! A flag turns a rule on whatever the file says; `allowed-base` lists add up. Each rule gives
//! one check per platform (and the index for signatures), reported beside the static checks.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::image::ImageVerdict;
use super::signed::Check;
use crate::transport::read::attached::Subject;

/// A policy file is a handful of lines; anything larger is not one.
const MAX_POLICY_FILE: u64 = 1 << 20;

/// The annotation an image built on a base names the base's manifest digest with.
const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// What an image must be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Policy {
    /// Every manifest and the index signed by the key.
    #[serde(default)]
    pub require_signature: bool,
    /// Every manifest and the index attested by the key.
    #[serde(default)]
    pub require_provenance: bool,
    /// Every platform manifest has an SBOM artifact.
    #[serde(default)]
    pub require_sbom: bool,
    /// No shell, script or interpreter in any platform's files.
    #[serde(default)]
    pub forbid_shells: bool,
    /// The config's user is not root.
    #[serde(default)]
    pub forbid_root: bool,
    /// The base images allowed (`sha256:…`); empty allows any.
    #[serde(default)]
    pub allowed_base: Vec<String>,
}

/// Why a policy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read the policy `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not a policy.
    #[error("`{path}` is not a policy: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Signature rules need the key to check against.
    #[error("`{0}` needs `--key PUB.pem`: a signature is checked against a key")]
    NeedsKey(&'static str),
}

impl Policy {
    /// Reads a policy file.
    pub fn read(path: &Path) -> Result<Policy, PolicyError> {
        use std::io::Read as _;
        let read = |source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let (file, meta) = crate::fsguard::open_regular(path, true).map_err(|e| match e {
            crate::fsguard::OpenFailure::Io(e) => read(e),
            crate::fsguard::OpenFailure::Kind(kind) => PolicyError::Invalid {
                path: path.to_path_buf(),
                reason: format!("it is {kind}, not a regular file"),
            },
        })?;
        if meta.len() > MAX_POLICY_FILE {
            return Err(PolicyError::Invalid {
                path: path.to_path_buf(),
                reason: format!("it is larger than {MAX_POLICY_FILE} bytes"),
            });
        }
        let mut text = String::new();
        file.take(MAX_POLICY_FILE)
            .read_to_string(&mut text)
            .map_err(read)?;
        Self::parse(&text, path)
    }

    /// Parses policy `text` read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let policy: Policy = toml::from_str(text).map_err(|e| PolicyError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string().replace('\n', " ").trim().to_string(),
        })?;
        for digest in &policy.allowed_base {
            let hex = digest.strip_prefix("sha256:").unwrap_or_default();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(PolicyError::Invalid {
                    path: path.to_path_buf(),
                    reason: format!("`allowed-base`: `{digest}` is not a sha256:<64 hex> digest"),
                });
            }
        }
        Ok(policy)
    }

    /// This policy with `other`'s rules added (flags on top of a file).
    pub fn and(mut self, other: Policy) -> Policy {
        self.require_signature |= other.require_signature;
        self.require_provenance |= other.require_provenance;
        self.require_sbom |= other.require_sbom;
        self.forbid_shells |= other.forbid_shells;
        self.forbid_root |= other.forbid_root;
        self.allowed_base.extend(other.allowed_base);
        self
    }

    /// Whether any rule needs what refers to the image (its artifacts, its manifests' bytes).
    pub fn reads_referrers(&self) -> bool {
        self.require_sbom || !self.allowed_base.is_empty()
    }

    /// Refuses rules that cannot be checked as asked.
    pub fn check_usable(&self, has_key: bool) -> Result<(), PolicyError> {
        if has_key {
            return Ok(());
        }
        if self.require_signature {
            return Err(PolicyError::NeedsKey("require-signature"));
        }
        if self.require_provenance {
            return Err(PolicyError::NeedsKey("require-provenance"));
        }
        Ok(())
    }

    /// The policy's checks of `verdict`; `subjects` are the image's manifests with what refers
    /// to them (read when [`Policy::reads_referrers`] or a key asks), `signatures` the key's
    /// checks already made.
    pub fn check(
        &self,
        verdict: &ImageVerdict,
        subjects: &[Subject],
        signatures: &[Check],
    ) -> Vec<Check> {
        let mut checks = Vec::new();
        let mut push = |subject: &str, platform: &str, check, result: Result<String, String>| {
            checks.push(Check {
                subject: subject.to_string(),
                platform: platform.to_string(),
                check,
                ok: result.is_ok(),
                detail: result.unwrap_or_else(|e| e),
            })
        };
        if self.require_provenance {
            for subject in subjects {
                let platform = subject
                    .platform
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "index".into());
                let attested = signatures
                    .iter()
                    .any(|c| c.subject == subject.digest && c.check == "provenance" && c.ok);
                push(
                    &subject.digest,
                    &platform,
                    "require-provenance",
                    if attested {
                        Ok("attested by the key".into())
                    } else {
                        Err("no provenance by the key about this digest".into())
                    },
                );
            }
        }
        for platform in &verdict.platforms {
            let name = platform.platform.to_string();
            let digest = &platform.digest;
            let subject = subjects.iter().find(|s| &s.digest == digest);
            if self.require_sbom {
                let sbom = subject.is_some_and(|s| {
                    s.referrers
                        .iter()
                        .any(|r| crate::sbom::is_media_type(&r.artifact_type))
                });
                push(
                    digest,
                    &name,
                    "require-sbom",
                    if sbom {
                        Ok("an SBOM refers to it".into())
                    } else {
                        Err("no SBOM artifact refers to this manifest".into())
                    },
                );
            }
            if self.forbid_shells {
                push(
                    digest,
                    &name,
                    "forbid-shells",
                    if platform.shells.is_empty() {
                        Ok("no shell, script or interpreter".into())
                    } else {
                        Err(format!("it holds {}", platform.shells.join(", ")))
                    },
                );
            }
            if self.forbid_root {
                let root = is_root(&platform.user);
                push(
                    digest,
                    &name,
                    "forbid-root",
                    if root {
                        Err(format!(
                            "it runs as root (user `{}`)",
                            if platform.user.is_empty() {
                                "unset"
                            } else {
                                &platform.user
                            }
                        ))
                    } else {
                        Ok(format!("it runs as `{}`", platform.user))
                    },
                );
            }
            if !self.allowed_base.is_empty() {
                let base = subject.and_then(|s| base_digest(&s.bytes));
                push(
                    digest,
                    &name,
                    "allowed-base",
                    match base {
                        None => Ok("built on scratch".into()),
                        Some(base) if self.allowed_base.contains(&base) => {
                            Ok(format!("built on {base}"))
                        }
                        Some(base) => Err(format!("built on {base}, which is not allowed")),
                    },
                );
            }
        }
        checks
    }
}

/// Whether a config's `User` runs as root: unset, `root`, uid 0 (with any group).
fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or_default();
    name.is_empty() || name == "root" || name.parse::<u32>() == Ok(0)
}

/// The base-digest annotation of a manifest's bytes.
fn base_digest(manifest: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    value["annotations"][BASE_DIGEST]
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_file_reads_its_rules_and_refuses_what_it_does_not_know() {
        let path = Path::new("policy.toml");
        let policy = Policy::parse(
            "require-sbom = true\nforbid-shells = true\nallowed-base = [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]\n",
            path,
        )
        .unwrap();
        assert!(policy.require_sbom && policy.forbid_shells && !policy.forbid_root);
        let error = Policy::parse("forbid-shell = true\n", path).unwrap_err();
        assert!(error.to_string().contains("forbid-shell"), "{error}");
        let error = Policy::parse("allowed-base = [\"latest\"]\n", path).unwrap_err();
        assert!(error.to_string().contains("`latest`"), "{error}");
        assert!(matches!(
            Policy {
                require_signature: true,
                ..Policy::default()
            }
            .check_usable(false),
            Err(PolicyError::NeedsKey("require-signature"))
        ));
    }

    #[test]
    fn root_is_unset_root_or_uid_zero() {
        for user in ["", "root", "0", "0:0", "root:wheel"] {
            assert!(is_root(user), "{user}");
        }
        for user in ["65532", "65532:65532", "nonroot", "1000:0"] {
            assert!(!is_root(user), "{user}");
        }
    }
}
