//! `package --closure`: the files a dynamic program needs in a scratch image, found as the
//! dynamic loader would find them, without running the program (no `ldd`).
//!
//! Input: the programs (host file, image path), the root to resolve in (the host's `/`, or
//! `--sysroot`), `--add-lib` paths and the image's `nsswitch.conf`. Output: a [`Closure`]:
//! every image path with a copied file or a link, the Debian packages owning the files, and
//! warnings for what was left out. [`resolve`] does the loader's search, [`ldcache`] reads
//! `/etc/ld.so.cache`, [`root`] keeps every path inside the root, [`dpkg`] names owners.
//!
//! glibc loads some libraries without a `DT_NEEDED`: the NSS modules `nsswitch.conf` names
//! (for programs that look up hosts or users) are added; the gconv modules `iconv_open` loads
//! are added for the character sets `--gconv` names ([`gconv`]), and a program that uses iconv
//! without them is warned of.

pub mod check;
pub mod dpkg;
pub mod elf;
pub mod gconv;
pub mod ldcache;
pub mod resolve;
pub mod root;
pub mod target;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::verify::VerifyError;
pub use dpkg::DebPackage;
use resolve::{Resolver, Target};
use root::{Root, file_name};

/// The image config label a closure image carries; `verify` then accepts its dynamic files
/// whose libraries are all inside the image.
pub const LABEL: &str = "dev.static-image.closure";

/// What `--closure` was asked with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClosureRequest {
    /// `--sysroot`: resolve in this root instead of the host's.
    pub sysroot: Option<PathBuf>,
    /// `--add-lib`: libraries loaded with dlopen, each with its own closure (paths of the root).
    pub add_libs: Vec<PathBuf>,
    /// `--gconv`: character sets whose gconv modules glibc's `iconv_open` loads.
    pub gconv: Vec<String>,
}

/// What goes at one image path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A copy of a host file, with its normalised mode.
    File {
        /// The file on the host.
        host: PathBuf,
        /// 0755 or 0644.
        mode: u32,
        /// Its path in the root, for its dpkg owner (none for files found beside a program).
        logical: Option<String>,
    },
    /// A symbolic link, with its target as written in the image.
    Link(String),
}

/// A program whose closure is wanted.
#[derive(Clone, Debug)]
pub struct Program<'a> {
    /// Its file.
    pub host: &'a Path,
    /// Where it goes in the image.
    pub image: String,
    /// A static glibc program that looks names up: glibc dlopens the NSS modules it needs
    /// beyond its built-in `files` and `dns`.
    pub static_nss: bool,
}

/// The resolved closure.
#[derive(Clone, Debug, Default)]
pub struct Closure {
    /// Every image path and what goes there, sorted.
    pub entries: BTreeMap<String, Entry>,
    /// The Debian packages owning the copied files.
    pub packages: Vec<DebPackage>,
    /// Image path → bytes of the files written for the image: the gconv configuration
    /// (`--gconv`) and those by which scanners see the packages ([`dpkg::scanner_files`]).
    pub files: BTreeMap<String, Vec<u8>>,
    /// What was left out, and how to add it.
    pub warnings: Vec<String>,
}

/// Why a closure cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ClosureError {
    /// A file could not be read.
    #[error("`{path}`: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not an ELF object that can be loaded.
    #[error(transparent)]
    Elf(#[from] VerifyError),
    /// Programs of one image for different machines.
    #[error("`{path}` is for another machine than the image's first program")]
    Machine {
        /// The program.
        path: PathBuf,
    },
    /// The program's interpreter is not in the root.
    #[error(
        "the program interpreter `{path}` of `{needed_by}` is not found (or not for its machine)"
    )]
    Interpreter {
        /// `PT_INTERP`.
        path: String,
        /// The program.
        needed_by: String,
    },
    /// Needed libraries are not found.
    #[error(
        "the library closure is incomplete: {}; install the packages providing them, resolve in \
         another root with `--sysroot DIR`, or add them with `--add-lib PATH`",
        describe_missing(.missing)
    )]
    NotFound {
        /// Each library: its name, the files needing it, candidates of another machine.
        missing: Vec<(String, Vec<String>, Vec<String>)>,
    },
    /// More objects than [`resolve::MAX_OBJECTS`].
    #[error("the library closure holds more than {limit} objects")]
    TooMany {
        /// The bound.
        limit: usize,
    },
    /// A link chain too long, a looping or escaping link, or a special file.
    #[error("`{path}`: a link chain that is too long, leaves the root, or ends in no regular file")]
    Links {
        /// The path in the root.
        path: String,
    },
    /// An `--add-lib` that cannot be added.
    #[error("--add-lib `{path}`: {why}")]
    AddLib {
        /// As given.
        path: PathBuf,
        /// Why.
        why: &'static str,
    },
    /// Character sets no gconv module of the root converts.
    #[error(
        "--gconv {}: no gconv module in `{dir}` converts {}; the names are those of `iconv \
         --list` (UTF-8, ASCII, UCS-2 and UCS-4 are built into glibc and need none)",
        .names.join(", "),
        if .names.len() == 1 { "it" } else { "them" }
    )]
    Gconv {
        /// The names.
        names: Vec<String>,
        /// The gconv folder looked in.
        dir: String,
    },
    /// A module the gconv configuration names for a `--gconv` set cannot be added.
    #[error(
        "--gconv: the gconv configuration names the module `{path}`, which is not found, or \
         not an ELF object for the program's machine"
    )]
    GconvModule {
        /// Its path in the root.
        path: String,
    },
    /// The `--sysroot` is not a directory.
    #[error("--sysroot `{path}` is not a directory")]
    Sysroot {
        /// As given.
        path: PathBuf,
    },
}

