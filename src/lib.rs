//! `static-image`: Go, Rust and C projects and static binaries → reproducible `FROM scratch`
//! OCI images.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! detect ──> plan ──────> build ──> verify ──> image (assemble) ──> output (write / push)
//! Project    BuildPlan     PathBuf   StaticReport  Image           oci | oci-archive | docker-archive
//!                                                                  | docker:// (registry)
//!            (toolchain:
//!             strategies
//!             as data)
//! ```
//!
//! `sbom` turns the verify report (and what Cargo or the toolchain says) into the SPDX document
//! that `image` puts in the app layer and attaches to the image as a referrer.
//!
//! Only `exec` (through `build`, `detect`, `sbom` and the toolchain probe) and `output` touch
//! the outside world; `main` (here: [`main`]) parses arguments, runs one command, renders the
//! error and picks the exit code.

pub mod ahead;
pub mod build;
pub mod cli;
pub mod config;
pub mod detect;
pub mod error;
pub mod exec;
pub mod fsguard;
pub mod image;
pub mod package;
pub mod plan;
pub mod platform;
pub mod registry;
pub mod replay;
pub mod report;
pub mod reproduce;
pub mod sbom;
pub mod staging;
pub mod toolchain;
pub mod transport;
pub mod ui;
pub mod verify;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches};

use cli::{BuildArgs, Cli, Command, PackageArgs, ProjectArgs, ToolchainsArgs, VerifyArgs};
use detect::Project;
use error::Error;
use package::PackageDefaults;
use plan::BuildPlan;
use platform::Platform;
use toolchain::Toolchains;
use toolchain::probe::Host;
use ui::Ui;

/// The entry point of both binaries (`static-image` and `cargo-static-image`).
pub fn main() -> ExitCode {
    let args = cargo_shim(std::env::args_os());
    toolchain::preload_platforms(&args);
    let parsed = Cli::command()
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let ui = Ui::new(cli.verbose, cli.quiet, cli.color);
    match run(cli, &matches, &ui) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            e.report(&ui);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Drops the `static-image` that cargo inserts when run as `cargo static-image …`.
pub fn cargo_shim(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == "static-image") {
        args.remove(1);
    }
    args
}

/// Runs one parsed command line; returns the exit code of a command that completed.
pub fn run(cli: Cli, matches: &ArgMatches, ui: &Ui) -> Result<u8, Error> {
    let json = cli.json;
    let mut stdout = io::stdout().lock();
    // The flags of the subcommand, or of the bare `static-image [PATH]` form.
    let sub = matches.subcommand().map_or(matches, |(_, m)| m);
    let given = |id: &str| {
        sub.try_contains_id(id).unwrap_or(false)
            && sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
    };
    let printed = match cli.command {
        Some(Command::Verify(args)) => return verify(&args, json, ui, &mut stdout),
        Some(Command::Sbom(args)) => {
            let options = args.registry.options();
            let (platform, path, bytes) =
                sbom::read::read(&args.image, args.platform, &options, ui)?;
            ui.verbose(format_args!("`{path}` of the {platform} image"));
            stdout.write_all(&bytes)
        }
        Some(Command::Package(args)) => {
            let outcome = package(&args, ui)?;
            report::outcome(&mut stdout, &outcome, json)
        }
        Some(Command::Init(args)) => {
            let written = init(&args, ui)?;
            ui.status("Wrote", written.display());
            writeln!(stdout, "{}", written.display())
        }
        Some(Command::Plan(args)) => {
            let args = with_config(
                BuildArgs {
                    project: args,
                    ..Default::default()
                },
                &given,
            )?
            .project;
            let toolchains = load_toolchains(&args.toolchains)?;
            let path = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
            let host = Host::new(&toolchains, ui, &project_dir(&path));
            let (_, plans) = plan(&args, &host, ui)?;
            report::plans(&mut stdout, &plans, json)
        }
        Some(Command::Toolchains(args)) => {
            let toolchains = load_toolchains(&args)?;
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let host = Host::new(&toolchains, ui, &cwd);
            report::toolchains(
                &mut stdout,
                &toolchain::probe::table(&host),
                &toolchains,
                json,
            )
        }
        Some(Command::Build(args)) => {
            let args = with_config(args, &given)?;
            let outcome =
                build(&args, ui).map_err(|e| config::trust::blame(e, &args, &args.origin))?;
            report::outcome(&mut stdout, &outcome, json)
        }
        None => {
            let args = with_config(cli.build, &given)?;
            let outcome =
                build(&args, ui).map_err(|e| config::trust::blame(e, &args, &args.origin))?;
            report::outcome(&mut stdout, &outcome, json)
        }
    };
    finish(printed.and_then(|_| stdout.flush())).map(|_| 0)
}

