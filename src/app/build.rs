//! `build`: detect → plan → build → (verify, assemble, write: `package`), with the cargo of the
//! last build started ahead (`ahead`) and, with `--check-reproducible`, a second build
//! elsewhere to compare (`reproduce`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use super::plan::{detect_and_plan, options, plan_platforms};
use super::settings::project_dir;
use crate::ahead::{self, Ahead};
use crate::config::{self, Origin};
use crate::detect::Project;
use crate::error::Error;
use crate::exec::Started;
use crate::package::{self, PackageDefaults, PackageOutcome};
use crate::plan::BuildPlan;
use crate::platform::Platforms;
use crate::request::{BuildRequest, ProjectRequest};
use crate::toolchain::probe::Host;
use crate::toolchain::{Language, Toolchains};
use crate::transport::ImageRef;
use crate::ui::Ui;
use crate::{build, lang, reproduce};

/// `build`: the image of the project as `request` asks; `origin` tells which of its values came
/// from the project's settings file.
pub fn build(request: &BuildRequest, origin: &Origin, ui: &Ui) -> Result<PackageOutcome, Error> {
    if request.check_reproducible {
        return reproduce::check(request, ui, &|request, extra| {
            build_once(request, origin, extra, ui)
        });
    }
    build_once(request, origin, &[], ui)
}

/// One build; `extra_outputs` are written besides the outputs asked for (or the default one).
fn build_once(
    request: &BuildRequest,
    origin: &Origin,
    extra_outputs: &[ImageRef],
    ui: &Ui,
) -> Result<PackageOutcome, Error> {
    let began = SystemTime::now();
    // The last build's cargo command starts before anything else is read (see `ahead`).
    let mut ahead = ahead::start(&request.project, ui);
    // Answers nothing has changed since are not asked for again: the project is a Cargo one.
    let trusted = ahead.as_ref().and_then(Ahead::trusted);
    let language = trusted.as_ref().map(|_| Language::Rust);
    // Until a plan's step takes it, a failure lets the early cargo finish unseen.
    let discard = |ahead: Option<Ahead>| {
        if let Some(ahead) = ahead {
            ahead.discard();
        }
    };
    let toolchains = match Toolchains::load_for(request.project.toolchains.as_deref(), language) {
        Ok(toolchains) => toolchains,
        Err(e) => {
            discard(ahead);
            return Err(e.into());
        }
    };
    let host = Host::new(&toolchains, ui, &project_dir(&request.project.path()));
    let answers_held = trusted.is_some();
    let (project, plans) = match plan_and_check(request, trusted, &host, ui) {
        Ok(planned) => planned,
        Err(e) => {
            discard(ahead);
            return Err(e);
        }
    };
    // Each platform's binary, with the plan it was built by: a Go build may have been retried
    // with cgo.
    let mut built: Vec<(PathBuf, BuildPlan)> = Vec::new();
    let mut started_ahead = false;
    for plan in &plans {
        lang::warn_of_static_glibc(plan, ui);
        let started = ahead.take().and_then(|a| a.take_for(plan, ui));
        started_ahead |= started.is_some();
        built.push(build_one(
            &project,
            plan,
            started,
            &host,
            &request.project,
            ui,
        )?);
    }
    // Answers that held and a command that was the one started ahead are remembered already.
    if let Some((_, plan)) = built.first().filter(|_| !(answers_held && started_ahead)) {
        ahead::remember(&project, &request.project, plan, &host, began);
    }
    let defaults = defaults(
        &project,
        &built,
        request,
        extra_outputs,
        &toolchains.platforms,
        ui,
    );
    // The build ran the project's own code, which may have swapped a checked path for a link
    // leading out: the settings' paths are judged again just before they are read.
    config::trust::check(request, origin)?;
    let inputs: Vec<_> = built
        .into_iter()
        .map(|(artifact, plan)| (artifact, Some(plan.platform)))
        .collect();
    package::package_many(&inputs, &request.image, &defaults, ui)
}

