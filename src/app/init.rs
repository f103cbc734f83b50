//! `init`: a commented starter settings file for the detected project.

use std::path::PathBuf;

use super::plan::load_toolchains;
use crate::config;
use crate::detect::{self, Project};
use crate::error::Error;
use crate::request::InitRequest;
use crate::ui::Ui;

/// `init`: writes the starter settings and returns the file written.
pub fn init(request: &InitRequest, ui: &Ui) -> Result<PathBuf, Error> {
    let path = request.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let toolchains = load_toolchains(None)?;
    let project = detect::detect(&path, false, &toolchains, ui)?;
    let (manifest, name) = match &project {
        Project::Rust(p) => (
            Some(p.manifest_path.as_path()),
            p.bins.first().map(|b| b.name.clone()),
        ),
        _ => (None, None),
    };
    let name = name.unwrap_or_else(|| {
        project
            .root()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".into())
    });
    Ok(config::init(
        manifest,
        project.root(),
        &name,
        request.force,
    )?)
}
