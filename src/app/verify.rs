//! `verify` and `sbom`: the commands that read binaries and images without making one.

use std::io::Write;
use std::path::PathBuf;

use super::finish;
use super::plan::env_platform;
use crate::error::Error;
use crate::request::{SbomRequest, VerifyRequest};
use crate::ui::Ui;
use crate::{report, sbom, verify};

/// `verify`: reports every file and image; returns 0 all static, 1 some not static or not for
/// the platform, 2 some unreadable.
pub fn verify(
    request: &VerifyRequest,
    json: bool,
    ui: &Ui,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let (table, platform) = env_platform(request.platform.as_ref())?;
    let (images, files): (Vec<&PathBuf>, Vec<&PathBuf>) = request
        .files
        .iter()
        .partition(|f| verify::image::is_image_spec(&f.to_string_lossy()));
    let results: Vec<_> = files
        .iter()
        .map(|f| {
            (
                f.display().to_string(),
                verify::verify_path(f, platform, &table),
            )
        })
        .collect();
    let options = request.registry.options();
    let key = match &request.key {
        Some(path) => Some(crate::sign::PublicKey::read(path)?),
        None => None,
    };
    let policy = match &request.policy_file {
        Some(path) => verify::policy::Policy::read(path)?,
        None => verify::policy::Policy::default(),
    }
    .and(request.policy.clone());
    policy.check_usable(key.is_some())?;
    let verdicts: Vec<_> = images
        .iter()
        .map(|i| {
            verify::image::verify_image(
                &i.to_string_lossy(),
                &table,
                &options,
                verify::image::Demands {
                    key: key.as_ref(),
                    policy: &policy,
                    allow_dynamic: request.allow_dynamic,
                },
                ui,
            )
        })
        .collect();
    finish(
        report::verify_all(out, &results, json && images.is_empty(), ui)
            .and_then(|_| report::verify_images(out, &verdicts, json, ui))
            .and_then(|_| out.flush()),
    )?;
    let unreadable = results.iter().any(|(_, r)| r.is_err()) || verdicts.iter().any(Result::is_err);
    let failing = results.iter().any(|(_, r)| r.as_ref().is_ok_and(|r| !r.ok))
        || verdicts.iter().any(|v| v.as_ref().is_ok_and(|v| !v.ok));
    Ok(if unreadable {
        2
    } else if failing {
        1
    } else {
        0
    })
}

/// `sbom`: the bytes of the SPDX document the image carries for the platform asked for.
pub fn sbom(request: &SbomRequest, ui: &Ui) -> Result<Vec<u8>, Error> {
    let options = request.registry.options();
    let (table, platform) = env_platform(request.platform.as_ref())?;
    let (platform, path, bytes) = sbom::read::read(&request.image, platform, &table, &options, ui)?;
    ui.verbose(format_args!("`{path}` of the {platform} image"));
    Ok(bytes)
}
