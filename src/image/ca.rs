//! The CA bundle that goes to `/etc/ssl/certs/ca-certificates.crt`.
//!
//! Source, first that applies: `--ca-bundle FILE`; the host's bundle; the Mozilla roots compiled
//! into the tool (webpki-root-certs), so an air-gapped machine without ca-certificates still
//! ships one. `--extra-ca FILE` appends certificates (a corporate CA) to whichever it is.
//!
//! Every certificate is parsed as X.509 and written back as PEM with LF line endings, in input
//! order, duplicates dropped. So the file in the image holds certificates and nothing else: no
//! comments whose formatting would change the digest, and never a private key that slipped into
//! a bundle file. PEM and single DER certificates are both read.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::der::Decode;

use crate::cache::stamp::Stamp;
use crate::cache::write_atomic;

/// Host bundle locations, in the order Go's crypto/x509 tries them.
pub(crate) const HOST_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The `--ca-bundle` value that picks the compiled-in roots even when the host has a bundle
/// (for images that are identical on every machine).
pub const BUILTIN: &str = "builtin";

/// Where the bundle came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "path", rename_all = "lowercase")]
pub enum CaSource {
    /// `--ca-bundle FILE`.
    File(PathBuf),
    /// The host's bundle at this path.
    Host(PathBuf),
    /// The Mozilla roots compiled into the tool.
    Builtin,
}

impl std::fmt::Display for CaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaSource::File(p) => write!(f, "`{}`", p.display()),
            CaSource::Host(p) => write!(f, "the host's `{}`", p.display()),
            CaSource::Builtin => write!(f, "the built-in Mozilla roots"),
        }
    }
}

/// A bundle ready to go into the image.
#[derive(Clone, Debug)]
pub struct CaBundle {
    /// The PEM text.
    pub pem: Vec<u8>,
    /// How many certificates it holds.
    pub count: usize,
    /// Where the base bundle came from.
    pub source: CaSource,
    /// Files appended with `--extra-ca`.
    pub extras: Vec<PathBuf>,
}

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The file could not be read.
    #[error("cannot read CA file `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// PEM framing or base64 is broken.
    #[error("CA file `{path}` is not valid PEM: {detail}")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        detail: String,
    },
    /// Nothing in the file parsed as a certificate.
    #[error("CA file `{path}` holds no parsable certificate{why}")]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What was found instead, if anything.
        why: String,
    },
}

impl CaError {
    /// What the user can do about it, when there is something specific to say.
    pub fn help(&self) -> Option<String> {
        match self {
            CaError::NoCertificate { .. } | CaError::BadPem { .. } => {
                Some("give a PEM bundle of CERTIFICATE blocks or a single DER certificate".into())
            }
            _ => None,
        }
    }
}

