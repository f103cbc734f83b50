//! The debug variant's shell: a static busybox per platform, from `--debug-shell FILE` or the
//! host (Debian's `busybox-static`), verified like any binary; its applet names, read from the
//! binary's own table (no program is run, so a busybox for another machine needs no
//! emulator); and what the SBOM says it is, from the host's package database or the banner
//! the binary carries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::platform::{Platform, Platforms};
use crate::sbom::{Component, Role};
use crate::verify::{StaticReport, verify_path};

/// The most bytes of a busybox read to find its applet table and banner (Debian's is 2 MB).
const MAX_SHELL_SIZE: u64 = 64 << 20;
/// How many applets a table may name (busybox has about 400 at most).
const MAX_APPLETS: usize = 2000;
/// Where the host's package database is (dpkg).
const DPKG_DIR: &str = "/var/lib/dpkg";

/// Why the debug variant's shell could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DebugShellError {
    /// No busybox for a platform: none given and none static for it on the host.
    #[error("no static busybox for {platform} to make the debug variant with")]
    Missing {
        /// The platform.
        platform: Platform,
        /// What the host has that does not fit, if anything.
        found: Vec<String>,
    },
    /// A `--debug-shell` file is not a static program for a platform of the table.
    #[error("`{path}` cannot be the debug variant's shell: {why}")]
    Unfit {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Two `--debug-shell` files are for one platform.
    #[error(
        "`{first}` and `{second}` are both for {platform}; give one `--debug-shell` per platform"
    )]
    Twice {
        /// The first file.
        first: PathBuf,
        /// The second.
        second: PathBuf,
        /// Their platform.
        platform: Platform,
    },
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl DebugShellError {
    /// What the user can do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            DebugShellError::Missing {
                platform, found, ..
            } => {
                let arch = deb_arch(*platform);
                let mut help = if Some(*platform) == Platforms::builtin().host() {
                    "install Debian's static busybox (`apt-get install busybox-static`), or \
                     give one with `--debug-shell FILE`"
                        .to_string()
                } else {
                    format!(
                        "unpack Debian's static busybox for {platform} and give it with \
                         `--debug-shell`: `dpkg --add-architecture {arch} && apt-get update && \
                         apt-get download busybox-static:{arch} && dpkg-deb -x \
                         busybox-static_*_{arch}.deb busybox-{arch}`, then `--debug-shell \
                         busybox-{arch}/bin/busybox`"
                    )
                };
                if !found.is_empty() {
                    help.push_str(&format!(" (found, unfit: {})", found.join("; ")));
                }
                Some(help)
            }
            DebugShellError::Unfit { .. } => Some(
                "give a statically linked busybox (Debian's `busybox-static`) with `--debug-shell`"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// One platform's busybox, verified.
#[derive(Clone, Debug)]
pub struct DebugShell {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its verify report (static, for its platform).
    pub report: StaticReport,
    /// Its applets, sorted, each a plain file name (`sh`, `ls`, `[`).
    pub applets: Vec<String>,
    /// What the SBOM says it is.
    pub component: Component,
}

/// A busybox for each of `platforms`: the `given` files by their machine, else the host's.
pub fn find(
    given: &[PathBuf],
    platforms: &[Platform],
    table: &Platforms,
) -> Result<BTreeMap<Platform, DebugShell>, DebugShellError> {
    let mut shells: BTreeMap<Platform, DebugShell> = BTreeMap::new();
    for path in given {
        let shell = open(path, table).map_err(|why| DebugShellError::Unfit {
            path: path.clone(),
            why,
        })?;
        let platform = platform_of(&shell, path)?;
        if let Some(first) = shells.get(&platform) {
            return Err(DebugShellError::Twice {
                first: first.path.clone(),
                second: path.clone(),
                platform,
            });
        }
        shells.insert(platform, shell);
    }
    for platform in platforms {
        if shells.contains_key(platform) {
            continue;
        }
        let mut found = Vec::new();
        let mut chosen = None;
        for candidate in host_candidates() {
            match open(&candidate, table) {
                Ok(shell) if shell.report.machine.platform == Some(*platform) => {
                    chosen = Some(shell);
                    break;
                }
                Ok(shell) => found.push(format!(
                    "`{}` is for {}",
                    candidate.display(),
                    shell.report.machine.name
                )),
                Err(why) => found.push(format!("`{}`: {why}", candidate.display())),
            }
        }
        match chosen {
            Some(shell) => {
                shells.insert(*platform, shell);
            }
            None => {
                return Err(DebugShellError::Missing {
                    platform: *platform,
                    found,
                });
            }
        }
    }
    // A given file for a platform the image lacks is not shipped.
    shells.retain(|p, _| platforms.contains(p));
    Ok(shells)
}

fn platform_of(shell: &DebugShell, path: &Path) -> Result<Platform, DebugShellError> {
    shell
        .report
        .machine
        .platform
        .ok_or_else(|| DebugShellError::Unfit {
            path: path.to_owned(),
            why: format!(
                "it is for {}, which no platform runs",
                shell.report.machine.name
            ),
        })
}

/// Where the host's busybox may be: on `PATH`, then Debian's place for `busybox-static`.
fn host_candidates() -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = which::which_all("busybox")
        .map(|found| found.collect())
        .unwrap_or_default();
    candidates.push(PathBuf::from("/bin/busybox"));
    let mut seen = Vec::new();
    candidates.retain(|c| {
        let real = std::fs::canonicalize(c).unwrap_or_else(|_| c.clone());
        let new = real.is_file() && !seen.contains(&real);
        seen.push(real);
        new
    });
    candidates
}

