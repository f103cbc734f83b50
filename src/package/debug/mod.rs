//! `--debug-variant`: beside the production images, a variant of each with a static busybox
//! (see [`crate::image::debug`]), under an index of its own for several platforms, written
//! where [`ImageRef::debug_variant`] says under the tags with `-debug` appended. The
//! production images are assembled first and never touched, so their digests are the same
//! with or without a variant.

pub mod shell;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::documents::sbom_documents;
use super::outcome::ImageSummary;
use super::prepare::{Inputs, Run};
use crate::error::Error;
use crate::image::debug::{ShellLayer, VariantSpec, variant};
use crate::image::{ImageSet, Reuse};
use crate::platform::Platform;
use crate::request::ImageRequest;
use crate::sbom::{self, Component};
use crate::transport::{
    ImageRef, SinkContext, Written, check_tag, reference::DEBUG_SUFFIX, sink_for,
};
use crate::ui::Ui;
use crate::verify::StaticReport;
pub use shell::{DebugShell, DebugShellError};

/// What a debug variant is, as reported.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DebugOutcome {
    /// What the variant's references name: its index's digest, else its manifest's.
    pub digest: String,
    /// Each platform's variant, in platform order.
    pub images: Vec<ImageSummary>,
    /// The busybox each platform's variant holds, in platform order.
    pub shells: Vec<ShellSummary>,
    /// The outputs written.
    pub outputs: Vec<Written>,
}

/// One platform's busybox, as reported.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShellSummary {
    /// The platform.
    pub platform: Platform,
    /// The file it was taken from.
    pub path: std::path::PathBuf,
    /// What the SBOM says it is.
    pub package: Component,
}

/// Checks the debug variant's flags with the others, before any slow work: `--debug-shell`
/// only with `--debug-variant`; the `-debug` tags valid; each variant's place writable.
pub(super) fn check_args(args: &ImageRequest) -> Result<(), Error> {
    if !args.debug_variant && !args.debug_shell.is_empty() {
        return Err(Error::Usage(
            "`--debug-shell` gives the debug variant's busybox; add `--debug-variant` to make \
             one"
            .into(),
        ));
    }
    if args.debug_variant {
        for tag in tags(&args.tag) {
            check_tag(&tag).map_err(|e| Error::Usage(e.to_string()))?;
        }
        for output in &args.output {
            output.debug_variant().preflight()?;
        }
    }
    Ok(())
}

/// `outputs` and, with `--debug-variant`, where each one's variant goes when that is another
/// file (an archive's sibling), so the output guard checks those too.
pub(super) fn with_variants(args: &ImageRequest, outputs: &[ImageRef]) -> Vec<ImageRef> {
    let mut all = outputs.to_vec();
    if args.debug_variant {
        all.extend(outputs.iter().map(ImageRef::debug_variant).filter(|d| {
            matches!(
                d,
                ImageRef::OciArchive { .. } | ImageRef::DockerArchive { .. }
            )
        }));
    }
    all
}

/// Says the debug variant's shell was verified (its hazards are busybox's own, not the
/// application's, so they are not warned of).
fn show_verified_shell(report: &StaticReport, ui: &Ui) {
    ui.status(
        "Verified",
        format_args!(
            "`{}` for the debug variant: {}, {}",
            report.path.display(),
            report.linkage.as_str(),
            report.machine.name
        ),
    );
}

/// Each platform's busybox, verified, for the platforms `inputs` holds.
pub(super) fn shells(
    run: &Run<'_>,
    inputs: &Inputs<'_>,
    ui: &Ui,
) -> Result<BTreeMap<Platform, DebugShell>, Error> {
    let platforms: Vec<Platform> = inputs.verified.iter().map(|v| v.platform).collect();
    let shells = shell::find(&run.args.debug_shell, &platforms, &run.defaults.platforms)?;
    for shell in shells.values() {
        show_verified_shell(&shell.report, ui);
    }
    Ok(shells)
}

