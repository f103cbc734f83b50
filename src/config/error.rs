//! What can go wrong with a project's settings file, and what to do about it.

use std::path::PathBuf;

use super::Blamed;

/// A project file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It could not be read.
    #[error("cannot read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `init` could not write the settings.
    #[error("cannot write `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `init` would overwrite settings, or has nowhere to put them.
    #[error("`{}` {detail}", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
        /// What is in the way.
        detail: String,
    },
    /// It is not valid TOML, has an unknown key, or a value of the wrong kind.
    #[error("`{}`{where_}: {detail}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// ` [package.metadata.static-image]` for Cargo.toml, else empty.
        where_: String,
        /// What is wrong (with the key and line when known).
        detail: String,
    },
    /// The settings file is not one to read: too large, not a regular file, or a link out of
    /// the project.
    #[error("settings file `{}` {detail}", path.display())]
    SettingsFile {
        /// The file.
        path: PathBuf,
        /// What it is.
        detail: String,
    },
    /// A path the file names leads outside the project.
    #[error(
        "`{}`: `{key}`: `{}`{} is outside the project `{}`; a project's settings may only name \
         files inside it (give it on the command line to use it anyway)",
        path.display(),
        value.display(),
        resolved.as_ref().map(|r| format!(" (it leads to `{}`)", r.display())).unwrap_or_default(),
        root.display()
    )]
    Outside {
        /// The settings file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// The path, relative ones joined to the project.
        value: PathBuf,
        /// Where it leads once `..` and links are resolved, when that differs and is known.
        resolved: Option<PathBuf>,
        /// The project directory.
        root: PathBuf,
    },
    /// A path the file names does not exist or cannot be read.
    #[error("`{}`: `{key}`: `{}` cannot be read", path.display(), value.display())]
    Missing {
        /// The settings file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// The path, relative ones joined to the project.
        value: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An archive output would replace a file that is not an image archive this tool wrote.
    #[error(
        "`{}`: `{key}`: `{}` exists and is not an image archive written by static-image; a \
         project's settings may not replace it (remove it, or give the output on the command \
         line)",
        path.display(),
        value.display()
    )]
    NotOurArchive {
        /// The settings file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// The archive path.
        value: PathBuf,
    },
    /// A value the file gave failed when it was used.
    #[error(transparent)]
    Blamed(Box<Blamed>),
}

impl ConfigError {
    /// What the user can do about it, when there is something specific to say.
    pub fn help(&self) -> Option<String> {
        match self {
            ConfigError::Blamed(blamed) => Some(format!(
                "change `{}` in `{}`, or give `{}` on the command line",
                blamed.key,
                blamed.file.display(),
                blamed.flag()
            )),
            _ => None,
        }
    }

    /// Whether the settings themselves are wrong (exit 2, as a bad flag), rather than
    /// something they led to; a failure blamed on a key keeps its own kind.
    pub fn is_usage(&self) -> bool {
        match self {
            ConfigError::Blamed(blamed) => blamed.error.exit_code() == 2,
            ConfigError::Invalid { .. }
            | ConfigError::SettingsFile { .. }
            | ConfigError::Outside { .. }
            | ConfigError::Missing { .. }
            | ConfigError::NotOurArchive { .. } => true,
            _ => false,
        }
    }
}
