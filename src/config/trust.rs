//! What a project's own settings may name.
//!
//! A project's settings file comes with the repository, so whoever wrote the repository chose
//! its values. The paths it names (`add` sources, `ca-bundle`, `extra-ca`, a local `base`, and
//! archive and layout `outputs`) must stay inside the project directory once `..` and symbolic
//! links are resolved, and an archive output may replace only an archive this tool wrote. The
//! same values given on the command line or in the environment are the user's and are not
//! checked here.
//!
//! [`Origin`] remembers which keys came from the file, so a value that fails later is blamed
//! on the file and the key ([`blame`]), not on a flag the user never typed.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::ConfigError;
use crate::error::Error;
use crate::fsguard::OpenFailure;
use crate::image::ca::CaError;
use crate::image::spec::AddError;
use crate::request::BuildRequest;
use crate::transport::{ImageRef, OutputError};

/// The largest settings file read (a real one is a few hundred bytes).
pub const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// Where a build's settings came from: the project's settings file and the keys it set. Keys
/// not listed came from the command line, the environment or the defaults.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The settings file, when the project has one.
    pub file: Option<PathBuf>,
    /// The project directory, with symbolic links resolved.
    pub root: PathBuf,
    /// The keys the file set, spelt as in the file (`add`, `ca-bundle`, `outputs`).
    pub keys: BTreeSet<&'static str>,
}

impl Origin {
    /// The settings file, if `key` came from it.
    pub fn file_of(&self, key: &str) -> Option<&Path> {
        self.file.as_deref().filter(|_| self.keys.contains(key))
    }
}

/// Reads a settings file: a regular file of at most [`MAX_SETTINGS_BYTES`], inside `root`
/// once symbolic links are resolved (the file itself is part of the clone).
pub fn read_settings(path: &Path, root: &Path) -> Result<String, ConfigError> {
    let refuse = |detail: String| ConfigError::SettingsFile {
        path: path.to_owned(),
        detail,
    };
    let read_error = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let real = path.canonicalize().map_err(read_error)?;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    if !real.starts_with(&root) {
        return Err(refuse(format!(
            "is a symbolic link to `{}`, outside the project `{}`",
            real.display(),
            root.display()
        )));
    }
    let file = match crate::fsguard::open_regular(&real, true) {
        Ok((file, _)) => file,
        Err(OpenFailure::Kind(kind)) => {
            return Err(refuse(format!("is {kind}, not a regular file")));
        }
        Err(OpenFailure::Io(e)) => return Err(read_error(e)),
    };
    let mut text = String::new();
    file.take(MAX_SETTINGS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_SETTINGS_BYTES {
        return Err(refuse(format!(
            "is larger than {} KiB; a settings file is a few lines",
            MAX_SETTINGS_BYTES / 1024
        )));
    }
    Ok(text)
}

/// Checks the values `args` took from the settings file `origin.file`: every path they name
/// must be inside the project, and an archive output may only replace an archive of ours.
pub fn check(args: &BuildRequest, origin: &Origin) -> Result<(), ConfigError> {
    let Some(file) = &origin.file else {
        return Ok(());
    };
    let checker = Checker {
        file,
        root: &origin.root,
    };
    let image = &args.image;
    if origin.keys.contains("add") {
        for add in &image.add {
            checker.existing("add", &add.source)?;
        }
    }
    if origin.keys.contains("ca-bundle")
        && let Some(bundle) = &image.ca_bundle
        && bundle.as_os_str() != "builtin"
    {
        checker.existing("ca-bundle", bundle)?;
    }
    if origin.keys.contains("extra-ca") {
        for extra in &image.extra_ca {
            checker.existing("extra-ca", extra)?;
        }
    }
    // A cloned project must not sign with a key of the host's choosing outside it (nor read
    // one: the key's bytes are secret).
    if origin.keys.contains("sign-key")
        && let Some(key) = &image.sign_key
    {
        checker.existing("sign-key", key)?;
    }
    // A cloned project must not put a host file of its choosing outside it into an image.
    if origin.keys.contains("debug-shell") {
        for shell in &image.debug_shell {
            checker.existing("debug-shell", shell)?;
        }
    }
    if origin.keys.contains("base")
        && let Some(base) = &image.base
    {
        let spec: ImageRef = base
            .parse()
            .map_err(|e: crate::transport::RefError| checker.invalid("base", e.to_string()))?;
        match &spec {
            ImageRef::Oci { dir: path, .. }
            | ImageRef::OciArchive { file: path, .. }
            | ImageRef::DockerArchive { file: path, .. } => {
                checker.existing("base", path)?;
            }
            ImageRef::Registry(_) => {}
        }
    }
    if origin.keys.contains("outputs") {
        for output in &image.output {
            match output {
                ImageRef::Oci { dir, .. } => checker.inside("outputs", dir)?,
                ImageRef::OciArchive { file, .. } | ImageRef::DockerArchive { file, .. } => {
                    checker.inside("outputs", file)?;
                    checker.replaceable("outputs", file)?;
                    // The debug variant's archive beside it is replaced too.
                    if image.debug_variant
                        && let ImageRef::OciArchive { file, .. }
                        | ImageRef::DockerArchive { file, .. } = output.debug_variant()
                    {
                        checker.replaceable("outputs", &file)?;
                    }
                }
                ImageRef::Registry(_) => {}
            }
        }
    }
    Ok(())
}

/// Judges paths named by one settings file.
struct Checker<'a> {
    file: &'a Path,
    root: &'a Path,
}