/// The variants of `production`'s images, under an index when there are several.
pub(super) fn images(
    run: &Run<'_>,
    inputs: &Inputs<'_>,
    production: &ImageSet,
    shells: &BTreeMap<Platform, DebugShell>,
    ui: &Ui,
) -> Result<ImageSet, Error> {
    let documents = if run.args.no_sbom {
        BTreeMap::new()
    } else {
        debug_documents(run, inputs, shells)?
    };
    let (outputs, cache) = (&run.outputs, run.cache.as_ref());
    let needed = |digest: &str| {
        outputs
            .iter()
            .any(|o| o.debug_variant().needs_blob(digest, cache))
    };
    let on_bytes = |_| {};
    let reuse = Reuse {
        cache,
        needed: &needed,
        on_bytes: &on_bytes,
    };
    let mut images = Vec::new();
    for image in production.images() {
        let shell = shells.get(&image.platform).ok_or_else(|| {
            Error::from(DebugShellError::Missing {
                platform: image.platform,
                found: Vec::new(),
            })
        })?;
        ui.status(
            "Packaging",
            format_args!("`{}` debug variant for {}", run.name, image.platform),
        );
        let component = &shell.component;
        let own_sbom = (!run.args.no_sbom).then(|| {
            let sha256 = crate::cache::layers::hash_file(&shell.path).unwrap_or_default();
            let facts = sbom::Facts {
                app: Some(component.clone()),
                ..Default::default()
            };
            let program = sbom::Program {
                name: "busybox",
                path: "/busybox/busybox".into(),
                sha256: sha256.trim_start_matches("sha256:"),
                sha1: String::new(),
                report: &shell.report,
                facts: &facts,
            };
            let format = run.args.sbom_format;
            let document = sbom::write(format, "busybox", &[program], &[], run.created);
            (
                // In a folder of its own: `sbom IMAGE` prints the application's document.
                format!(
                    "{}/debug-shell/{}",
                    sbom::IMAGE_DIR,
                    format.file_name("busybox")
                ),
                document,
            )
        });
        let layer = ShellLayer {
            binary: &shell.path,
            size: shell.size,
            applets: &shell.applets,
            describe: format!(
                "{} {}",
                component.name,
                component.version.as_deref().unwrap_or("of unknown version")
            ),
            sbom: own_sbom,
        };
        let spec = VariantSpec {
            name: &format!("{}{DEBUG_SUFFIX}", run.name),
            created: run.created,
            compression: run.compression,
            document: documents.get(&image.platform).cloned(),
            sbom_format: run.args.sbom_format,
        };
        images.push(variant(image, &layer, &spec, &inputs.store, reuse)?);
    }
    Ok(ImageSet::of(images, &inputs.store)?)
}

/// Each platform's SBOM for its variant: the production one's components and the busybox.
fn debug_documents(
    run: &Run<'_>,
    inputs: &Inputs<'_>,
    shells: &BTreeMap<Platform, DebugShell>,
) -> Result<BTreeMap<Platform, Vec<u8>>, Error> {
    let mut documents = BTreeMap::new();
    // One platform at a time: each document declares that platform's busybox.
    for v in 0..inputs.verified.len() {
        let platform = inputs.verified[v].platform;
        let Some(shell) = shells.get(&platform) else {
            continue;
        };
        let mut declared = run.args.sbom_package.clone();
        declared.push(shell.component.clone());
        let mut quiet = super::prepare::Warnings::silent();
        let mut one = sbom_documents(
            run,
            &inputs.verified[v..=v],
            &digests_of(inputs, v),
            &inputs.spec.entrypoint,
            &declared,
            &mut quiet,
        )?;
        if let Some(one) = one.remove(&platform) {
            documents.insert(platform, one.document);
        }
    }
    Ok(documents)
}

/// The digests of the `v`th platform's programs, from the run's list of every program's.
fn digests_of(inputs: &Inputs<'_>, v: usize) -> Vec<String> {
    let before: usize = inputs.verified[..v].iter().map(|p| p.all().count()).sum();
    let count = inputs.verified[v].all().count();
    inputs
        .digests
        .iter()
        .skip(before)
        .take(count)
        .cloned()
        .collect()
}

/// The debug tags: each of `tags` (or `latest`) with `-debug` appended.
pub(super) fn tags(tags: &[String]) -> Vec<String> {
    let tags: Vec<&str> = if tags.is_empty() {
        vec!["latest"]
    } else {
        tags.iter().map(String::as_str).collect()
    };
    tags.iter().map(|t| format!("{t}{DEBUG_SUFFIX}")).collect()
}

/// Writes the variants to each output's debug place; returns what the reported ones wrote.
pub(super) fn write(
    run: &Run<'_>,
    set: &ImageSet,
    context: &SinkContext,
    ui: &Ui,
) -> Result<Vec<Written>, Error> {
    let tags = tags(&run.args.tag);
    let mut written = Vec::new();
    for (i, output) in run.outputs.iter().enumerate() {
        let output: ImageRef = output.debug_variant();
        let result = sink_for(&output, &tags, &run.name, context).write(set)?;
        if i < run.reported {
            ui.status("Wrote", format_args!("{} (debug variant)", result.output));
            written.push(result);
        }
    }
    Ok(written)
}

/// The outcome's summary of the variants.
pub(super) fn outcome(
    set: &ImageSet,
    shells: &BTreeMap<Platform, DebugShell>,
    name: &str,
    outputs: Vec<Written>,
) -> DebugOutcome {
    DebugOutcome {
        digest: set.digest().to_string(),
        images: set
            .images()
            .iter()
            .map(|i| ImageSummary::of(i, name))
            .collect(),
        shells: shells
            .iter()
            .map(|(platform, shell)| ShellSummary {
                platform: *platform,
                path: shell.path.clone(),
                package: shell.component.clone(),
            })
            .collect(),
        outputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_tags_follow_the_production_ones() {
        assert_eq!(tags(&[]), ["latest-debug"]);
        assert_eq!(
            tags(&["v1".into(), "stable".into()]),
            ["v1-debug", "stable-debug"]
        );
    }
}
