//! Go: the image's metadata from the binary's build info (main module, version, VCS revision,
//! Go release), and a build that fails for want of cgo built again with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::image as oci;

use crate::build::{self, BuildError};
use crate::detect::Project;
use crate::error::Error;
use crate::exec::ExecError;
use crate::plan::{self, BuildPlan, Facts, Step};
use crate::toolchain::probe::Host;
use crate::ui::{self, Ui};
use crate::verify::go::GoBuildInfo;

/// The Go module a binary was built from (its build info's main module path).
pub const GO_MODULE_ANNOTATION: &str = "dev.static-image.go.module";
/// The Go release a binary was built with.
pub const GO_VERSION_ANNOTATION: &str = "dev.static-image.go.version";

/// The largest `.go.buildinfo` section read: real ones are a few KiB.
const MAX_BUILD_INFO: u64 = 1 << 24;

/// `org.opencontainers.image.*` annotations from a Go binary's build info: the main module's
/// version (when it has one) and the VCS revision it was built from, with our own for the
/// module path and the Go release.
pub fn annotations(binary: &Path) -> BTreeMap<String, String> {
    let mut meta = BTreeMap::new();
    let Some(info) = build_info(binary) else {
        return meta;
    };
    if let Some(main) = &info.main {
        if !main.version.is_empty() && main.version != "(devel)" {
            meta.insert(oci::ANNOTATION_VERSION.to_string(), main.version.clone());
        }
        meta.insert(GO_MODULE_ANNOTATION.to_string(), main.path.clone());
    }
    if let Some(version) = &info.go_version {
        meta.insert(GO_VERSION_ANNOTATION.to_string(), version.clone());
    }
    if let Some(revision) = info.setting("vcs.revision") {
        meta.insert(oci::ANNOTATION_REVISION.to_string(), revision.to_string());
    }
    meta
}

/// The build info section of a Go binary, read alone: the binary is verified once, when it is
/// packaged, and its annotations are needed before that.
fn build_info(binary: &Path) -> Option<GoBuildInfo> {
    let bytes = std::fs::read(binary).ok()?;
    let elf = goblin::elf::Elf::parse(&bytes).ok()?;
    let header = elf
        .section_headers
        .iter()
        .find(|h| elf.shdr_strtab.get_at(h.sh_name) == Some(".go.buildinfo"))?;
    if header.sh_size > MAX_BUILD_INFO {
        return None;
    }
    crate::verify::go::parse(bytes.get(header.file_range()?)?)
}

/// After `failure` of `plan`, built without cgo: if a package it builds uses `import "C"`,
/// plans and builds again with a cgo strategy (zig cc), as `--cgo` would have, and returns the
/// binary and that plan; else `failure`.
pub fn rebuild_with_cgo(
    project: &Project,
    plan: &BuildPlan,
    failure: BuildError,
    host: &Host<'_>,
    options: &plan::Options,
    ui: &Ui,
) -> Result<(PathBuf, BuildPlan), Error> {
    // Only a Go build that was not already using cgo can be saved by turning it on.
    let Facts::Go {
        cgo_check: Some(check),
        ..
    } = &plan.facts
    else {
        return Err(failure.into());
    };
    let users = cgo_users(check, ui).unwrap_or_default();
    if users.is_empty() {
        return Err(failure.into());
    }
    ui.warn(format_args!(
        "{} needs cgo ({} use `import \"C\"`); building again with cgo linked statically",
        plan.name,
        ui::backticked(&users)
    ));
    let options = plan::Options {
        cgo: true,
        ..options.clone()
    };
    let env = |key: &str| std::env::var(key).ok();
    let cgo_plan = plan::plan(project, plan.platform, host, &options, &env)?;
    let artifact = build::build(&cgo_plan, ui)?;
    Ok((artifact, cgo_plan))
}

/// The packages the plan's cgo check lists, one a line.
fn cgo_users(check: &Step, ui: &Ui) -> Result<Vec<String>, ExecError> {
    let out = check.command().capture(ui)?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}
