//! The project's own settings: `[package.metadata.static-image]` in a Rust package's
//! `Cargo.toml`, `static-image.toml` at the root of a Go or C project.
//!
//! The keys are the long flags of `build` (plural for lists, tables for `env` and `labels`), so
//! nothing new has to be learnt; values go through the same parsers as the flags. A flag given on
//! the command line replaces the file's value for that key, lists included. Unknown keys are
//! errors naming the key and the file. Relative paths in the file are relative to the project,
//! not to where the tool is run.
//!
//! The file comes with the project, so a stranger may have written it: the paths it names must
//! stay inside the project (see [`trust`]).

mod error;
pub mod trust;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::request::BuildRequest;
pub use error::ConfigError;
pub use trust::{Blamed, Origin};

/// The file name for Go and C projects.
pub const FILE_NAME: &str = "static-image.toml";

/// A setting that takes one value or a list (`bin = "server"` or `bin = ["server", "migrate"]`):
/// a file written when it took one keeps working.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        }
    }
}

/// The settings a project file may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    platforms: Option<Vec<String>>,
    outputs: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    name: Option<String>,
    entrypoint_path: Option<String>,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    ports: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
    user: Option<String>,
    workdir: Option<String>,
    add: Option<Vec<String>>,
    ca_bundle: Option<String>,
    extra_ca: Option<Vec<String>>,
    sign_key: Option<String>,
    compression: Option<String>,
    compression_level: Option<i32>,
    no_cache: Option<bool>,
    base: Option<String>,
    insecure: Option<Vec<String>>,
    sbom_packages: Option<Vec<String>>,
    no_sbom: Option<bool>,
    sbom_format: Option<String>,
    closure: Option<bool>,
    sysroot: Option<String>,
    add_libs: Option<Vec<String>>,
    gconv: Option<Vec<String>>,
    debug_variant: Option<bool>,
    debug_shell: Option<OneOrMany>,
    offline: Option<bool>,
    bin: Option<OneOrMany>,
    package: Option<OneOrMany>,
    cgo: Option<bool>,
    artifact: Option<OneOrMany>,
    make_target: Option<String>,
    build_args: Option<Vec<String>>,
}