fn describe_missing(missing: &[(String, Vec<String>, Vec<String>)]) -> String {
    let each: Vec<String> = missing
        .iter()
        .map(|(name, by, skipped)| {
            let skipped = if skipped.is_empty() {
                String::new()
            } else {
                format!(
                    "; skipped for another machine: {}",
                    crate::ui::backticked(skipped)
                )
            };
            format!(
                "`{name}` (needed by {}{skipped})",
                crate::ui::backticked(by)
            )
        })
        .collect();
    each.join(", ")
}

/// Imports that make glibc resolve host names through NSS.
const HOST_LOOKUPS: [&str; 10] = [
    "getaddrinfo",
    "gethostbyname",
    "gethostbyname2",
    "gethostbyname_r",
    "gethostbyname2_r",
    "gethostbyaddr",
    "gethostbyaddr_r",
    "getnameinfo",
    "gethostent",
    "gethostent_r",
];

/// Imports that make glibc look up users and groups through NSS.
const USER_LOOKUPS: [&str; 11] = [
    "getpwnam",
    "getpwnam_r",
    "getpwuid",
    "getpwuid_r",
    "getgrnam",
    "getgrnam_r",
    "getgrgid",
    "getgrgid_r",
    "initgroups",
    "getgrouplist",
    "getpwent",
];

/// The services `nsswitch.conf` names for `databases`, in order, each once.
pub fn nss_services(conf: &str, databases: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in conf.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let Some((db, rest)) = line.split_once(':') else {
            continue;
        };
        if !databases.contains(&db.trim()) {
            continue;
        }
        for word in rest.split_whitespace() {
            // `[NOTFOUND=return]` actions are not services.
            if word.starts_with('[') || word.ends_with(']') || word.contains('=') {
                continue;
            }
            if !out.iter().any(|s| s == word) {
                out.push(word.to_string());
            }
        }
    }
    out
}