impl CaBundle {
    /// Every file [`CaBundle::load`] could read for these flags: the given bundle, or each
    /// host path it looks at (the first that exists is taken), and the extra certificates.
    pub fn candidates(ca_bundle: Option<&Path>, extra: &[PathBuf]) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = match ca_bundle {
            Some(p) if p.as_os_str() == BUILTIN => Vec::new(),
            Some(p) => vec![p.to_owned()],
            None => HOST_BUNDLES.iter().map(PathBuf::from).collect(),
        };
        files.extend(extra.iter().cloned());
        files
    }

    /// Loads the bundle for an image. `warn` hears about blocks that were skipped.
    pub fn load(
        ca_bundle: Option<&Path>,
        extra: &[PathBuf],
        warn: &mut dyn FnMut(String),
    ) -> Result<CaBundle, CaError> {
        CaBundle::load_with_hosts(ca_bundle, extra, HOST_BUNDLES, warn)
    }

    /// [`CaBundle::load`], remembered in `memo_dir`: parsing and checking a bundle of ~150
    /// certificates costs about 3 ms, most of a rebuild with nothing to do. The result is
    /// reused while every file read keeps its stamp, under the cache's freshness rule
    /// (`cache::stamp`); a bundle that gave warnings is not remembered, so they are shown
    /// every time.
    pub fn load_remembered(
        ca_bundle: Option<&Path>,
        extra: &[PathBuf],
        warn: &mut dyn FnMut(String),
        memo_dir: &Path,
    ) -> Result<CaBundle, CaError> {
        let source = resolve(ca_bundle, HOST_BUNDLES);
        let mut files: Vec<&Path> = match &source {
            CaSource::File(p) | CaSource::Host(p) => vec![p],
            CaSource::Builtin => Vec::new(),
        };
        files.extend(extra.iter().map(PathBuf::as_path));
        let mut key = Sha256::new();
        key.update(concat!(
            "static-image ca memo 1 ",
            env!("CARGO_PKG_VERSION")
        ));
        let began = std::time::SystemTime::now();
        let mut settled = true;
        for file in &files {
            let Some(stamp) = Stamp::of(file) else {
                // Missing: let the loader say so.
                return CaBundle::load(ca_bundle, extra, warn);
            };
            key.update(file.as_os_str().as_encoded_bytes());
            key.update([0]);
            key.update(format!("{stamp:?}"));
            settled &= stamp.settled_before(began);
        }
        let key = super::blob::to_hex(&key.finalize());
        // The normalised PEM itself: reading it back is a copy, and counting its blocks free.
        let memo = memo_dir.join("ca").join(format!("{key}.pem"));
        if let Ok(pem) = std::fs::read(&memo) {
            let count = memchr::memmem::find_iter(&pem, b"-----BEGIN CERTIFICATE-----").count();
            if count > 0 {
                return Ok(CaBundle {
                    pem,
                    count,
                    source,
                    extras: extra.to_vec(),
                });
            }
        }
        let mut warned = false;
        let bundle = CaBundle::load(ca_bundle, extra, &mut |m| {
            warned = true;
            warn(m)
        })?;
        // A file changed just before it was read may change again unseen (the freshness
        // rule, `cache::stamp`).
        if !warned && settled {
            // Only a speed-up: failing to remember costs the next run 3 ms.
            let _ = write_atomic(&memo, &bundle.pem);
        }
        Ok(bundle)
    }

    /// [`CaBundle::load`], looking for the host's bundle at `hosts`.
    fn load_with_hosts(
        ca_bundle: Option<&Path>,
        extra: &[PathBuf],
        hosts: &[&str],
        warn: &mut dyn FnMut(String),
    ) -> Result<CaBundle, CaError> {
        let source = resolve(ca_bundle, hosts);
        let mut certs = match &source {
            CaSource::Builtin => builtin_certs(),
            CaSource::File(path) | CaSource::Host(path) => read_certs(path, warn)?,
        };
        for path in extra {
            certs.extend(read_certs(path, warn)?);
        }
        // Keep the first copy of each certificate, in order.
        let mut seen = std::collections::HashSet::new();
        certs.retain(|der| seen.insert(der.clone()));
        let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
        let pem: String = certs
            .iter()
            .map(|der| pem::encode_config(&pem::Pem::new("CERTIFICATE", der.as_slice()), config))
            .collect();
        Ok(CaBundle {
            pem: pem.into_bytes(),
            count: certs.len(),
            source,
            extras: extra.to_vec(),
        })
    }
}

/// Where the base bundle comes from: `--ca-bundle`, else the host's first bundle, else ours.
fn resolve(ca_bundle: Option<&Path>, hosts: &[&str]) -> CaSource {
    match ca_bundle {
        Some(p) if p.as_os_str() == BUILTIN => CaSource::Builtin,
        Some(path) => CaSource::File(path.to_owned()),
        None => match hosts.iter().map(Path::new).find(|p| p.is_file()) {
            Some(host) => CaSource::Host(host.to_owned()),
            None => CaSource::Builtin,
        },
    }
}

/// The compiled-in Mozilla roots, as DER.
fn builtin_certs() -> Vec<Vec<u8>> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect()
}

