//! `plan` and `toolchains`, and the detect → plan half of `build`.

use std::path::{Path, PathBuf};

use super::settings::project_dir;
use crate::detect::{self, Project};
use crate::error::Error;
use crate::plan::{self, BuildPlan};
use crate::platform::{Platform, PlatformName, Platforms};
use crate::request::ProjectRequest;
use crate::toolchain::probe::{self, Host};
use crate::toolchain::{self, Toolchains};
use crate::ui::Ui;

/// `plan`: what `build` would run for each platform, running nothing.
pub fn plan(request: &ProjectRequest, ui: &Ui) -> Result<Vec<BuildPlan>, Error> {
    let toolchains = load_toolchains(request.toolchains.as_deref())?;
    let host = Host::new(&toolchains, ui, &project_dir(&request.path()));
    let (_, plans) = detect_and_plan(request, &host, ui)?;
    Ok(plans)
}

/// `toolchains`: which strategy builds each language for each platform here, with the data it
/// was chosen from.
pub fn toolchains(
    folder: Option<&Path>,
    ui: &Ui,
) -> Result<(Vec<probe::TableRow>, Vec<probe::ToolRow>, Toolchains), Error> {
    let toolchains = load_toolchains(folder)?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let host = Host::new(&toolchains, ui, &cwd);
    let (table, tools) = (probe::table(&host), probe::tools(&host));
    Ok((table, tools, toolchains))
}

/// The built-in toolchain data, after the entries of `folder` when given.
pub fn load_toolchains(folder: Option<&Path>) -> Result<Toolchains, Error> {
    Ok(Toolchains::load(folder)?)
}

/// The choices of the request that shape each platform's plan.
pub fn options(request: &ProjectRequest) -> plan::Options {
    plan::Options {
        offline: request.offline,
        build_args: request.build_args.clone(),
        bin: request.bin.clone(),
        package: request.package.clone(),
        cgo: request.cgo,
        artifact: request.artifact.clone(),
        make_target: request.make_target.clone(),
    }
}

/// The platforms asked for, each once, in the order given; the host's when none.
fn platforms(request: &ProjectRequest, table: &Platforms) -> Result<Vec<Platform>, Error> {
    let mut out = table.resolve(&request.platforms)?;
    if out.is_empty() {
        out.push(table.host().unwrap_or_else(Platform::amd64));
    }
    Ok(out)
}

/// The platform table of a command with no `--toolchains` flag (verify, package, sbom): the
/// built-in rows and those of `STATIC_IMAGE_TOOLCHAINS`'s folder; and the platform `name`
/// names in it, when one is given.
pub fn env_platform(name: Option<&PlatformName>) -> Result<(Platforms, Option<Platform>), Error> {
    let dir = std::env::var_os("STATIC_IMAGE_TOOLCHAINS").map(std::path::PathBuf::from);
    let table = toolchain::platforms(dir.as_deref())?;
    let platform = name.map(|n| table.parse(&n.0)).transpose()?;
    Ok((table, platform))
}

/// detect → plan for every platform, shared by `plan` and `build`.
pub fn detect_and_plan(
    request: &ProjectRequest,
    host: &Host<'_>,
    ui: &Ui,
) -> Result<(Project, Vec<BuildPlan>), Error> {
    let path = request.path();
    let dir = project_dir(&path);
    let project = std::thread::scope(|scope| {
        // A Cargo project needs rustc's sysroot too: ask for it while cargo describes the
        // project, two subprocesses at once.
        let sysroot = (path.is_file() || dir.join("Cargo.toml").is_file())
            .then(|| scope.spawn(|| toolchain::probe::rust_sysroot(&dir, ui)));
        let project = detect::detect(&path, request.offline, host.toolchains(), ui);
        if let Some(sysroot) = sysroot.and_then(|h| h.join().ok()) {
            host.set_sysroot(sysroot);
        }
        project
    })?;
    let plans = plan_platforms(&project, request, host)?;
    Ok((project, plans))
}

/// The plan for each platform asked for.
pub fn plan_platforms(
    project: &Project,
    request: &ProjectRequest,
    host: &Host<'_>,
) -> Result<Vec<BuildPlan>, Error> {
    let options = options(request);
    let env = |key: &str| std::env::var(key).ok();
    Ok(platforms(request, &host.toolchains().platforms)?
        .into_iter()
        .map(|p| plan::plan(project, p, host, &options, &env))
        .collect::<Result<Vec<_>, _>>()?)
}