/// Writes a commented starter config for `project` (named `name`): a section appended to a
/// Cargo.toml, or a new static-image.toml; returns the file written.
pub fn init(
    manifest: Option<&Path>,
    root: &Path,
    name: &str,
    force: bool,
) -> Result<PathBuf, ConfigError> {
    const TEMPLATE: &str = include_str!("../../templates/init/config.toml");
    let fill = |table: &str| TEMPLATE.replace("{table}", table).replace("{name}", name);
    let (path, text) = match manifest {
        Some(cargo) => {
            let old = fs::read_to_string(cargo).map_err(|source| ConfigError::Read {
                path: cargo.to_owned(),
                source,
            })?;
            let document: toml::Table = toml::from_str(&old).map_err(|e| ConfigError::Invalid {
                path: cargo.to_owned(),
                where_: String::new(),
                detail: one_line(&e.to_string()),
            })?;
            let package = document.get("package").ok_or_else(|| ConfigError::Exists {
                path: cargo.to_owned(),
                detail: "has no [package] (a workspace manifest); run init in a member package"
                    .into(),
            })?;
            if package
                .get("metadata")
                .and_then(|m| m.get("static-image"))
                .is_some()
            {
                return Err(ConfigError::Exists {
                    path: cargo.to_owned(),
                    detail: "already has [package.metadata.static-image]".into(),
                });
            }
            let separator = if old.ends_with('\n') { "\n" } else { "\n\n" };
            (
                cargo.to_owned(),
                format!(
                    "{old}{separator}{}",
                    fill("[package.metadata.static-image]")
                ),
            )
        }
        None => {
            let path = root.join(FILE_NAME);
            if path.exists() && !force {
                return Err(ConfigError::Exists {
                    path,
                    detail: "already exists (`--force` replaces it)".into(),
                });
            }
            (path, fill("# static-image.toml"))
        }
    };
    write_atomic(&path, text.as_bytes()).map_err(|source| ConfigError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Replaces `path` with `bytes` by rename, keeping its permissions, so a failure leaves the old
/// file whole.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut staged = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut staged, bytes)?;
    let mode = fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| {
            use std::os::unix::fs::PermissionsExt;
            fs::Permissions::from_mode(0o644)
        });
    staged.as_file().set_permissions(mode)?;
    staged.as_file().sync_all()?;
    staged.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Where a project's settings live, if it has any.
pub fn locate(project: &Path) -> Option<PathBuf> {
    let dir = if project.is_dir() {
        project.to_owned()
    } else {
        project.parent().map(Path::to_owned).unwrap_or_default()
    };
    let cargo = if project.is_file() && project.file_name().is_some_and(|n| n != "go.mod") {
        project.to_owned()
    } else {
        dir.join("Cargo.toml")
    };
    if cargo.is_file() {
        return Some(cargo);
    }
    // Anything by that name is the project's settings, so a FIFO or a dangling link there is
    // refused when read rather than silently skipped.
    let file = dir.join(FILE_NAME);
    fs::symlink_metadata(&file).is_ok().then_some(file)
}

/// Reads the settings in `path` (a Cargo.toml's metadata table, or a static-image.toml) of
/// the project at `root`.
pub fn load(path: &Path, root: &Path) -> Result<FileConfig, ConfigError> {
    let text = trust::read_settings(path, root)?;
    parse(path, &text)
}

/// Parses `text`, the content of the settings file `path`.
pub fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    let invalid = |where_: &str, detail: String| ConfigError::Invalid {
        path: path.to_owned(),
        where_: where_.to_string(),
        detail,
    };
    if path.file_name().is_some_and(|n| n == FILE_NAME) {
        return toml::from_str(text).map_err(|e| invalid("", one_line(&e.to_string())));
    }
    let document: toml::Table =
        toml::from_str(text).map_err(|e| invalid("", one_line(&e.to_string())))?;
    let table = document
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("static-image"));
    match table {
        None => Ok(FileConfig::default()),
        Some(value) => value.clone().try_into().map_err(|e: toml::de::Error| {
            invalid(" [package.metadata.static-image]", one_line(&e.to_string()))
        }),
    }
}

/// toml's messages quote the source over several lines; the report wants one.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect();
    lines.join("; ")
}

/// Whether the user gave a flag on the command line (by its clap id).
pub type Given<'a> = &'a dyn Fn(&str) -> bool;

