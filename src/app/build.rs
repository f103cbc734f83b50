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
use crate::detect;
use crate::detect::Project;
use crate::error::Error;
use crate::exec::Started;
use crate::output::OutputSpec;
use crate::package::{self, PackageDefaults, PackageOutcome};
use crate::plan::BuildPlan;
use crate::request::{BuildRequest, ProjectRequest};
use crate::toolchain::probe::Host;
use crate::toolchain::{Language, LibcKind, Toolchains};
use crate::ui::Ui;
use crate::{build, plan, reproduce, sbom, ui, verify};

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
    extra_outputs: &[OutputSpec],
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
        if plan.libc == Some(LibcKind::Glibc) {
            ui.warn(format_args!(
                "{} for {} links glibc statically (strategy `{}`, the first this machine has): \
                 name and user lookups (NSS), dlopen and iconv need glibc's shared modules, \
                 which scratch lacks; `static-image toolchains` shows how to build against musl",
                plan.name, plan.platform, plan.strategy
            ));
        }
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
    let defaults = defaults(&project, &built, request, extra_outputs, ui)?;
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

/// What the build tells the packaging beyond the flags: the name, metadata and SBOM facts of
/// the project, and where the outputs and the cache go.
fn defaults(
    project: &Project,
    built: &[(PathBuf, BuildPlan)],
    request: &BuildRequest,
    extra_outputs: &[OutputSpec],
    ui: &Ui,
) -> Result<PackageDefaults, Error> {
    let first = built
        .first()
        .map(|(_, plan)| plan.name.clone())
        .unwrap_or_default();
    // A C build's program is named by its build system, not by its folder.
    let name = match (project, built.first()) {
        (Project::C(_), Some((artifact, _))) => artifact
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(first),
        _ => first,
    };
    let metadata = match project {
        Project::Rust(p) => {
            let bin = detect::select_bin(p, request.project.bin.as_deref())?;
            project_metadata(&bin.package)
        }
        Project::Go(_) => built
            .first()
            .map(|(artifact, _)| go_metadata(artifact))
            .unwrap_or_default(),
        Project::C(_) => BTreeMap::new(),
    };
    let cache_dir = project.target_dir().join("static-image-cache");
    let sbom = if request.image.no_sbom {
        BTreeMap::new()
    } else {
        let cache = package::cache_dir(&request.image, &cache_dir);
        built
            .iter()
            .map(|(_, plan)| {
                sbom_facts(project, plan, request, cache.as_deref(), ui).map(|f| (plan.platform, f))
            })
            .collect::<Result<_, Error>>()?
    };
    Ok(PackageDefaults {
        name,
        output_dir: project.target_dir().join("static-image"),
        cache_dir,
        metadata,
        extra_outputs: extra_outputs.to_vec(),
        sbom,
    })
}

/// What the build knows for the SBOM of one platform's binary beyond the binary itself.
fn sbom_facts(
    project: &Project,
    plan: &BuildPlan,
    request: &BuildRequest,
    cache: Option<&std::path::Path>,
    ui: &Ui,
) -> Result<sbom::Facts, Error> {
    Ok(match project {
        Project::Rust(p) => {
            let bin = detect::select_bin(p, request.project.bin.as_deref())?;
            // The triple cargo built for, as the plan's step names it.
            let triple = plan
                .steps
                .iter()
                .flat_map(|s| s.args.windows(2))
                .find(|w| w[0] == "--target")
                .map(|w| w[1].clone())
                .unwrap_or_else(|| format!("{}-unknown-linux-musl", plan.platform.rust_cpu()));
            let query = sbom::rust::Query {
                manifest: &p.manifest_path,
                package: &bin.package,
                triple: &triple,
                features: sbom::rust::feature_flags(&request.project.build_args),
                offline: request.project.offline,
            };
            sbom::rust::facts(&query, cache, ui)
        }
        // A Go binary tells its modules itself; with cgo, the C library is the toolchain's.
        Project::Go(_) | Project::C(_) => sbom::c::facts(plan, ui),
    })
}

/// Builds one plan. A Go build without cgo that fails because a dependency needs cgo is
/// built again with a cgo strategy (zig cc), as `--cgo` would have. Returns the binary and the
/// plan that made it.
fn build_one(
    project: &Project,
    plan: &BuildPlan,
    started: Option<Started>,
    host: &Host<'_>,
    request: &ProjectRequest,
    ui: &Ui,
) -> Result<(PathBuf, BuildPlan), Error> {
    let failure = match build::build_from(plan, started, ui) {
        Ok(artifact) => return Ok((artifact, plan.clone())),
        Err(e) => e,
    };
    // Only a Go build that was not already using cgo can be saved by turning it on.
    if !matches!(project, Project::Go(_)) || request.cgo {
        return Err(failure.into());
    }
    let users = build::cgo_packages(plan, ui).unwrap_or_default();
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
        ..options(request)
    };
    let env = |key: &str| std::env::var(key).ok();
    let cgo_plan = plan::plan(project, plan.platform, host, &options, &env)?;
    let artifact = build::build(&cgo_plan, ui)?;
    Ok((artifact, cgo_plan))
}

/// `org.opencontainers.image.*` annotations from a Go binary's build info: the main module's
/// version (when it has one) and the VCS revision it was built from.
fn go_metadata(binary: &std::path::Path) -> BTreeMap<String, String> {
    use oci_spec::image as oci;
    let mut meta = BTreeMap::new();
    let Some(info) = verify::verify_path(binary, None).ok().and_then(|r| r.go) else {
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
    for (key, value) in &info.settings {
        if key == "vcs.revision" {
            meta.insert(oci::ANNOTATION_REVISION.to_string(), value.clone());
        }
    }
    meta
}

/// The Go module a binary was built from (its build info's main module path).
pub const GO_MODULE_ANNOTATION: &str = "dev.static-image.go.module";
/// The Go release a binary was built with.
pub const GO_VERSION_ANNOTATION: &str = "dev.static-image.go.version";

/// `org.opencontainers.image.*` annotations from a Cargo package.
fn project_metadata(package: &detect::PackageInfo) -> BTreeMap<String, String> {
    use oci_spec::image as oci;
    let mut meta = BTreeMap::new();
    let mut put = |key: &str, value: Option<&String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            meta.insert(key.to_string(), v.clone());
        }
    };
    put(oci::ANNOTATION_VERSION, Some(&package.version));
    put(oci::ANNOTATION_DESCRIPTION, package.description.as_ref());
    put(oci::ANNOTATION_LICENSES, package.license.as_ref());
    put(oci::ANNOTATION_SOURCE, package.repository.as_ref());
    put(oci::ANNOTATION_URL, package.homepage.as_ref());
    put(oci::ANNOTATION_AUTHORS, package.authors.as_ref());
    meta
}
