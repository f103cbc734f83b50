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

/// Each platform's SBOM document and its scanners' copy, warning of what the build could not
/// tell; `entrypoint` is where the first program goes.
pub(super) fn sbom_documents(
    run: &Run<'_>,
    verified: &[Verified<'_>],
    digests: &[String],
    entrypoint: &ImagePath,
    declared: &[sbom::Component],
    warnings: &mut Warnings,
) -> Result<BTreeMap<Platform, sbom::Documents>, Error> {
    let mut documents = BTreeMap::new();
    let mut digests = digests.iter().map(|d| d.trim_start_matches("sha256:"));
    let none = sbom::Facts::default();
    for v in verified {
        for gap in v.all().flat_map(|p| p.facts.unwrap_or(&none).gaps.iter()) {
            warnings.warn(format!("SBOM for {}: {gap}", v.platform));
        }
        let mut programs = Vec::new();
        let places = std::iter::once((v.name, entrypoint.to_string(), v)).chain(
            v.others
                .iter()
                .map(|(name, other)| (*name, format!("/app/{name}"), other)),
        );
        for (name, path, program) in places {
            programs.push(sbom::Program {
                name,
                path,
                sha256: digests.next().unwrap_or_default(),
                // SPDX requires a SHA-1 of every file it lists, which one program's document
                // does not list.
                sha1: if v.others.is_empty() {
                    String::new()
                } else {
                    sha1_file(program.binary)?
                },
                report: &program.report,
                facts: program.facts.unwrap_or(&none),
            });
        }
        let (name, created) = (&run.name, run.created);
        let document = sbom::Documents {
            document: sbom::write(run.args.sbom_format, name, &programs, declared, created),
            scanner_copy: sbom::scanner_copy(name, &programs, declared, created),
        };
        documents.insert(v.platform, document);
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
