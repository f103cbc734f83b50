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
    if request.policy {
        return policy(&path, request.force);
    }
    if request.policy {
        return policy(&path, request.force);
    }
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

/// The name `init --policy` writes.
pub const POLICY_FILE: &str = "static-image-policy.toml";

/// Writes the starter policy in `dir` (a policy need not belong to a project: any folder).
fn policy(dir: &std::path::Path, force: bool) -> Result<PathBuf, Error> {
    use std::io::Write as _;
    let target = dir.join(POLICY_FILE);
    let written = |e: std::io::Error| {
        Error::Output(crate::transport::OutputError::Write {
            path: target.clone(),
            source: e,
        })
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(&target).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::Usage(format!(
            "`{}` already exists; `--force` replaces it",
            target.display()
        )),
        _ => written(e),
    })?;
    file.write_all(include_bytes!("../../templates/init/policy.toml"))
        .map_err(written)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_starter_policy_is_a_policy_that_asks_for_everything_but_a_base() {
        let text = include_str!("../../templates/init/policy.toml");
        let policy = crate::verify::policy::Policy::parse(text, std::path::Path::new("p")).unwrap();
        assert!(policy.require_signature && policy.require_provenance && policy.require_sbom);
        assert!(policy.forbid_shells && policy.forbid_root && policy.allowed_base.is_empty());
    }
}