impl Checker<'_> {
    fn invalid(&self, key: &str, detail: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.file.to_owned(),
            where_: String::new(),
            detail: format!("`{key}`: {detail}"),
        }
    }

    fn outside(&self, key: &'static str, value: &Path, resolved: Option<PathBuf>) -> ConfigError {
        ConfigError::Outside {
            path: self.file.to_owned(),
            key,
            value: value.to_owned(),
            resolved,
            root: self.root.to_owned(),
        }
    }

    /// `value` exists and lies inside the project.
    fn existing(&self, key: &'static str, value: &Path) -> Result<(), ConfigError> {
        match value.canonicalize() {
            Ok(real) if real.starts_with(self.root) => Ok(()),
            Ok(real) => Err(self.outside(key, value, Some(real).filter(|r| r != value))),
            Err(source) => match fs::symlink_metadata(value) {
                // A link that leads nowhere: where it leads is outside the project or absent.
                Ok(meta) if meta.file_type().is_symlink() => Err(self.outside(key, value, None)),
                _ => Err(ConfigError::Missing {
                    path: self.file.to_owned(),
                    key,
                    value: value.to_owned(),
                    source,
                }),
            },
        }
    }

    /// `value`, which need not exist yet, would be created inside the project.
    fn inside(&self, key: &'static str, value: &Path) -> Result<(), ConfigError> {
        match resolve(value) {
            Some(real) if real.starts_with(self.root) => Ok(()),
            real => Err(self.outside(key, value, real.filter(|r| r != value))),
        }
    }

    /// An archive output may replace nothing, or an archive this tool wrote.
    fn replaceable(&self, key: &'static str, value: &Path) -> Result<(), ConfigError> {
        let ours = match fs::symlink_metadata(value) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Ok(meta) if meta.is_file() => written_by_us(value),
            _ => false,
        };
        if ours {
            Ok(())
        } else {
            Err(ConfigError::NotOurArchive {
                path: self.file.to_owned(),
                key,
                value: value.to_owned(),
            })
        }
    }
}