/// The project's settings file under the flags given on the command line.
fn with_config(mut args: BuildArgs, given: config::Given<'_>) -> Result<BuildArgs, Error> {
    let path = args
        .project
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let Some(file) = config::locate(&path) else {
        return Ok(args);
    };
    let root = project_dir(&path);
    let root = root.canonicalize().unwrap_or(root);
    config::load(&file, &root)?.apply(&mut args, &root, given, &file)?;
    Ok(args)
}

/// `init`: a starter config for the detected project.
fn init(args: &cli::InitArgs, ui: &Ui) -> Result<PathBuf, Error> {
    let path = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let toolchains = load_toolchains(&ToolchainsArgs::default())?;
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
    Ok(config::init(manifest, project.root(), &name, args.force)?)
}

/// A closed stdout (a pipe into `head`) is not an error; anything else writing results is.
fn finish(result: io::Result<()>) -> Result<(), Error> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Output(transport::OutputError::Write {
            path: PathBuf::from("<stdout>"),
            source: e,
        })),
        Ok(()) => Ok(()),
    }
}

/// `verify`: 0 all static, 1 some not static or not for the platform, 2 some unreadable.
fn verify(args: &VerifyArgs, json: bool, ui: &Ui, out: &mut dyn Write) -> Result<u8, Error> {
    let (images, files): (Vec<&PathBuf>, Vec<&PathBuf>) = args
        .files
        .iter()
        .partition(|f| verify::image::is_image_spec(&f.to_string_lossy()));
    let results: Vec<_> = files
        .iter()
        .map(|f| {
            (
                f.display().to_string(),
                verify::verify_path(f, args.platform),
            )
        })
        .collect();
    let options = args.registry.options();
    let verdicts: Vec<_> = images
        .iter()
        .map(|i| verify::image::verify_image(&i.to_string_lossy(), &options, ui))
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

/// Where `package` writes by default: cargo's target dir convention, relative to here.
fn default_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn package(args: &PackageArgs, ui: &Ui) -> Result<package::PackageOutcome, Error> {
    if args.binaries.len() > 1 && args.platform.is_some() {
        return Err(Error::Usage(
            "`--platform` names the platform of one binary; with several, each binary's own \
             machine decides"
                .into(),
        ));
    }
    let names: Vec<String> = args
        .binaries
        .iter()
        .map(|b| {
            b.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    // One name for every platform: a per-platform file name (`app-arm64`) must not become the
    // arm64 image's entrypoint `/app/app-amd64`.
    let name = match (&args.image.name, shared_stem(&names)) {
        (Some(name), _) => name.clone(),
        (None, Some(stem)) => {
            if names.iter().any(|n| *n != stem) {
                ui.status(
                    "Naming",
                    format!(
                        "the image `{stem}`, the stem the binaries' names share (`--name` sets \
                         another)"
                    ),
                );
            }
            stem
        }
        (None, None) => {
            return Err(Error::Usage(format!(
                "the binaries' names ({}) share no stem to name the image after; give it one \
                 with `--name`",
                ui::backticked(&names)
            )));
        }
    };
    let defaults = PackageDefaults {
        name,
        output_dir: default_target_dir().join("static-image"),
        cache_dir: default_target_dir().join("static-image-cache"),
        metadata: BTreeMap::new(),
        extra_outputs: Vec::new(),
        sbom: BTreeMap::new(),
    };
    let inputs: Vec<_> = args
        .binaries
        .iter()
        .map(|b| (b.clone(), args.platform))
        .collect();
    package::package_many(&inputs, &args.image, &defaults, ui)
}

/// The name several binaries share: the whole file name when they have one, else their common
/// leading words (split at `-`, `_` and `.`): `app-amd64`, `app-arm64` → `app`.
fn shared_stem(names: &[String]) -> Option<String> {
    let first = names.first()?;
    if names.iter().all(|n| n == first) {
        return (!first.is_empty()).then(|| first.clone());
    }
    let words = |n: &str| {
        n.split(['-', '_', '.'])
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let mut common = words(first);
    for other in &names[1..] {
        let other = words(other);
        let same = common
            .iter()
            .zip(&other)
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(same);
    }
    // The stem as the first name spells it, separators included.
    let length: usize =
        common.iter().map(String::len).sum::<usize>() + common.len().saturating_sub(1);
    let stem = &first[..length];
    (!stem.is_empty()).then(|| stem.to_string())
}

fn load_toolchains(args: &ToolchainsArgs) -> Result<Toolchains, Error> {
    Ok(Toolchains::load(args.toolchains.as_deref())?)
}

fn plan_options(args: &ProjectArgs) -> plan::Options {
    plan::Options {
        offline: args.offline,
        build_args: args.build_args.clone(),
        bin: args.bin.clone(),
        package: args.package.clone(),
        cgo: args.cgo,
        artifact: args.artifact.clone(),
    }
}

/// The platforms asked for, each once, in the order given; the host's when none.
fn platforms(args: &ProjectArgs) -> Vec<Platform> {
    let mut out: Vec<Platform> = Vec::new();
    for p in &args.platform {
        if !out.contains(p) {
            out.push(*p);
        }
    }
    if out.is_empty() {
        out.push(Platform::host().unwrap_or(Platform::AMD64));
    }
    out
}

/// detect → plan for every platform, shared by `plan` and `build`.
fn plan(args: &ProjectArgs, host: &Host<'_>, ui: &Ui) -> Result<(Project, Vec<BuildPlan>), Error> {
    let path = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let dir = project_dir(&path);
    let project = std::thread::scope(|scope| {
        // A Cargo project needs rustc's sysroot too: ask for it while cargo describes the
        // project, two subprocesses at once.
        let sysroot = (path.is_file() || dir.join("Cargo.toml").is_file())
            .then(|| scope.spawn(|| toolchain::probe::rust_sysroot(&dir, ui)));
        let project = detect::detect(&path, args.offline, host.toolchains(), ui);
        if let Some(sysroot) = sysroot.and_then(|h| h.join().ok()) {
            host.set_sysroot(sysroot);
        }
        project
    })?;
    let plans = plan_platforms(&project, args, host)?;
    Ok((project, plans))
}

/// The plan for each platform asked for.
fn plan_platforms(
    project: &Project,
    args: &ProjectArgs,
    host: &Host<'_>,
) -> Result<Vec<BuildPlan>, Error> {
    let options = plan_options(args);
    let env = |key: &str| std::env::var(key).ok();
    Ok(platforms(args)
        .into_iter()
        .map(|p| plan::plan(project, p, host, &options, &env))
        .collect::<Result<Vec<_>, _>>()?)
}

/// The directory a project path names (the folder itself, or a manifest's folder).
fn project_dir(path: &std::path::Path) -> PathBuf {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(std::path::Path::new("."))
    };
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_owned()
    }
}

fn build(args: &BuildArgs, ui: &Ui) -> Result<package::PackageOutcome, Error> {
    if args.check_reproducible {
        return reproduce::check(args, ui, &|args, extra| build_once(args, extra, ui));
    }
    build_once(args, &[], ui)
}

/// One build; `extra_outputs` are written besides the outputs asked for (or the default one).
fn build_once(
    args: &BuildArgs,
    extra_outputs: &[transport::ImageRef],
    ui: &Ui,
) -> Result<package::PackageOutcome, Error> {
    let began = std::time::SystemTime::now();
    // The last build's cargo command starts before anything else is read (see `ahead`).
    let mut ahead = ahead::start(&args.project, ui);
    // Answers nothing has changed since are not asked for again: the project is a Cargo one.
    let trusted = ahead.as_ref().and_then(ahead::Ahead::trusted);
    let language = trusted.as_ref().map(|_| toolchain::Language::Rust);
    let toolchains =
        match Toolchains::load_for(args.project.toolchains.toolchains.as_deref(), language) {
            Ok(toolchains) => toolchains,
            Err(e) => {
                if let Some(ahead) = ahead {
                    ahead.discard();
                }
                return Err(e.into());
            }
        };
    let path = args
        .project
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let host = Host::new(&toolchains, ui, &project_dir(&path));
    let answers_held = trusted.is_some();
    let planned = match trusted {
        Some((project, sysroot)) => {
            ui.verbose("nothing the last build's answers depend on has changed; not asking again");
            host.set_sysroot(sysroot);
            plan_platforms(&project, &args.project, &host).map(|plans| (project, plans))
        }
        None => plan(&args.project, &host, ui),
    };
    let (project, plans) = match planned {
        Ok(planned) => planned,
        Err(e) => {
            if let Some(ahead) = ahead {
                ahead.discard();
            }
            return Err(e);
        }
    };
    let first = plans.first().map(|p| p.name.clone()).unwrap_or_default();
    let name = args.image.name.clone().unwrap_or_else(|| first.clone());
    // Bad flags should fail now, not after a long compile.
    let checked = package::check_args(&args.image, &name)
        .and_then(|_| package::check_platform_count(&args.image, plans.len()))
        .and_then(|_| package::source_date_epoch().map(|_| ()));
    if let Err(e) = checked {
        if let Some(ahead) = ahead {
            ahead.discard();
        }
        return Err(e);
    }
    let mut built = Vec::new();
    // The plans the binaries were built by: a Go build may have been retried with cgo.
    let mut used = Vec::new();
    let mut started_ahead = false;
    for plan in &plans {
        if plan.libc == Some(toolchain::LibcKind::Glibc) {
            ui.warn(format_args!(
                "{} for {} links glibc statically (strategy `{}`, the first this machine has): \
                 name and user lookups (NSS), dlopen and iconv need glibc's shared modules, \
                 which scratch lacks; `static-image toolchains` shows how to build against musl",
                plan.name, plan.platform, plan.strategy
            ));
        }
        let started = ahead.take().and_then(|a| a.take_for(plan, ui));
        started_ahead |= started.is_some();
        let (artifact, retried) = build_one(&project, plan, started, &host, &args.project, ui)?;
        built.push((artifact, Some(plan.platform)));
        used.push(retried.unwrap_or_else(|| plan.clone()));
    }
    // Answers that held and a command that was the one started ahead are remembered already.
    if let Some(plan) = used.first().filter(|_| !(answers_held && started_ahead)) {
        ahead::remember(&project, &args.project, plan, &host, began);
    }
    // A C build's program is named by its build system, not by its folder.
    let default_name = match (&project, built.first()) {
        (Project::C(_), Some((artifact, _))) => artifact
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(first),
        _ => first,
    };
    let metadata = match &project {
        Project::Rust(p) => {
            let bin = detect::select_bin(p, args.project.bin.as_deref())?;
            project_metadata(&bin.package)
        }
        Project::Go(_) => built
            .first()
            .map(|(artifact, _)| go_metadata(artifact))
            .unwrap_or_default(),
        Project::C(_) => BTreeMap::new(),
    };
    let cache_dir = project.target_dir().join("static-image-cache");
    let sbom = if args.image.no_sbom {
        BTreeMap::new()
    } else {
        let cache = package::cache_dir(&args.image, &cache_dir);
        used.iter()
            .map(|plan| {
                sbom_facts(&project, plan, args, cache.as_deref(), ui).map(|f| (plan.platform, f))
            })
            .collect::<Result<_, Error>>()?
    };
    let defaults = PackageDefaults {
        name: default_name,
        output_dir: project.target_dir().join("static-image"),
        cache_dir,
        metadata,
        extra_outputs: extra_outputs.to_vec(),
        sbom,
    };
    // The build ran the project's own code, which may have swapped a checked path for a link
    // leading out: the settings' paths are judged again just before they are read.
    config::trust::check(args, &args.origin)?;
    package::package_many(&built, &args.image, &defaults, ui)
}

/// What the build knows for the SBOM of one platform's binary beyond the binary itself.
fn sbom_facts(
    project: &Project,
    plan: &BuildPlan,
    args: &BuildArgs,
    cache: Option<&std::path::Path>,
    ui: &Ui,
) -> Result<sbom::Facts, Error> {
    Ok(match project {
        Project::Rust(p) => {
            let bin = detect::select_bin(p, args.project.bin.as_deref())?;
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
                features: sbom::rust::feature_flags(&args.project.build_args),
                offline: args.project.offline,
            };
            sbom::rust::facts(&query, cache, ui)
        }
        // A Go binary tells its modules itself; with cgo, the C library is the toolchain's.
        Project::Go(_) | Project::C(_) => sbom::c::facts(plan, ui),
    })
}

/// Builds one plan. A Go build without cgo that fails because a dependency needs cgo is
/// built again with a cgo strategy (zig cc), as `--cgo` would have; that plan is returned too.
fn build_one(
    project: &Project,
    plan: &BuildPlan,
    started: Option<exec::Started>,
    host: &Host<'_>,
    args: &ProjectArgs,
    ui: &Ui,
) -> Result<(PathBuf, Option<BuildPlan>), Error> {
    let failure = match build::build_from(plan, started, ui) {
        Ok(artifact) => return Ok((artifact, None)),
        Err(e) => e,
    };
    // Only a Go build that was not already using cgo can be saved by turning it on.
    if !matches!(project, Project::Go(_)) || args.cgo {
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
        ..plan_options(args)
    };
    let env = |key: &str| std::env::var(key).ok();
    let cgo_plan = plan::plan(project, plan.platform, host, &options, &env)?;
    let artifact = build::build(&cgo_plan, ui)?;
    Ok((artifact, Some(cgo_plan)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_for_several_platforms_share_one_name() {
        let stem =
            |names: &[&str]| shared_stem(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
        assert_eq!(stem(&["app-amd64", "app-arm64"]), Some("app".into()));
        assert_eq!(
            stem(&["my-app.x86_64", "my-app.aarch64"]),
            Some("my-app".into())
        );
        assert_eq!(stem(&["server", "server"]), Some("server".into()));
        assert_eq!(stem(&["server"]), Some("server".into()));
        assert_eq!(stem(&["a-amd64", "b-arm64"]), None);
        assert_eq!(stem(&["hi-amd64", "hi-arm64"]), Some("hi".into()));
    }
    use clap::Parser;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn cargo_shim_drops_only_the_inserted_subcommand_name() {
        assert_eq!(
            cargo_shim(os(&["cargo-static-image", "static-image", "--bin", "x"])),
            os(&["cargo-static-image", "--bin", "x"])
        );
        assert_eq!(
            cargo_shim(os(&["static-image", "verify", "static-image"])),
            os(&["static-image", "verify", "static-image"])
        );
        assert_eq!(cargo_shim(os(&["static-image"])), os(&["static-image"]));
    }

    #[test]
    fn bare_invocation_is_build_and_subcommands_parse() {
        let cli = Cli::try_parse_from([
            "static-image",
            "proj",
            "--bin",
            "x",
            "--",
            "--features",
            "a",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.build.project.path, Some(PathBuf::from("proj")));
        assert_eq!(cli.build.project.build_args, ["--features", "a"]);
        let cli = Cli::try_parse_from(["static-image", "build", "--platform", "linux/amd64,arm64"])
            .unwrap();
        let Some(Command::Build(b)) = cli.command else {
            panic!("not build")
        };
        assert_eq!(b.project.platform, [Platform::AMD64, Platform::ARM64]);
        let cli = Cli::try_parse_from(["static-image", "verify", "--json", "a", "b"]).unwrap();
        assert!(cli.json);
        assert!(matches!(cli.command, Some(Command::Verify(ref v)) if v.files.len() == 2));
        let err =
            Cli::try_parse_from(["static-image", "package", "x", "--port", "99999"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