/// The project and each platform's plan, from the answers `trusted` when they hold, with the
/// image flags checked against them: bad flags fail before a long compile, not after.
fn plan_and_check(
    request: &BuildRequest,
    trusted: Option<(Project, Option<PathBuf>)>,
    host: &Host<'_>,
    ui: &Ui,
) -> Result<(Project, Vec<BuildPlan>), Error> {
    let (project, plans) = match trusted {
        Some((project, sysroot)) => {
            ui.verbose("nothing the last build's answers depend on has changed; not asking again");
            host.set_sysroot(sysroot);
            let plans = plan_platforms(&project, &request.project, host)?;
            (project, plans)
        }
        None => detect_and_plan(&request.project, host, ui)?,
    };
    let first = plans.first().map(|p| p.name.clone()).unwrap_or_default();
    let name = request.image.name.clone().unwrap_or(first);
    package::check_args(&request.image, &name)?;
    package::check_platform_count(&request.image, plans.len())?;
    package::source_date_epoch()?;
    Ok((project, plans))
}

/// What the build tells the packaging beyond the flags: the name, metadata and SBOM facts its
/// language gives, and where the outputs and the cache go.
fn defaults(
    project: &Project,
    built: &[(PathBuf, BuildPlan)],
    request: &BuildRequest,
    extra_outputs: &[ImageRef],
    platforms: &Platforms,
    ui: &Ui,
) -> PackageDefaults {
    let (name, metadata) = match built.first() {
        Some((artifact, plan)) => (
            lang::default_name(plan, artifact),
            lang::metadata(plan, artifact),
        ),
        None => (String::new(), BTreeMap::new()),
    };
    let cache_dir = project.target_dir().join("static-image-cache");
    let sbom = if request.image.no_sbom {
        BTreeMap::new()
    } else {
        let cache = package::cache_dir(&request.image, &cache_dir);
        built
            .iter()
            .map(|(_, plan)| {
                let facts = lang::sbom_facts(project, plan, &request.project, cache.as_deref(), ui);
                (plan.platform, facts)
            })
            .collect()
    };
    let provenance = match request.image.sign_key {
        Some(_) => provenance(project, built, request, ui),
        None => package::Provenance::default(),
    };
    PackageDefaults {
        name,
        output_dir: project.target_dir().join("static-image"),
        cache_dir,
        metadata,
        extra_outputs: extra_outputs.to_vec(),
        sbom,
        platforms: platforms.clone(),
        provenance,
    }
}

/// What a signed build's provenance says beyond the image flags: how the build was asked for
/// (paths relative to the project) and what it read (the source, the lockfiles).
fn provenance(
    project: &Project,
    built: &[(PathBuf, BuildPlan)],
    request: &BuildRequest,
    ui: &Ui,
) -> package::Provenance {
    let p = &request.project;
    let root = project.root();
    let relative = |path: &std::path::Path| {
        path.strip_prefix(root)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_string_lossy().into_owned())
    };
    let build = serde_json::json!({
        "language": project.language().to_string().to_lowercase(),
        "bin": p.bin,
        "package": p.package,
        "cgo": p.cgo,
        "artifact": p.artifact.as_deref().map(relative),
        "make_target": p.make_target,
        "build_args": p.build_args,
        "offline": p.offline,
        "strategies": built.iter().map(|(_, plan)| format!("{}: {}", plan.platform, plan.strategy)).collect::<Vec<_>>(),
    });
    let mut read = vec![crate::sign::source::source(root, ui)];
    read.extend(crate::sign::source::lockfiles(root));
    package::Provenance {
        external: [("build".to_string(), build)].into_iter().collect(),
        dependencies: built
            .iter()
            .map(|(_, plan)| (plan.platform, read.clone()))
            .collect(),
    }
}

/// Builds one plan; a Go build that fails for want of cgo is given its second chance
/// ([`lang::go::rebuild_with_cgo`]). Returns the binary and the plan that made it.
fn build_one(
    project: &Project,
    plan: &BuildPlan,
    started: Option<Started>,
    host: &Host<'_>,
    request: &ProjectRequest,
    ui: &Ui,
) -> Result<(PathBuf, BuildPlan), Error> {
    match build::build_from(plan, started, ui) {
        Ok(artifact) => Ok((artifact, plan.clone())),
        Err(failure) => {
            lang::go::rebuild_with_cgo(project, plan, failure, host, &options(request), ui)
        }
    }
}
