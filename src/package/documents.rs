//! The SBOM documents of a run's images, one per platform, made in step 1 (prepare) from each
//! platform's verified programs; the debug variant makes its own with the shell declared.

use std::collections::BTreeMap;
use std::path::Path;

use super::prepare::{Run, Verified, Warnings};
use crate::error::Error;
use crate::image::spec::ImagePath;
use crate::platform::Platform;
use crate::sbom;
use crate::verify::VerifyError;

/// Each platform's SBOM document, warning of what the build could not tell; `entrypoint` is
/// where the first program goes, `declared` the packages listed besides.
pub(super) fn sbom_documents(
    run: &Run<'_>,
    verified: &[Verified<'_>],
    digests: &[String],
    entrypoint: &ImagePath,
    declared: &[sbom::Component],
    warnings: &mut Warnings,
) -> Result<BTreeMap<Platform, Vec<u8>>, Error> {
    let mut documents = BTreeMap::new();
    let mut digests = digests.iter().map(|d| d.trim_start_matches("sha256:"));
    let none = sbom::Facts::default();
    for v in verified {
        for gap in v.all().flat_map(|p| p.facts.unwrap_or(&none).gaps.iter()) {
            warnings.warn(format!("SBOM for {}: {gap}", v.platform));
        }
        let sha256 = digests.next().unwrap_or_default();
        if v.others.is_empty() {
            let inputs = sbom::Inputs {
                name: &run.name,
                sha256,
                report: &v.report,
                facts: v.facts.unwrap_or(&none),
                declared,
                created: run.created,
            };
            documents.insert(v.platform, sbom::document(&inputs));
            continue;
        }
        let mut programs = Vec::new();
        let places = std::iter::once((v.name, entrypoint.to_string(), v)).chain(
            v.others
                .iter()
                .map(|(name, other)| (*name, format!("/app/{name}"), other)),
        );
        for (i, (name, path, program)) in places.enumerate() {
            let sha256 = if i == 0 {
                sha256
            } else {
                digests.next().unwrap_or_default()
            };
            programs.push(sbom::Program {
                name,
                path,
                sha256,
                sha1: sha1_file(program.binary)?,
                report: &program.report,
                facts: program.facts.unwrap_or(&none),
            });
        }
        documents.insert(
            v.platform,
            sbom::document_of_programs(&run.name, &programs, declared, run.created),
        );
    }
    Ok(documents)
}

/// A file's SHA-1, hex: SPDX 2.3 requires it of every file a document lists.
fn sha1_file(path: &Path) -> Result<String, Error> {
    use sha1::Digest;
    let read = |source| VerifyError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read)?;
    let mut hasher = sha1::Sha1::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        match std::io::Read::read(&mut file, &mut buffer).map_err(read)? {
            0 => break,
            n => hasher.update(&buffer[..n]),
        }
    }
    Ok(crate::image::blob::to_hex(&hasher.finalize()))
}
