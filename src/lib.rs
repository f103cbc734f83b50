//! `static-image`: Rust projects and static binaries → reproducible `FROM scratch` OCI images.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! detect ──> plan ──> build ──> verify ──> image (assemble) ──> output (write)
//! Project    BuildPlan  PathBuf   StaticReport  Image           oci | oci-archive | docker-archive
//! ```
//!
//! Only `exec` (through `build` and `detect`) and `output` touch the outside world; `main` (here:
//! [`main`]) parses arguments, runs one command, renders the error and picks the exit code.

pub mod build;
pub mod cli;
pub mod detect;
pub mod error;
pub mod exec;
pub mod image;
pub mod output;
pub mod package;
pub mod plan;
pub mod platform;
pub mod report;
pub mod ui;
pub mod verify;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use cli::{BuildArgs, Cli, Command, PackageArgs, ProjectArgs, VerifyArgs};
use error::Error;
use package::PackageDefaults;
use platform::Platform;
use ui::Ui;

/// The entry point of both binaries (`static-image` and `cargo-static-image`).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(cargo_shim(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let ui = Ui::new(cli.verbose, cli.quiet, cli.color);
    match run(cli, &ui) {
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
pub fn run(cli: Cli, ui: &Ui) -> Result<u8, Error> {
    let json = cli.json;
    let mut stdout = io::stdout().lock();
    let printed = match cli.command {
        Some(Command::Verify(args)) => return verify(&args, json, ui, &mut stdout),
        Some(Command::Package(args)) => {
            let outcome = package(&args, ui)?;
            report::outcome(&mut stdout, &outcome, json)
        }
        Some(Command::Plan(args)) => {
            let (_, _, plan) = plan(&args, ui)?;
            report::plan(&mut stdout, &plan, json)
        }
        Some(Command::Build(args)) => {
            let outcome = build(&args, ui)?;
            report::outcome(&mut stdout, &outcome, json)
        }
        None => {
            let outcome = build(&cli.build, ui)?;
            report::outcome(&mut stdout, &outcome, json)
        }
    };
    finish(printed.and_then(|_| stdout.flush())).map(|_| 0)
}

/// A closed stdout (a pipe into `head`) is not an error; anything else writing results is.
fn finish(result: io::Result<()>) -> Result<(), Error> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Output(output::OutputError::Write {
            path: PathBuf::from("<stdout>"),
            source: e,
        })),
        Ok(()) => Ok(()),
    }
}

/// `verify`: 0 all static, 1 some not static or not for the platform, 2 some unreadable.
fn verify(args: &VerifyArgs, json: bool, ui: &Ui, out: &mut dyn Write) -> Result<u8, Error> {
    let results: Vec<_> = args
        .files
        .iter()
        .map(|f| {
            (
                f.display().to_string(),
                verify::verify_path(f, args.platform),
            )
        })
        .collect();
    finish(report::verify_all(out, &results, json, ui).and_then(|_| out.flush()))?;
    let unreadable = results.iter().any(|(_, r)| r.is_err());
    let failing = results.iter().any(|(_, r)| r.as_ref().is_ok_and(|r| !r.ok));
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
    let name = args
        .binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let defaults = PackageDefaults {
        name,
        output_dir: default_target_dir().join("static-image"),
        metadata: BTreeMap::new(),
    };
    package::package(&args.binary, args.platform, &args.image, &defaults, ui)
}

/// detect → plan, shared by `plan` and `build`.
fn plan(
    args: &ProjectArgs,
    ui: &Ui,
) -> Result<(detect::Project, detect::BinTarget, plan::BuildPlan), Error> {
    let path = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let project = detect::detect(&path, args.offline, ui)?;
    let bin = detect::select_bin(&project, args.bin.as_deref())?.clone();
    let host = Platform::host();
    let platform = args.platform.or(host).unwrap_or(Platform::Amd64);
    let options = plan::RustOptions {
        offline: args.offline,
        cargo_args: args.cargo_args.clone(),
    };
    let env = |key: &str| std::env::var(key).ok();
    let plan = plan::plan_rust(&project, &bin, platform, host, &env, &options);
    Ok((project, bin, plan))
}

fn build(args: &BuildArgs, ui: &Ui) -> Result<package::PackageOutcome, Error> {
    let (project, bin, plan) = plan(&args.project, ui)?;
    let name = args.image.name.clone().unwrap_or_else(|| bin.name.clone());
    // Bad flags should fail now, not after a long compile.
    package::check_args(&args.image, &name)?;
    package::source_date_epoch()?;
    plan::check_rust_target(&project.root, &plan.target, ui)?;
    let artifact = build::build(&plan, ui)?;
    let defaults = PackageDefaults {
        name: bin.name.clone(),
        output_dir: project.target_dir.join("static-image"),
        metadata: project_metadata(&bin.package),
    };
    package::package(&artifact, Some(plan.platform), &args.image, &defaults, ui)
}

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
        assert_eq!(cli.build.project.cargo_args, ["--features", "a"]);
        let cli = Cli::try_parse_from(["static-image", "verify", "--json", "a", "b"]).unwrap();
        assert!(cli.json);
        assert!(matches!(cli.command, Some(Command::Verify(ref v)) if v.files.len() == 2));
        let err =
            Cli::try_parse_from(["static-image", "package", "x", "--port", "99999"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