/// Reads every certificate in a PEM bundle or a single DER certificate.
fn read_certs(path: &Path, warn: &mut dyn FnMut(String)) -> Result<Vec<Vec<u8>>, CaError> {
    let bytes = std::fs::read(path).map_err(|source| CaError::Read {
        path: path.to_owned(),
        source,
    })?;
    let no_cert = |why: &str| CaError::NoCertificate {
        path: path.to_owned(),
        why: why.to_string(),
    };
    if memchr::memmem::find(&bytes, b"-----BEGIN").is_none() {
        // Not PEM: a lone DER certificate (`.cer`, `.der`), as corporate CAs often come.
        return match Certificate::from_der(&bytes) {
            Ok(_) => Ok(vec![bytes]),
            Err(_) if bytes.is_empty() => Err(no_cert(" (the file is empty)")),
            Err(_) => Err(no_cert(" (neither PEM nor a DER certificate)")),
        };
    }
    let blocks = pem::parse_many(&bytes).map_err(|e| CaError::BadPem {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    let mut certs = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let n = i + 1;
        if block.tag() != "CERTIFICATE" {
            warn(format!(
                "`{}`: skipped block {n} (`{}`): only certificates go into the image",
                path.display(),
                block.tag()
            ));
            continue;
        }
        match Certificate::from_der(block.contents()) {
            Ok(_) => certs.push(block.contents().to_vec()),
            Err(e) => warn(format!(
                "`{}`: skipped certificate {n}: not valid X.509 ({e})",
                path.display()
            )),
        }
    }
    if certs.is_empty() {
        return Err(no_cert(""));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(bundle: Option<&Path>, extra: &[PathBuf]) -> (Result<CaBundle, CaError>, Vec<String>) {
        let mut warnings = Vec::new();
        let result = CaBundle::load(bundle, extra, &mut |w| warnings.push(w));
        (result, warnings)
    }

    #[test]
    fn every_builtin_root_parses() {
        let (bundle, warnings) = load(Some(Path::new(BUILTIN)), &[]);
        let bundle = bundle.unwrap();
        assert!(bundle.count > 100, "{}", bundle.count);
        assert_eq!(bundle.source, CaSource::Builtin);
        assert!(warnings.is_empty());
        let text = String::from_utf8(bundle.pem).unwrap();
        assert_eq!(
            text.matches("-----BEGIN CERTIFICATE-----\n").count(),
            bundle.count
        );
        assert!(!text.contains('\r'));
    }

    #[test]
    fn without_a_host_bundle_the_builtin_roots_are_shipped() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("no-such-bundle.crt");
        let host = dir.path().join("host.crt");
        let mut warn = |_| {};
        let missing = [absent.to_str().unwrap()];
        let bundle = CaBundle::load_with_hosts(None, &[], &missing, &mut warn).unwrap();
        assert_eq!(bundle.source, CaSource::Builtin);
        assert_eq!(bundle.count, builtin_certs().len());

        let one = pem::encode(&pem::Pem::new("CERTIFICATE", builtin_certs().remove(3)));
        std::fs::write(&host, one).unwrap();
        let present = [absent.to_str().unwrap(), host.to_str().unwrap()];
        let bundle = CaBundle::load_with_hosts(None, &[], &present, &mut warn).unwrap();
        assert_eq!(bundle.source, CaSource::Host(host.clone()));
        assert_eq!(bundle.count, 1);
    }

    #[test]
    fn extra_ca_is_appended_once_and_der_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let der = builtin_certs().remove(0);
        let der_path = dir.path().join("corp.cer");
        std::fs::write(&der_path, &der).unwrap();
        let builtin = load(Some(Path::new(BUILTIN)), &[]).0.unwrap();
        let pem_path = dir.path().join("mine.pem");
        let one = pem::encode(&pem::Pem::new("CERTIFICATE", builtin_certs().remove(1)));
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        std::fs::write(&pem_path, format!("# a comment\n{one}{key}")).unwrap();

        let (bundle, warnings) = load(Some(&pem_path), &[der_path.clone(), der_path]);
        let bundle = bundle.unwrap();
        // One from the file, one extra; the second copy of the extra and the key are dropped.
        assert_eq!(bundle.count, 2);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`PRIVATE KEY`"), "{warnings:?}");
        assert!(!String::from_utf8(bundle.pem).unwrap().contains("PRIVATE"));
        assert!(builtin.count > bundle.count);
    }

    #[test]
    fn files_without_certificates_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8], &str); 4] = [
            (
                "empty.pem",
                b"",
                "holds no parsable certificate (the file is empty)",
            ),
            (
                "text.pem",
                b"hello\n",
                "holds no parsable certificate (neither PEM nor a DER certificate)",
            ),
            (
                "bad.pem",
                b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                "is not valid PEM",
            ),
            (
                "notx509.pem",
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "holds no parsable certificate",
            ),
        ];
        for (name, bytes, want) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let err = load(Some(&path), &[]).0.unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(want), "{name}: {err}");
        }
        let missing = dir.path().join("missing.pem");
        let err = load(None, &[missing]).0.unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read CA file") && err.contains("missing.pem"),
            "{err}"
        );
    }

    #[test]
    fn a_remembered_bundle_is_reused_until_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let memo = dir.path().join("memo");
        let bundle = dir.path().join("bundle.pem");
        let certs = builtin_certs();
        let pem = |n: usize| -> String {
            certs[..n]
                .iter()
                .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.as_slice())))
                .collect()
        };
        std::fs::write(&bundle, pem(3)).unwrap();
        let load = || {
            CaBundle::load_remembered(Some(&bundle), &[], &mut |w| panic!("{w}"), &memo).unwrap()
        };
        // Read just after it was written, the file may still change unseen: not remembered.
        assert_eq!(load().count, 3);
        assert!(!memo.join("ca").exists());
        std::thread::sleep(crate::cache::stamp::SETTLED);
        let first = load();
        assert_eq!(first.count, 3);
        let memos: Vec<_> = std::fs::read_dir(memo.join("ca")).unwrap().collect();
        assert_eq!(memos.len(), 1);
        let again = load();
        assert_eq!((again.pem, again.count), (first.pem.clone(), 3));
        // Another certificate in the file: its stamp changes and the bundle is read anew.
        std::fs::write(&bundle, pem(4)).unwrap();
        assert_eq!(load().count, 4);
        // A bundle that warns is not remembered, so the warning is shown every time.
        let odd = dir.path().join("odd.pem");
        std::fs::write(
            &odd,
            format!(
                "{}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                pem(1)
            ),
        )
        .unwrap();
        for _ in 0..2 {
            let mut warnings = 0;
            CaBundle::load_remembered(Some(&odd), &[], &mut |_| warnings += 1, &memo).unwrap();
            assert_eq!(warnings, 1);
        }
    }
}