impl FileConfig {
    /// Fills what the command line left unset in `args`, paths made relative to `root` (the
    /// project directory, links resolved); returns which keys the file `path` set. Paths the
    /// file names must stay inside `root` ([`trust::check`]).
    pub fn apply(
        self,
        args: &mut BuildRequest,
        root: &Path,
        given: Given<'_>,
        path: &Path,
    ) -> Result<Origin, ConfigError> {
        let bad = |key: &str, detail: String| ConfigError::Invalid {
            path: path.to_owned(),
            where_: String::new(),
            detail: format!("`{key}`: {detail}"),
        };
        fn parse_all<T: std::str::FromStr>(
            key: &str,
            values: Vec<String>,
            bad: &dyn Fn(&str, String) -> ConfigError,
        ) -> Result<Vec<T>, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            values
                .into_iter()
                .map(|v| v.parse().map_err(|e: T::Err| bad(key, e.to_string())))
                .collect()
        }
        let rooted = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_owned()
            } else {
                root.join(p)
            }
        };
        let mut keys = BTreeSet::new();
        let image = &mut args.image;
        let project = &mut args.project;
        if let (Some(v), false) = (self.platforms, given("platform")) {
            keys.insert("platforms");
            project.platforms = parse_all("platforms", v, &bad)?;
        }
        if let (Some(v), false) = (self.outputs, given("output")) {
            keys.insert("outputs");
            let v = v.into_iter().map(|o| root_spec(&o, root)).collect();
            image.output = parse_all("outputs", v, &bad)?;
        }
        if let (Some(v), false) = (self.tags, given("tag")) {
            keys.insert("tags");
            image.tag = v;
        }
        if let (Some(v), false) = (self.name, given("name")) {
            keys.insert("name");
            image.name = Some(v);
        }
        if let (Some(v), false) = (self.entrypoint_path, given("entrypoint_path")) {
            keys.insert("entrypoint-path");
            image.entrypoint_path = Some(v.parse().map_err(|e| bad("entrypoint-path", e))?);
        }
        if let (Some(v), false) = (self.args, given("args")) {
            keys.insert("args");
            image.args = v;
        }
        if let (Some(v), false) = (self.env, given("env")) {
            keys.insert("env");
            let v = v.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            image.env = parse_all("env", v, &bad)?;
        }
        if let (Some(v), false) = (self.ports, given("port")) {
            keys.insert("ports");
            image.port = parse_all("ports", v, &bad)?;
        }
        if let (Some(v), false) = (self.labels, given("label")) {
            keys.insert("labels");
            let v = v.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            image.label = parse_all("labels", v, &bad)?;
        }
        if let (Some(v), false) = (self.user, given("user")) {
            keys.insert("user");
            image.user = Some(v.parse().map_err(|e| bad("user", e))?);
        }
        if let (Some(v), false) = (self.workdir, given("workdir")) {
            keys.insert("workdir");
            image.workdir = Some(v.parse().map_err(|e| bad("workdir", e))?);
        }
        if let (Some(v), false) = (self.add, given("add")) {
            keys.insert("add");
            let v = v
                .into_iter()
                .map(|a| match a.split_once(':') {
                    Some((src, dest)) => format!("{}:{dest}", rooted(src).display()),
                    None => a,
                })
                .collect();
            image.add = parse_all("add", v, &bad)?;
        }
        if let (Some(v), false) = (self.ca_bundle, given("ca_bundle")) {
            keys.insert("ca-bundle");
            image.ca_bundle = Some(if v == "builtin" { v.into() } else { rooted(&v) });
        }
        if let (Some(v), false) = (self.extra_ca, given("extra_ca")) {
            keys.insert("extra-ca");
            image.extra_ca = v.iter().map(|p| rooted(p)).collect();
        }
        if let (Some(v), false) = (self.sign_key, given("sign_key")) {
            keys.insert("sign-key");
            image.sign_key = Some(rooted(&v));
        }
        if let (Some(v), false) = (self.compression, given("compression")) {
            keys.insert("compression");
            image.compression = v.parse().map_err(|e| bad("compression", e))?;
        }
        if let (Some(v), false) = (self.compression_level, given("compression_level")) {
            keys.insert("compression-level");
            image.compression_level = Some(v);
        }
        if let (Some(v), false) = (self.no_cache, given("no_cache")) {
            keys.insert("no-cache");
            image.no_cache = v;
        }
        if let (Some(v), false) = (self.base, given("base")) {
            keys.insert("base");
            image.base = Some(root_spec(&v, root));
        }
        if let (Some(v), false) = (self.insecure, given("insecure")) {
            keys.insert("insecure");
            image.registry.insecure = v;
        }
        if let (Some(v), false) = (self.sbom_packages, given("sbom_package")) {
            keys.insert("sbom-packages");
            image.sbom_package = parse_all("sbom-packages", v, &bad)?;
        }
        if let (Some(v), false) = (self.no_sbom, given("no_sbom")) {
            keys.insert("no-sbom");
            image.no_sbom = v;
        }
        if let (Some(v), false) = (self.sbom_format, given("sbom_format")) {
            keys.insert("sbom-format");
            image.sbom_format = v.parse().map_err(|e| bad("sbom-format", e))?;
        }
        if let (Some(v), false) = (self.closure, given("closure")) {
            keys.insert("closure");
            image.closure = v;
        }
        if let (Some(v), false) = (self.sysroot, given("sysroot")) {
            keys.insert("sysroot");
            image.sysroot = Some(rooted(&v));
        }
        if let (Some(v), false) = (self.add_libs, given("add_lib")) {
            keys.insert("add-libs");
            // Paths inside the root the libraries are found in, not the project's.
            image.add_lib = v.into_iter().map(PathBuf::from).collect();
        }
        if let (Some(v), false) = (self.gconv, given("gconv")) {
            keys.insert("gconv");
            image.gconv = v;
        }
        if let (Some(v), false) = (self.debug_variant, given("debug_variant")) {
            keys.insert("debug-variant");
            image.debug_variant = v;
        }
        if let (Some(v), false) = (self.debug_shell, given("debug_shell")) {
            keys.insert("debug-shell");
            image.debug_shell = v.into_vec().iter().map(|p| rooted(p)).collect();
        }
        if let (Some(v), false) = (self.offline, given("offline")) {
            keys.insert("offline");
            project.offline = v;
        }
        if let (Some(v), false) = (self.bin, given("bin")) {
            keys.insert("bin");
            project.bin = v.into_vec();
        }
        if let (Some(v), false) = (self.package, given("package")) {
            keys.insert("package");
            project.package = v.into_vec();
        }
        if let (Some(v), false) = (self.cgo, given("cgo")) {
            keys.insert("cgo");
            project.cgo = v;
        }
        if let (Some(v), false) = (self.artifact, given("artifact")) {
            keys.insert("artifact");
            project.artifact = v.into_vec().into_iter().map(PathBuf::from).collect();
        }
        if let (Some(v), false) = (self.make_target, given("make_target")) {
            keys.insert("make-target");
            project.make_target = Some(v);
        }
        if let (Some(v), false) = (self.build_args, given("build_args")) {
            keys.insert("build-args");
            project.build_args = v;
        }
        let origin = Origin {
            file: Some(path.to_owned()),
            root: root.to_owned(),
            keys,
        };
        trust::check(args, &origin)?;
        Ok(origin)
    }
}