/// `path` with `..` and symbolic links resolved as far as it exists, the rest (not created yet)
/// appended; `None` when that cannot be told: a link that leads nowhere, or `..` past the part
/// that exists.
fn resolve(path: &Path) -> Option<PathBuf> {
    let mut existing = path;
    let mut missing = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(mut real) => {
                real.extend(missing.iter().rev());
                return Some(real);
            }
            // Something is there that does not resolve (a dangling link, a loop, no access).
            Err(_) if fs::symlink_metadata(existing).is_ok() => return None,
            Err(_) => {
                // `file_name` is `None` for a path ending in `..`.
                missing.push(existing.file_name()?.to_owned());
                existing = existing.parent()?;
            }
        }
    }
}

/// The bytes read at most to judge an existing archive: two tar headers and the small
/// `oci-layout` file between them.
const ARCHIVE_PROBE_BYTES: u64 = 16 * 1024;

/// Whether `path` begins as the archives this tool writes do: `oci-layout`, then `index.json`
/// (see `output::archive`). Reads at most [`ARCHIVE_PROBE_BYTES`].
fn written_by_us(path: &Path) -> bool {
    // Judged on the open file: nothing can be swapped in after the caller's look.
    let Ok((file, _)) = crate::fsguard::open_regular(path, false) else {
        return false;
    };
    let mut archive = tar::Archive::new(file.take(ARCHIVE_PROBE_BYTES));
    let Ok(entries) = archive.entries() else {
        return false;
    };
    let names: Vec<Option<PathBuf>> = entries
        .take(2)
        .map(|entry| {
            entry
                .ok()
                .and_then(|e| e.path().ok().map(|p| p.into_owned()))
        })
        .collect();
    names == [Some("oci-layout".into()), Some("index.json".into())]
}

/// `error` blamed on the settings file and key its failing value came from, if it came from
/// one; else `error` unchanged.
pub fn blame(error: Error, args: &BuildRequest, origin: &Origin) -> Error {
    let key =
        match &error {
            Error::Add(_) => "add",
            Error::Ca(
                CaError::Read { path, .. }
                | CaError::BadPem { path, .. }
                | CaError::NoCertificate { path, .. },
            ) => {
                if args.image.ca_bundle.as_deref() == Some(path.as_path()) {
                    "ca-bundle"
                } else {
                    "extra-ca"
                }
            }
            Error::Base(_) => "base",
            Error::Key(_) => "sign-key",
            Error::Platform(_) => "platforms",
            Error::Output(
                OutputError::Write { path, .. }
                | OutputError::NotOurs { path, .. }
                | OutputError::OnePlatform { path }
                | OutputError::BadLayout { path, .. },
            ) if args.image.output.iter().any(|o| {
                local_path(o).is_some_and(|p| p.starts_with(path) || path.starts_with(p))
            }) =>
            {
                "outputs"
            }
            _ => return error,
        };
    let Some(file) = origin.file_of(key) else {
        return error;
    };
    // The flag's name is in some messages; the user gave no flag.
    let message = match &error {
        Error::Add(AddError::Read { path, .. }) => format!("`{}` cannot be read", path.display()),
        Error::Add(AddError::Special { path, what }) => format!(
            "`{}` is {what}; only regular files and directories can be added",
            path.display()
        ),
        Error::Add(AddError::NotUtf8 { path }) => {
            format!("`{}` has a name that is not UTF-8", path.display())
        }
        other => other.to_string(),
    };
    Error::Config(ConfigError::Blamed(Box::new(Blamed {
        file: file.to_owned(),
        key,
        message,
        error: Box::new(error),
    })))
}

/// The file or directory an output writes, if it writes one here.
fn local_path(output: &ImageRef) -> Option<&Path> {
    match output {
        ImageRef::Oci { dir: path, .. }
        | ImageRef::OciArchive { file: path, .. }
        | ImageRef::DockerArchive { file: path, .. } => Some(path),
        ImageRef::Registry(_) => None,
    }
}

