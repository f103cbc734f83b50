//! `build`: detect → plan → build → (verify, assemble, write: `package`), with the cargo of the
//! last build started ahead (`ahead`) and, with `--check-reproducible`, a second build
//! elsewhere to compare (`reproduce`).

use std::path::PathBuf;
use std::time::SystemTime;

use super::plan::{detect_and_plan, plan_platforms, selections};
use super::settings::project_dir;
use crate::ahead::{self, Ahead};
use crate::config::{self, Origin};
use crate::detect::Project;
use crate::error::Error;
use crate::exec::Started;
use crate::package::{self, Binaries, PackageDefaults, PackageOutcome, Program};
use crate::plan::{self, BuildPlan};
use crate::platform::Platforms;
use crate::request::BuildRequest;
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
    let (project, mut plans) = match plan_and_check(request, trusted, &host, ui) {
        Ok(planned) => planned,
        Err(e) => {
            discard(ahead);
            return Err(e);
        }
    };
    match provide(&project, &mut plans, request, &host, ui) {
        // The cargo started ahead may have started before the library it is given existed.
        Ok(true) => discard(ahead.take()),
        Ok(false) => {}
        Err(e) => {
            discard(ahead);
            return Err(e.into());
        }
    }
    // Each binary, with the plan it was built by: a Go build may have been retried with cgo.
    let selections = selections(&request.project)?;
    let mut built: Vec<(PathBuf, BuildPlan)> = Vec::new();
    // What each build that ran made, with its plan.
    let mut runs: Vec<(build::Made, BuildPlan)> = Vec::new();
    let mut started_ahead = false;
    // `plan_platforms` plans every selection for each platform in turn.
    for (plan, options) in plans.iter().zip(selections.iter().cycle()) {
        // Another program of a build that just ran (the `--bin`s of one cargo command, the
        // `--artifact`s of one C build) is only looked for: the same steps would run again to
        // no effect.
        if let Some((made, _)) = runs
            .iter()
            .find(|(_, done)| done.platform == plan.platform && same_build(done, plan))
        {
            built.push((build::collect(plan, made, ui)?, plan.clone()));
            continue;
        }
        lang::warn_of_static_glibc(plan, ui);
        let started = ahead.take().and_then(|a| a.take_for(plan, ui));
        started_ahead |= started.is_some();
        let (made, plan) = build_one(&project, plan, started, &host, options, ui)?;
        built.push((made.artifact.clone(), plan.clone()));
        runs.push((made, plan));
    }
    // Answers that held and a command that was the one started ahead are remembered already.
    if let Some((_, plan)) = built.first().filter(|_| !(answers_held && started_ahead)) {
        ahead::remember(&project, &request.project, plan, &host, began);
    }
    let (defaults, inputs) = defaults(
        &project,
        built,
        request,
        extra_outputs,
        &toolchains.platforms,
        ui,
    );
    // The build ran the project's own code, which may have swapped a checked path for a link
    // leading out: the settings' paths are judged again just before they are read.
    config::trust::check(request, origin)?;
    package::package_many(&inputs, &request.image, &defaults, ui)
}

/// Whether two plans run the same build (they differ only in the program they take from it).
fn same_build(a: &BuildPlan, b: &BuildPlan) -> bool {
    a.steps == b.steps && a.wrappers == b.wrappers && a.mirror.is_some() == b.mirror.is_some()
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
    let mut platforms: Vec<_> = plans.iter().map(|p| p.platform).collect();
    platforms.dedup();
    package::check_platform_count(&request.image, platforms.len())?;
    package::source_date_epoch()?;
    Ok((project, plans))
}

/// Provides the C libraries a Rust build's crates look for on the machine (`provide`), built
/// for each plan's target into the cache folder; returns whether one was built now.
fn provide(
    project: &Project,
    plans: &mut [BuildPlan],
    request: &BuildRequest,
    host: &Host<'_>,
    ui: &Ui,
) -> Result<bool, crate::provide::ProvideError> {
    let Project::Rust(rust) = project else {
        return Ok(false);
    };
    let default = project.target_dir().join("static-image-cache");
    let cache = package::cache_dir(&request.image, &default).unwrap_or(default);
    let mut built = false;
    for plan in plans {
        built |= crate::provide::prepare(rust, plan, &request.project, &cache, host, ui)?;
    }
    Ok(built)
}

/// What the build tells the packaging beyond the flags: the name, metadata and SBOM facts its
/// language gives, and where the outputs and the cache go; and each platform's programs, the
/// entrypoint's first.
fn defaults(
    project: &Project,
    built: Vec<(PathBuf, BuildPlan)>,
    request: &BuildRequest,
    extra_outputs: &[ImageRef],
    platforms: &Platforms,
    ui: &Ui,
) -> (PackageDefaults, Vec<Binaries>) {
    let cache_dir = project.target_dir().join("static-image-cache");
    let provenance = match request.image.sign_key {
        Some(_) => provenance(project, &built, request, ui),
        None => package::Provenance::default(),
    };
    let cache = package::cache_dir(&request.image, &cache_dir);
    let mut inputs: Vec<Binaries> = Vec::new();
    let mut metadata = Vec::new();
    for (artifact, plan) in built {
        metadata.push((artifact.clone(), lang::metadata(&plan, &artifact)));
        let facts = (!request.image.no_sbom)
            .then(|| lang::sbom_facts(project, &plan, &request.project, cache.as_deref(), ui));
        let program = Program {
            name: lang::default_name(&plan, &artifact),
            path: artifact,
            facts,
        };
        match inputs
            .iter_mut()
            .find(|b| b.platform == Some(plan.platform))
        {
            Some(binaries) => binaries.programs.push(program),
            None => inputs.push(Binaries {
                platform: Some(plan.platform),
                programs: vec![program],
            }),
        }
    }
    let entrypoint = request.image.entrypoint_path.as_ref();
    for binaries in &mut inputs {
        binaries.programs =
            package::entrypoint_first(std::mem::take(&mut binaries.programs), entrypoint);
    }
    // The image is named after its entrypoint's program, and described as its package is.
    let entry = inputs.first().and_then(|b| b.programs.first());
    let name = entry.map_or_else(String::new, |p| p.name.clone());
    let metadata = entry
        .and_then(|p| metadata.into_iter().find(|(path, _)| *path == p.path))
        .map(|(_, m)| m)
        .unwrap_or_default();
    let defaults = PackageDefaults {
        name,
        output_dir: project.target_dir().join("static-image"),
        cache_dir,
        metadata,
        extra_outputs: extra_outputs.to_vec(),
        platforms: platforms.clone(),
        provenance,
    };
    (defaults, inputs)
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
        "artifact": p.artifact.iter().map(|a| relative(a)).collect::<Vec<_>>(),
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
/// ([`lang::go::rebuild_with_cgo`]). Returns what it made and the plan that made it.
fn build_one(
    project: &Project,
    plan: &BuildPlan,
    started: Option<Started>,
    host: &Host<'_>,
    options: &plan::Options,
    ui: &Ui,
) -> Result<(build::Made, BuildPlan), Error> {
    match build::build_made(plan, started, ui) {
        Ok(made) => Ok((made, plan.clone())),
        Err(failure) => {
            let (artifact, plan) =
                lang::go::rebuild_with_cgo(project, plan, failure, host, options, ui)?;
            let made = build::Made {
                artifact,
                executables: Default::default(),
            };
            Ok((made, plan))
        }
    }
}
