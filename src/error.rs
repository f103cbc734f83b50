//! The top-level error: every stage's error, what to do about it (`help:`), and the exit code.
//!
//! Only `main` turns these into exit codes: 1 for failures, 2 for usage errors (clap's own
//! usage errors also exit 2). `verify` reports unreadable files itself, with its own codes.

use std::io;
use std::path::PathBuf;

use crate::build::BuildError;
use crate::config::ConfigError;
use crate::detect::DetectError;
use crate::image::ImageError;
use crate::image::ca::CaError;
use crate::image::spec::AddError;
use crate::plan::PlanError;
use crate::toolchain::ToolchainError;
use crate::transport::BaseError;
use crate::transport::OutputError;
use crate::ui::Ui;
use crate::verify::{StaticReport, VerifyError};

/// Anything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Finding the project failed.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// The toolchain data could not be loaded.
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    /// Planning the build failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The build failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A C library a crate needs could not be provided for the target.
    #[error(transparent)]
    Provide(#[from] crate::provide::ProvideError),
    /// The binary could not be read as ELF.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A dynamic program's library closure cannot be resolved.
    #[error(transparent)]
    Closure(#[from] crate::closure::ClosureError),
    /// The binary is dynamic or for another platform.
    #[error("refusing to package: {}", .0.refusal())]
    NotStatic(Box<StaticReport>),
    /// The assembled image would not start: its entrypoint does not resolve to a static binary
    /// in the stacked layers (a base layer may shadow it).
    #[error("refusing to write the image for {platform}: {problem}")]
    EntrypointUnfit {
        /// The image's platform.
        platform: crate::platform::Platform,
        /// What is wrong with its entrypoint.
        problem: String,
    },
    /// The assembled image could not be read back for verification.
    #[error(transparent)]
    ImageVerify(#[from] crate::verify::image::ImageVerifyError),
    /// The binary's machine maps to no supported platform.
    #[error(
        "`{path}` is built for {machine}, which no supported platform runs (supported: {supported})"
    )]
    NoPlatform {
        /// The binary.
        path: PathBuf,
        /// Its machine.
        machine: String,
        /// The platforms the table has (built-in and `--toolchains`), comma-separated.
        supported: String,
    },
    /// The debug variant's shell could not be had.
    #[error(transparent)]
    DebugShell(#[from] crate::package::debug::DebugShellError),
    /// The CA bundle could not be made.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// An `--add` could not be honoured.
    #[error(transparent)]
    Add(#[from] AddError),
    /// The image could not be assembled.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The project's settings file could not be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The base image (`--base`) could not be read.
    #[error(transparent)]
    Base(#[from] BaseError),
    /// `sbom`: the image's SBOM could not be read.
    #[error(transparent)]
    Sbom(#[from] crate::sbom::read::SbomError),
    /// An output could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A verify policy cannot be used.
    #[error(transparent)]
    Policy(#[from] crate::verify::policy::PolicyError),
    /// A signing key could not be read or written.
    #[error(transparent)]
    Key(#[from] crate::sign::KeyError),
    /// A platform name that the run's table does not have.
    #[error(transparent)]
    Platform(#[from] crate::platform::UnknownPlatform),
    /// Arguments that parse but do not fit together.
    #[error("{0}")]
    Usage(String),
    /// The staging area for blobs could not be created.
    #[error("cannot create a staging directory for the image")]
    Staging(#[source] io::Error),
    /// `--check-reproducible`: the second build gave another image.
    #[error(
        "not reproducible: a second build of the same project at another path gave `{second}`, \
         the first `{first}`{}",
        .differences.iter().map(|d| format!("\n  - {d}")).collect::<String>()
    )]
    NotReproducible {
        /// The first image's digest.
        first: String,
        /// The second's.
        second: String,
        /// Where both images and the copy are kept for inspection.
        kept: PathBuf,
        /// What differs.
        differences: Vec<String>,
    },
    /// `SOURCE_DATE_EPOCH` is set to something that is not a timestamp.
    #[error("SOURCE_DATE_EPOCH is `{0}`, not a whole number of seconds from 1970 to 9999")]
    SourceDateEpoch(String),
}

impl Error {
    /// The process exit code for this error: 2 when the command line or the settings ask for
    /// something that cannot be done as asked, else 1.
    pub fn exit_code(&self) -> u8 {
        let usage = match self {
            Error::Usage(_) | Error::Platform(_) | Error::Policy(_) => true,
            Error::Config(e) => e.is_usage(),
            Error::Output(e) => e.is_usage(),
            Error::Sbom(e) => e.is_usage(),
            _ => false,
        };
        if usage { 2 } else { 1 }
    }

    /// What the user can do about it: each stage's error knows its own help; this only adds
    /// the help of the errors that are the top level's own.
    pub fn help(&self) -> Option<String> {
        match self {
            Error::Detect(e) => e.help(),
            Error::Plan(e) => e.help(),
            Error::Build(e) => e.help(),
            Error::Provide(e) => e.help(),
            Error::Config(e) => e.help(),
            Error::Sbom(e) => e.help(),
            Error::Ca(e) => e.help(),
            Error::DebugShell(e) => e.help(),
            Error::Output(e) => e.help(),
            Error::Base(e) => e.help(),
            Error::Key(e) => e.help(),
            Error::NotStatic(report) => report.hint.clone(),
            Error::NotReproducible { kept, .. } => Some(format!(
                "both images (oci layouts `first` and `second`) and the copy are kept in `{}`; \
                 paths, times and user names that reach the binary are the usual causes",
                kept.display()
            )),
            Error::SourceDateEpoch(_) => {
                Some("unset it, or set it to e.g. `$(git log -1 --format=%ct)`".into())
            }
            _ => None,
        }
    }

    /// Prints the error, its causes and its help on stderr.
    pub fn report(&self, ui: &Ui) {
        ui.error(&self.to_string(), &causes(self), self.help().as_deref());
    }
}

/// The messages of an error's causes, outermost first.
fn causes(error: &dyn std::error::Error) -> Vec<String> {
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    causes
}

/// An error and its causes on one line, `: `-joined, for a warning.
pub fn chain(error: &dyn std::error::Error) -> String {
    std::iter::once(error.to_string())
        .chain(causes(error))
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_and_help_are_rendered_from_the_chain() {
        let err = Error::Output(OutputError::Write {
            path: "/ro/out".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        });
        assert_eq!(err.to_string(), "cannot write `/ro/out`");
        let cause = std::error::Error::source(&err).map(|c| c.to_string());
        assert_eq!(cause.as_deref(), Some("permission denied"));
        assert_eq!(
            err.help().as_deref(),
            Some("choose a writable location with `--output`")
        );
        assert_eq!(err.exit_code(), 1);
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
    }

    #[test]
    fn the_top_level_composes_each_stages_own_help() {
        let several = || DetectError::SeveralBins {
            manifest: "Cargo.toml".into(),
            names: vec!["a".into(), "b".into()],
        };
        let direct = Error::Detect(several());
        let through_plan = Error::Plan(PlanError::Detect(several()));
        assert_eq!(direct.help().as_deref(), Some("pick one with `--bin NAME`"));
        assert_eq!(through_plan.help(), direct.help());

        let failed = |line: &str| {
            Error::Build(BuildError::Exec(crate::exec::ExecError::Failed {
                description: "go build".into(),
                command: "go build".into(),
                status: "exited with status 1".into(),
                stderr_tail: vec![line.to_string()].into_boxed_slice(),
                shown: false,
                noted: Box::default(),
            }))
        };
        let offline = failed("main.go:3:8: module lookup disabled by GOPROXY=off");
        assert!(
            offline
                .help()
                .is_some_and(|h| h.starts_with("a Go module is missing")),
            "{:?}",
            offline.help()
        );
        assert!(
            failed("main.go:3:8: syntax error")
                .help()
                .is_some_and(|h| !h.contains("Go module")),
        );
    }
}