/// Resolves the closure of `programs` (static ones need nothing); `nsswitch` is the image's
/// `/etc/nsswitch.conf`.
pub fn resolve(
    programs: &[Program<'_>],
    request: &ClosureRequest,
    nsswitch: &str,
) -> Result<Closure, ClosureError> {
    let root = match &request.sysroot {
        Some(dir) if dir.is_dir() => Root::new(dir),
        Some(dir) => return Err(ClosureError::Sysroot { path: dir.clone() }),
        None => Root::new("/"),
    };
    let mut warnings = Vec::new();
    let cache = read_cache(&root, &mut warnings);
    let mut infos = Vec::new();
    let mut static_nss = None;
    for program in programs {
        let info = resolve::read_info(program.host)?;
        if info.is_dynamic() {
            infos.push((program, info));
        } else if program.static_nss {
            static_nss.get_or_insert(Target::of(&info));
        }
    }
    let target = match (infos.first(), static_nss) {
        (Some((_, first)), _) => Target::of(first),
        (None, Some(target)) => target,
        (None, None) => {
            warnings.push("--closure: no program is dynamic, so no library was added".into());
            return Ok(Closure {
                warnings,
                ..Closure::default()
            });
        }
    };
    let glibc = static_nss.is_some()
        || infos.iter().any(|(_, info)| {
            info.interpreter
                .as_deref()
                .is_some_and(|i| file_name(i).starts_with("ld-linux"))
                || info.needed.iter().any(|n| n == "libc.so.6")
        });
    let mut resolver = Resolver::new(&root, cache.as_ref(), target);
    let mut files = BTreeMap::new();
    for (program, info) in &infos {
        resolver.add_program(program.host, &program.image, info.clone())?;
    }
    for lib in &request.add_libs {
        let text = lib.to_string_lossy();
        if !text.starts_with('/') {
            return Err(ClosureError::AddLib {
                path: lib.clone(),
                why: "give an absolute path (in the `--sysroot` when there is one)",
            });
        }
        if !resolver.add_library(&text)? {
            return Err(ClosureError::AddLib {
                path: lib.clone(),
                why: "not found, or not an ELF object for the program's machine",
            });
        }
    }
    resolver.run()?;
    if glibc {
        let mut databases = Vec::new();
        // A static program's imports are not listed: it gets every database's modules.
        if static_nss.is_some() || HOST_LOOKUPS.iter().any(|s| resolver.imports.contains(*s)) {
            databases.push("hosts");
        }
        if static_nss.is_some() || USER_LOOKUPS.iter().any(|s| resolver.imports.contains(*s)) {
            databases.extend(["passwd", "group"]);
        }
        for service in nss_services(nsswitch, &databases) {
            // glibc 2.34 and later have `files` and `dns` built in (the modules are stubs a
            // dynamic program may still open; a static one never does).
            let builtin = matches!(service.as_str(), "files" | "dns");
            if builtin && infos.is_empty() {
                continue;
            }
            let name = format!("libnss_{service}.so.2");
            if !resolver.add_by_name(&name)? && !builtin {
                warnings.push(format!(
                    "nsswitch.conf names the `{service}` service for {}, but `{name}` was not \
                     found; lookups through it will fail (add it with `--add-lib PATH`)",
                    databases.join("/")
                ));
            }
        }
        let dir = match target.triple() {
            Some(triple) => format!("/usr/lib/{triple}/gconv"),
            None => "/usr/lib/gconv".to_string(),
        };
        if !request.gconv.is_empty() {
            let selected = gconv::select(&root, &dir, &request.gconv).map_err(|names| {
                ClosureError::Gconv {
                    names,
                    dir: dir.clone(),
                }
            })?;
            for module in &selected.modules {
                if !resolver.add_library(module)? {
                    return Err(ClosureError::GconvModule {
                        path: module.clone(),
                    });
                }
            }
            files.insert(format!("{dir}/gconv-modules"), selected.config.into_bytes());
        } else if resolver.imports.contains("iconv_open") {
            warnings.push(format!(
                "the program uses `iconv_open`: glibc converts only UTF-8, ASCII, UCS-2 and \
                 UCS-4 by itself and loads a module from `{dir}` for any other character set; \
                 none was copied. Name the sets it converts with `--gconv CHARSET` (e.g. \
                 `--gconv ISO-8859-15`)"
            ));
        }
        resolver.run()?;
    } else if !request.gconv.is_empty() {
        warnings.push("--gconv: no program uses glibc, so no gconv module was added".into());
    }
    let (entries, _) = resolver.finish()?;
    let dpkg = dpkg::Dpkg::read(&root);
    let packages: BTreeSet<DebPackage> = entries
        .values()
        .filter_map(|e| match e {
            Entry::File {
                logical: Some(path),
                ..
            } => dpkg.owner(path).cloned(),
            _ => None,
        })
        .collect();
    let packages: Vec<DebPackage> = packages.into_iter().collect();
    files.extend(dpkg::scanner_files(&root, &packages));
    Ok(Closure {
        entries,
        files,
        packages,
        warnings,
    })
}

/// The root's `/etc/ld.so.cache`, if it has a usable one; a damaged one is ignored with a
/// warning, as the loader ignores it.
fn read_cache(root: &Root, warnings: &mut Vec<String>) -> Option<ldcache::LdCache> {
    let path = root.host("/etc/ld.so.cache");
    let file = std::fs::File::open(&path).ok()?;
    let mut bytes = Vec::new();
    if let Err(e) = file
        .take(ldcache::MAX_CACHE_BYTES + 1)
        .read_to_end(&mut bytes)
    {
        warnings.push(format!(
            "`{}` cannot be read ({e}); it is ignored",
            path.display()
        ));
        return None;
    }
    match ldcache::parse(&bytes) {
        Ok(cache) => Some(cache),
        Err(e) => {
            warnings.push(format!("`{}` {e}; it is ignored", path.display()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nss_services_are_read_per_database() {
        let conf = "# c\npasswd: files systemd\nhosts: files [NOTFOUND=return] dns mdns4\n";
        assert_eq!(nss_services(conf, &["hosts"]), ["files", "dns", "mdns4"]);
        assert_eq!(
            nss_services(conf, &["passwd", "group"]),
            ["files", "systemd"]
        );
        assert!(nss_services(conf, &[]).is_empty());
    }
}