/// Verifies `path` as a static program and reads its applets and its package.
fn open(path: &Path, table: &Platforms) -> Result<DebugShell, String> {
    let report = verify_path(path, None, table).map_err(|e| e.to_string())?;
    if !report.ok {
        return Err(report.refusal());
    }
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_SHELL_SIZE {
        return Err(format!(
            "it is {} bytes, more than the {MAX_SHELL_SIZE} a busybox may be",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let applets = applets(&bytes)
        .ok_or("it holds no busybox applet table naming `sh` (is it busybox?)".to_string())?;
    let platform = report.machine.platform;
    let component = component(path, &bytes, platform);
    Ok(DebugShell {
        path: path.to_owned(),
        size: meta.len(),
        report,
        applets,
        component,
    })
}

/// The applet names busybox keeps as one run of NUL-terminated, sorted names starting with
/// `[` and `[[` (`applet_names` in its `applets.h`); `None` when there is no such run holding
/// `sh`.
pub fn applets(bytes: &[u8]) -> Option<Vec<String>> {
    let needle = b"[\0[[\0";
    let start = bytes.windows(needle.len()).position(|w| w == needle)?;
    let mut names = Vec::new();
    for name in bytes[start..].split(|b| *b == 0) {
        if name.is_empty() {
            break;
        }
        let fits = name.len() <= 64
            && name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"[]_.-".contains(b));
        if !fits || names.len() >= MAX_APPLETS {
            return None;
        }
        names.push(String::from_utf8_lossy(name).into_owned());
    }
    let sorted = names.windows(2).all(|w| w[0] < w[1]);
    (sorted && names.iter().any(|n| n == "sh")).then_some(names)
}

/// Debian's name for a platform's architecture.
fn deb_arch(platform: Platform) -> &'static str {
    match (platform.arch(), platform.variant()) {
        ("amd64", _) => "amd64",
        ("arm64", _) => "arm64",
        ("arm", Some("v7")) => "armhf",
        ("arm", _) => "armel",
        ("386", _) => "i386",
        ("ppc64le", _) => "ppc64el",
        ("s390x", _) => "s390x",
        ("riscv64", _) => "riscv64",
        _ => "unknown",
    }
}

/// What the SBOM says the busybox is: the host's package that installed the file, else the
/// Debian version its banner names, else a generic busybox of the banner's version.
fn component(path: &Path, bytes: &[u8], platform: Option<Platform>) -> Component {
    let arch = platform.map(deb_arch).unwrap_or("unknown");
    let deb = |name: &str, version: &str, comment: String| Component {
        purl: Some(format!(
            "{}?arch={arch}",
            crate::sbom::purl("deb", &format!("debian/{name}"), Some(version))
        )),
        comment: Some(comment),
        ..Component::new(Role::Library, name, Some(version.to_string()))
    };
    if let Some((name, version)) = dpkg_owner(path, Path::new(DPKG_DIR)) {
        return deb(
            &name,
            &version,
            format!(
                "the debug variant's shell `/busybox/busybox`, from `{}`, installed by the \
                 host's package `{name}`",
                path.display()
            ),
        );
    }
    let (upstream, debian) = banner(bytes);
    match (upstream, debian) {
        (_, Some(version)) => deb(
            "busybox-static",
            &version,
            "the debug variant's shell `/busybox/busybox`; the Debian version its banner names"
                .into(),
        ),
        (version, None) => Component {
            purl: Some(crate::sbom::purl("generic", "busybox", version.as_deref())),
            comment: Some("the debug variant's shell `/busybox/busybox`".into()),
            ..Component::new(Role::Library, "busybox", version)
        },
    }
}

/// The banner's upstream version and Debian version: `BusyBox v1.35.0 (Debian 1:1.35.0-4)`.
fn banner(bytes: &[u8]) -> (Option<String>, Option<String>) {
    let needle = b"BusyBox v";
    let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) else {
        return (None, None);
    };
    let rest = &bytes[at + needle.len()..];
    let end = rest
        .iter()
        .position(|b| *b == 0 || *b == b'\n')
        .unwrap_or(rest.len())
        .min(200);
    let text = String::from_utf8_lossy(&rest[..end]).into_owned();
    let word_ok = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+-~:".contains(c))
    };
    let upstream = text
        .split_whitespace()
        .next()
        .filter(|w| word_ok(w))
        .map(str::to_string);
    let debian = text
        .split_once("(Debian ")
        .and_then(|(_, r)| r.split(')').next())
        .filter(|w| word_ok(w))
        .map(str::to_string);
    (upstream, debian)
}