/// An image spec (`oci:DIR…`, `oci-archive:FILE…`, `docker-archive:FILE…`) whose relative path
/// is made relative to `root`; other transports pass through.
fn root_spec(spec: &str, root: &Path) -> String {
    for transport in ["oci-archive:", "docker-archive:", "oci:"] {
        if let Some(rest) = spec.strip_prefix(transport)
            && !rest.starts_with('/')
            && !rest.is_empty()
        {
            return format!("{transport}{}/{rest}", root.display());
        }
    }
    spec.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_failed_write_in_init_is_a_write_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file goes: the rename over it fails.
        fs::create_dir(dir.path().join(FILE_NAME)).unwrap();
        let err = init(None, dir.path(), "app", true).unwrap_err();
        assert!(matches!(err, ConfigError::Write { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("cannot write `{}`", dir.path().join(FILE_NAME).display())
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), FILE_NAME, "ports = [\"8080\"]\nportz = 1\n");
        let err = load(&path, dir.path()).unwrap_err().to_string();
        assert!(err.contains("unknown field `portz`"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("line 2"), "{err}");

        let path = write(
            dir.path(),
            "Cargo.toml",
            "[package]\nname = \"x\"\n[package.metadata.static-image]\nlabelz = {}\n",
        );
        let err = load(&path, dir.path()).unwrap_err().to_string();
        assert!(err.contains("[package.metadata.static-image]"), "{err}");
        assert!(err.contains("unknown field `labelz`"), "{err}");

        let path = write(dir.path(), FILE_NAME, "ports = [\"http\"]\n");
        let mut args = BuildRequest::default();
        let err = load(&path, dir.path())
            .unwrap()
            .apply(&mut args, dir.path(), &|_| false, &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`ports`"), "{err}");
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../README.md");
        let block = readme
            .split("```toml\n")
            .filter_map(|rest| rest.split("```").next())
            .find(|b| b.contains("[package.metadata.static-image]"))
            .expect("README shows a config example");
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "Cargo.toml",
            &format!("[package]\nname = \"x\"\n{block}"),
        );
        let mut args = BuildRequest::default();
        load(&path, dir.path())
            .unwrap()
            .apply(&mut args, dir.path(), &|_| false, &path)
            .unwrap();
        assert_eq!(args.project.platforms.len(), 2);
        assert_eq!(args.image.port.len(), 1);
    }

    #[test]
    fn flags_on_the_command_line_win_and_paths_are_the_projects() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            FILE_NAME,
            "ports = [\"8080\"]\noutputs = [\"oci-archive:img.tar\"]\nextra-ca = [\"corp.pem\"]\n\
             [env]\nMODE = \"prod\"\n",
        );
        write(dir.path(), "corp.pem", "");
        // `--port 9090` on the command line.
        let mut args = BuildRequest::default();
        args.image.port = vec!["9090".parse().unwrap()];
        load(&path, dir.path())
            .unwrap()
            .apply(&mut args, dir.path(), &|id| id == "port", &path)
            .unwrap();
        assert_eq!(args.image.port.len(), 1);
        assert_eq!(args.image.port[0].to_string(), "9090/tcp");
        assert_eq!(
            args.image.output[0].to_string(),
            format!("oci-archive:{}/img.tar", dir.path().display())
        );
        assert_eq!(args.image.extra_ca, [dir.path().join("corp.pem")]);
        assert_eq!(args.image.env[0].key, "MODE");
    }

    #[test]
    fn closure_keys_need_the_closure_and_keep_library_paths_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            FILE_NAME,
            "closure = true\nsysroot = \"rootfs\"\nadd-libs = [\"/usr/lib/plugin.so\"]\n\
             gconv = [\"ISO-8859-15\"]\n",
        );
        let mut args = BuildRequest::default();
        load(&path, dir.path())
            .unwrap()
            .apply(&mut args, dir.path(), &|_| false, &path)
            .unwrap();
        let request = args.image.closure_request().unwrap().unwrap();
        // The sysroot is the project's; the libraries are paths inside it.
        assert_eq!(request.sysroot, Some(dir.path().join("rootfs")));
        assert_eq!(request.add_libs, [PathBuf::from("/usr/lib/plugin.so")]);
        assert_eq!(request.gconv, ["ISO-8859-15"]);
        args.image.closure = false;
        assert!(args.image.closure_request().is_err());
    }

    #[test]
    fn programs_are_one_string_or_a_list() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = BuildRequest::default();
        let path = write(dir.path(), FILE_NAME, "package = \"./cmd/api\"\n");
        load(&path, dir.path())
            .unwrap()
            .apply(&mut args, dir.path(), &|_| false, &path)
            .unwrap();
        assert_eq!(args.project.package, ["./cmd/api"]);
        let path = write(
            dir.path(),
            FILE_NAME,
            "package = [\"./cmd/api\", \"./cmd/worker\"]\nartifact = [\"a\", \"b\"]\n",
        );
        let mut args = BuildRequest::default();
        load(&path, dir.path())
            .unwrap()
            .apply(&mut args, dir.path(), &|_| false, &path)
            .unwrap();
        assert_eq!(args.project.package, ["./cmd/api", "./cmd/worker"]);
        assert_eq!(
            args.project.artifact,
            [PathBuf::from("a"), PathBuf::from("b")]
        );
        // The command line's list replaces the file's whole.
        let mut args = BuildRequest::default();
        args.project.package = vec!["./cmd/worker".into()];
        load(&path, dir.path())
            .unwrap()
            .apply(&mut args, dir.path(), &|id| id == "package", &path)
            .unwrap();
        assert_eq!(args.project.package, ["./cmd/worker"]);
    }
}
