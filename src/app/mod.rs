//! The app layer: the only module that knows every stage. It turns the command line and the
//! project's settings file into requests ([`settings`]) and runs one function per command:
//!
//! | command | function |
//! |---|---|
//! | `build` (and the bare form) | [`build::build`] |
//! | `plan` | [`plan::plan`] |
//! | `toolchains` | [`plan::toolchains`] |
//! | `package` | [`package::package`] |
//! | `verify` | [`verify::verify`] |
//! | `sbom` | [`verify::sbom`] |
//! | `init` | [`init::init`] |
//! | `keygen` | [`crate::sign::key::write_pair`] |
//!
//! Each returns its result; printing it (`report`) and the exit code are decided here.

pub mod build;
pub mod init;
pub mod package;
pub mod plan;
pub mod settings;
pub mod verify;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::ui::Ui;
use crate::{config, report, transport};

/// The entry point of both binaries (`static-image` and `cargo-static-image`).
pub fn main() -> ExitCode {
    let args = cargo_shim(std::env::args_os());
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
    let given = settings::given_on_command_line(matches);
    let printed = match cli.command {
        Some(Command::Verify(args)) => {
            return verify::verify(&args.into(), json, ui, &mut stdout);
        }
        Some(Command::Sbom(args)) => {
            let bytes = verify::sbom(&args.into(), ui)?;
            stdout.write_all(&bytes)
        }
        Some(Command::Package(args)) => {
            let outcome = package::package(&args.into(), ui)?;
            report::outcome(&mut stdout, &outcome, json)
        }
        Some(Command::Init(args)) => {
            let written = init::init(&args.into(), ui)?;
            ui.status("Wrote", written.display());
            writeln!(stdout, "{}", written.display())
        }
        Some(Command::Keygen(args)) => {
            let passphrase = crate::sign::key::passphrase_from_env();
            let key = crate::sign::PrivateKey::generate(args.algorithm)?;
            let (private, public) = crate::sign::key::write_pair(
                &key,
                &args.output,
                passphrase.as_deref().map(|p| p.as_str()),
            )?;
            ui.status(
                "Wrote",
                format_args!("{} and {}", private.display(), public.display()),
            );
            writeln!(stdout, "{}\n{}", private.display(), public.display())
        }
        Some(Command::Plan(args)) => {
            let (request, _) = settings::build_request(args.into(), &given)?;
            let plans = plan::plan(&request.project, ui)?;
            report::plans(&mut stdout, &plans, json)
        }
        Some(Command::Toolchains(args)) => {
            let (table, tools, toolchains) = plan::toolchains(args.toolchains.as_deref(), ui)?;
            report::toolchains(&mut stdout, &table, &tools, &toolchains, json)
        }
        Some(Command::Build(args)) => {
            let (request, origin) = settings::build_request(args.into(), &given)?;
            let outcome = build::build(&request, &origin, ui)
                .map_err(|e| config::trust::blame(e, &request, &origin))?;
            report::outcome(&mut stdout, &outcome, json)
        }
        None => {
            let (request, origin) = settings::build_request(cli.build.into(), &given)?;
            let outcome = build::build(&request, &origin, ui)
                .map_err(|e| config::trust::blame(e, &request, &origin))?;
            report::outcome(&mut stdout, &outcome, json)
        }
    };
    finish(printed.and_then(|_| stdout.flush())).map(|_| 0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{Platform, Platforms};
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
        assert_eq!(
            Platforms::builtin().resolve(&b.project.platform).unwrap(),
            [Platform::amd64(), Platform::arm64()]
        );
        let cli = Cli::try_parse_from(["static-image", "verify", "--json", "a", "b"]).unwrap();
        assert!(cli.json);
        assert!(matches!(cli.command, Some(Command::Verify(ref v)) if v.files.len() == 2));
        let err =
            Cli::try_parse_from(["static-image", "package", "x", "--port", "99999"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
