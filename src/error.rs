//! The top-level error: every stage's error, what to do about it (`help:`), and the exit code.
//!
//! Only `main` turns these into exit codes: 1 for failures, 2 for usage errors (clap's own
//! usage errors also exit 2). `verify` reports unreadable files itself, with its own codes.

use std::io;
use std::path::PathBuf;

use crate::build::BuildError;
use crate::config::ConfigError;
use crate::detect::DetectError;
use crate::exec::ExecError;
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
    /// The binary could not be read as ELF.
    #[error(transparent)]
    Verify(#[from] VerifyError),
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
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(ConfigError::Blamed(blamed)) => blamed.error.exit_code(),
            Error::Usage(_)
            | Error::Platform(_)
            | Error::Config(
                ConfigError::Invalid { .. }
                | ConfigError::SettingsFile { .. }
                | ConfigError::Outside { .. }
                | ConfigError::Missing { .. }
                | ConfigError::NotOurArchive { .. },
            )
            | Error::Output(OutputError::Usage(_) | OutputError::Overlap { .. })
            | Error::Sbom(crate::sbom::read::SbomError::SeveralPlatforms { .. }) => 2,
            _ => 1,
        }
    }

    /// What the user can do about it, when there is something specific to say.
    pub fn help(&self) -> Option<String> {
        match self {
            Error::Config(ConfigError::Blamed(blamed)) => Some(format!(
                "change `{}` in `{}`, or give `{}` on the command line",
                blamed.key,
                blamed.file.display(),
                blamed.flag()
            )),
            Error::Sbom(crate::sbom::read::SbomError::Missing { .. }) => Some(
                "static-image puts one in every image it makes, unless told `--no-sbom`; \
                 images made by other tools may carry theirs elsewhere or not at all"
                    .into(),
            ),
            Error::Detect(DetectError::NoProject { .. }) => Some(
                "point at a project directory, or package a binary built another way with \
                 `static-image package BIN`"
                    .into(),
            ),
            Error::Detect(DetectError::SeveralBins { .. })
            | Error::Plan(PlanError::Detect(DetectError::SeveralBins { .. })) => {
                Some("pick one with `--bin NAME`".into())
            }
            Error::Plan(PlanError::Detect(DetectError::SeveralMainPackages {
                packages, ..
            })) => Some(format!(
                "pick one with `--package`, e.g. `--package {}`",
                packages.first().map(String::as_str).unwrap_or("./cmd/NAME")
            )),
            Error::Build(BuildError::SeveralExecutables { found, .. }) => Some(format!(
                "pick one with `--artifact`, e.g. `--artifact {}`",
                found.first().map(String::as_str).unwrap_or("PATH")
            )),
            Error::Build(BuildError::Exec(ExecError::Failed { stderr_tail, .. }))
                if go_module_unreachable(stderr_tail) =>
            {
                Some(
                    "a Go module is missing and may not be downloaded here: vendor the \
                     dependencies (`go mod vendor`) on a connected machine and commit `vendor/`, \
                     or fill the module cache there (`go mod download`) and bring it along"
                        .into(),
                )
            }
            Error::Plan(e) => e.help(),
            Error::Detect(DetectError::Metadata {
                source: ExecError::Spawn { .. },
                ..
            }) => Some(
                "install Rust with rustup (https://rustup.rs) so `cargo` is on PATH, or set CARGO"
                    .into(),
            ),
            Error::Build(BuildError::Exec(ExecError::Spawn { .. })) => {
                Some("`static-image toolchains` shows which programs this machine has".into())
            }
            Error::NotStatic(report) => report.hint.clone(),
            Error::Ca(CaError::NoCertificate { .. } | CaError::BadPem { .. }) => {
                Some("give a PEM bundle of CERTIFICATE blocks or a single DER certificate".into())
            }
            Error::Output(OutputError::Write { source, .. })
                if source.kind() == io::ErrorKind::PermissionDenied
                    || source.raw_os_error() == Some(30) =>
            {
                Some("choose a writable location with `--output`".into())
            }
            Error::Output(OutputError::Write { source, .. })
                if source.raw_os_error() == Some(28) =>
            {
                Some(
                    "that filesystem is full: free space there or choose another place with \
                     `--output`; nothing was left half-written"
                        .into(),
                )
            }
            Error::Output(OutputError::Overlap { .. }) => Some(
                "give each output its own path, apart from the files the run reads (binaries, \
                 `--add` sources, CA files, `--base`)"
                    .into(),
            ),
            Error::Output(OutputError::NotOurs { .. }) => {
                Some("choose another path with `--output`, or remove what is there".into())
            }
            Error::Base(BaseError::NoPlatform { .. }) => Some(
                "build for a platform the base has (`--platform`), or pick a base that has it"
                    .into(),
            ),
            Error::Output(OutputError::Push { source, .. })
            | Error::Base(BaseError::Pull { source, .. }) => source.help(),
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

/// Whether a failed Go build's stderr says a module could not be fetched (`GOPROXY=off`, no
/// network, no proxy reachable).
fn go_module_unreachable(stderr_tail: &[String]) -> bool {
    stderr_tail.iter().any(|l| {
        l.contains("module lookup disabled by GOPROXY=off")
            || l.contains("cannot find module providing package")
            || (l.contains("proxy.golang.org") && l.contains("dial tcp"))
            || l.contains("missing go.sum entry")
    })
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
}
