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

/// The choices of the request that shape each platform's plan, one set for each binary asked
/// for: a `--bin`, `--package` or `--artifact` each, in the order given (the first is the
/// entrypoint); one set, naming none, when none is given. A flag of another language still
/// makes its set, so that planning refuses it by name.
pub fn selections(request: &ProjectRequest) -> Result<Vec<plan::Options>, Error> {
    let base = plan::Options {
        offline: request.offline,
        build_args: request.build_args.clone(),
        cgo: request.cgo,
        make_target: request.make_target.clone(),
        ..plan::Options::default()
    };
    let mut out = Vec::new();
    let together = if request.bin.len() > 1 {
        request.bin.clone()
    } else {
        Vec::new()
    };
    for bin in &request.bin {
        out.push(plan::Options {
            bin: Some(bin.clone()),
            bins_together: together.clone(),
            ..base.clone()
        });
    }
    for package in &request.package {
        out.push(plan::Options {
            package: Some(package.clone()),
            ..base.clone()
        });
    }
    for artifact in &request.artifact {
        out.push(plan::Options {
            artifact: Some(artifact.clone()),
            ..base.clone()
        });
    }
    // The same binary twice would be the same file twice in /app/.
    let given = |o: &plan::Options| {
        let (flag, value) = match (&o.bin, &o.package, &o.artifact) {
            (Some(b), _, _) => ("--bin", b.clone()),
            (_, Some(p), _) => ("--package", p.clone()),
            (_, _, Some(a)) => ("--artifact", a.display().to_string()),
            _ => ("", String::new()),
        };
        format!("{flag} {value}")
    };
    for (i, options) in out.iter().enumerate() {
        let this = given(options);
        if out[..i].iter().any(|o| given(o) == this) {
            return Err(Error::Usage(format!(
                "`{this}` is given twice; each binary is named once (the first named is the \
                 entrypoint)"
            )));
        }
    }
    if out.is_empty() {
        out.push(base);
    }
    Ok(out)
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

/// The plan of each binary asked for (see [`selections`]) for each platform asked for:
/// platform by platform, and in each the binaries in the order given.
pub fn plan_platforms(
    project: &Project,
    request: &ProjectRequest,
    host: &Host<'_>,
) -> Result<Vec<BuildPlan>, Error> {
    let selections = selections(request)?;
    let env = |key: &str| std::env::var(key).ok();
    let mut plans = Vec::new();
    for platform in platforms(request, &host.toolchains().platforms)? {
        for options in &selections {
            plans.push(plan::plan(project, platform, host, options, &env)?);
        }
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_binary_asked_for_is_a_selection_in_the_order_given() {
        let request = ProjectRequest {
            bin: vec!["server".into(), "migrate".into()],
            offline: true,
            ..ProjectRequest::default()
        };
        let chosen = selections(&request).unwrap();
        let bins: Vec<_> = chosen.iter().map(|o| o.bin.as_deref()).collect();
        assert_eq!(bins, [Some("server"), Some("migrate")]);
        assert!(chosen.iter().all(|o| o.offline));
        // None asked for: one selection, which picks the project's only binary.
        let none = selections(&ProjectRequest::default()).unwrap();
        assert_eq!(none.len(), 1);
        assert!(none[0].bin.is_none() && none[0].package.is_none() && none[0].artifact.is_none());
        let twice = ProjectRequest {
            artifact: vec!["out/a".into(), "out/a".into()],
            ..ProjectRequest::default()
        };
        let err = selections(&twice).unwrap_err().to_string();
        assert!(err.contains("`--artifact out/a` is given twice"), "{err}");
    }
}