/// A later failure of a value the settings file gave.
#[derive(Debug)]
pub struct Blamed {
    /// The settings file.
    pub file: PathBuf,
    /// The key whose value failed.
    pub key: &'static str,
    /// What failed, worded without flags.
    pub message: String,
    /// The failure.
    pub error: Box<Error>,
}

impl Blamed {
    /// The flag that would give the value from the command line instead.
    pub fn flag(&self) -> &'static str {
        match self.key {
            "outputs" => "--output",
            "add" => "--add",
            "ca-bundle" => "--ca-bundle",
            "extra-ca" => "--extra-ca",
            "sign-key" => "--sign-key",
            "platforms" => "--platform",
            _ => "--base",
        }
    }
}

impl std::fmt::Display for Blamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}`: `{}`: {}",
            self.file.display(),
            self.key,
            self.message
        )
    }
}

impl std::error::Error for Blamed {
    // The failure's own causes: its message is already ours.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(root: &Path, keys: &[&'static str]) -> Origin {
        Origin {
            file: Some(root.join("static-image.toml")),
            root: root.to_owned(),
            keys: keys.iter().copied().collect(),
        }
    }

    #[test]
    fn later_failures_are_blamed_on_the_key_that_gave_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let mut args = BuildRequest::default();
        let archive = root.join("img.tar");
        args.image.output = vec![ImageRef::OciArchive {
            file: archive.clone(),
            reference: None,
        }];
        args.image.ca_bundle = Some(root.join("ca.pem"));
        let not_ours = || {
            Error::Output(OutputError::NotOurs {
                path: archive.clone(),
                expected: "a file (it is a directory)",
            })
        };
        let settings = root.join("static-image.toml");

        let blamed = blame(not_ours(), &args, &origin(&root, &["outputs"]));
        assert_eq!(
            blamed.to_string(),
            format!(
                "`{}`: `outputs`: `{}` exists and is not a file (it is a directory)",
                settings.display(),
                archive.display()
            )
        );
        assert_eq!(blamed.exit_code(), 1);
        assert_eq!(
            blamed.help().as_deref(),
            Some(
                format!(
                    "change `outputs` in `{}`, or give `--output` on the command line",
                    settings.display()
                )
                .as_str()
            )
        );
        // From the command line: left as it was.
        let kept = blame(not_ours(), &args, &origin(&root, &["ports"]));
        assert!(matches!(kept, Error::Output(OutputError::NotOurs { .. })));

        let bad_pem = Error::Ca(CaError::BadPem {
            path: root.join("ca.pem"),
            detail: "no END line".into(),
        });
        let blamed = blame(bad_pem, &args, &origin(&root, &["ca-bundle"]));
        assert!(
            blamed
                .to_string()
                .starts_with(&format!("`{}`: `ca-bundle`: CA file", settings.display())),
            "{blamed}"
        );

        let add = Error::Add(AddError::NotUtf8 {
            path: root.join("x"),
        });
        let blamed = blame(add, &args, &origin(&root, &["add"]));
        assert_eq!(
            blamed.to_string(),
            format!(
                "`{}`: `add`: `{}` has a name that is not UTF-8",
                settings.display(),
                root.join("x").display()
            )
        );
    }

    #[test]
    fn paths_resolve_through_links_and_dotdot_as_far_as_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir(root.join("a")).unwrap();
        std::os::unix::fs::symlink("/", root.join("up")).unwrap();
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling")).unwrap();
        assert_eq!(
            resolve(&root.join("a/new/x.tar")),
            Some(root.join("a/new/x.tar"))
        );
        assert_eq!(
            resolve(&root.join("a/../../x")),
            root.parent().map(|p| p.join("x"))
        );
        assert_eq!(
            resolve(&root.join("up/etc/new")),
            Some(PathBuf::from("/etc/new"))
        );
        assert_eq!(resolve(&root.join("new/../../x")), None);
        assert_eq!(resolve(&root.join("dangling")), None);
    }
}