/// The dpkg package (name, version) whose file list holds `path`, by its real path.
fn dpkg_owner(path: &Path, dpkg: &Path) -> Option<(String, String)> {
    let real = std::fs::canonicalize(path).ok()?;
    let info = dpkg.join("info");
    for entry in std::fs::read_dir(&info).ok()?.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(package) = file.strip_suffix(".list") else {
            continue;
        };
        if !package.starts_with("busybox") {
            continue;
        }
        let list = std::fs::read_to_string(entry.path()).ok()?;
        let owns = list
            .lines()
            .filter(|l| l.ends_with("/busybox"))
            .any(|l| std::fs::canonicalize(l).is_ok_and(|r| r == real));
        if owns {
            let name = package.split(':').next().unwrap_or(package);
            let status = std::fs::read_to_string(dpkg.join("status")).ok()?;
            return installed_version(&status, name).map(|v| (name.to_string(), v));
        }
    }
    None
}

/// The version of `name` the dpkg status file says is installed.
fn installed_version(status: &str, name: &str) -> Option<String> {
    status.split("\n\n").find_map(|stanza| {
        let field = |key: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(key).map(str::trim))
        };
        (field("Package:") == Some(name)
            && field("Status:").is_some_and(|s| s.ends_with("installed")))
        .then(|| field("Version:").map(str::to_string))
        .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applets_are_read_from_the_name_table() {
        let bytes = b"junk\0[\0[[\0ash\0ls\0sh\0\0more";
        assert_eq!(
            applets(bytes).unwrap(),
            ["[", "[[", "ash", "ls", "sh"].map(String::from)
        );
        // Unsorted, a name with a slash, or no `sh`: not a table.
        assert!(applets(b"[\0[[\0sh\0ash\0\0").is_none());
        assert!(applets(b"[\0[[\0../x\0sh\0\0").is_none());
        assert!(applets(b"[\0[[\0ls\0\0").is_none());
        assert!(applets(b"no table").is_none());
    }

    #[test]
    fn banners_give_upstream_and_debian_versions() {
        let bytes = b"x\0BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call\0";
        assert_eq!(
            banner(bytes),
            (Some("1.35.0".into()), Some("1:1.35.0-4+deb12u1+b1".into()))
        );
        assert_eq!(
            banner(b"BusyBox v1.36.1 (2024)\0"),
            (Some("1.36.1".into()), None)
        );
        assert_eq!(banner(b"nothing"), (None, None));
    }

    #[test]
    fn the_status_file_gives_the_installed_version() {
        let status = "Package: busybox\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                      Package: busybox-static\nStatus: install ok installed\nArchitecture: \
                      amd64\nVersion: 1:1.35.0-4\n\n";
        assert_eq!(
            installed_version(status, "busybox-static").as_deref(),
            Some("1:1.35.0-4")
        );
        assert_eq!(installed_version(status, "busybox"), None);
    }
}
