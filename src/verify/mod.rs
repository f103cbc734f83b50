//! Stage `verify`: ELF bytes + expected platform → [`StaticReport`].
//!
//! A binary belongs in a scratch image only if the kernel can run it with nothing else there:
//! no `PT_INTERP` (dynamic loader) and no `DT_NEEDED` (shared libraries). That is the whole
//! test. `ET_DYN` and a `PT_DYNAMIC` segment do not make a binary dynamic: musl and static-pie
//! binaries have both. When a platform is expected, the ELF machine, class and byte order must
//! match it too. Hazards are things that pass the test but break at run time in scratch (static
//! glibc resolving names through NSS modules it dlopens, cgo); they warn, they do not fail.
//!
//! Files are memory-mapped, so verifying a 200 MB binary reads only the headers and tables.

pub mod auditable;
pub mod elf_read;
pub mod entrypoint;
mod facts;
pub mod glibc;
pub mod go;
mod hazards;
pub mod image;
pub mod policy;
pub mod signed;
pub mod stack;

use std::fs::File;
use std::path::{Path, PathBuf};

use goblin::elf::{Elf, header};
use serde::{Deserialize, Serialize};

use crate::platform::{Platform, Platforms};
use crate::ui::backticked;
use facts::{compilers, describe_machine, describe_non_elf, go_build_info, hint_for, section};
pub use go::GoBuildInfo;

/// How a binary is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Linkage {
    /// `ET_EXEC` with no interpreter and no needed libraries.
    Static,
    /// `ET_DYN` that relocates itself: no interpreter, no needed libraries.
    StaticPie,
    /// Needs a dynamic loader or shared libraries.
    Dynamic,
}

impl Libc {
    /// The name the report prints (and JSON uses).
    pub fn as_str(self) -> &'static str {
        match self {
            Libc::Glibc => "glibc",
            Libc::Musl => "musl",
        }
    }
}

impl Linkage {
    /// The word the report prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Linkage::Static => "static",
            Linkage::StaticPie => "static-pie",
            Linkage::Dynamic => "dynamic",
        }
    }
}

/// The C library a binary was linked against, as far as its contents tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    /// GNU libc.
    Glibc,
    /// musl.
    Musl,
}

/// The ELF machine and layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Human name (`x86-64`, `aarch64`).
    pub name: String,
    /// `e_machine`.
    pub elf_machine: u16,
    /// 32 or 64.
    pub bits: u8,
    /// Byte order.
    pub little_endian: bool,
    /// The supported platform this machine runs on, if any.
    pub platform: Option<Platform>,
}

/// Something that passes the static test but is known to break in a scratch image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hazard {
    /// A stable identifier (`static-glibc-nss`, `static-glibc-dlopen`, `go-cgo`).
    pub code: std::borrow::Cow<'static, str>,
    /// What is wrong and what to do about it.
    pub message: String,
}

/// A reason the binary cannot run from a scratch image on the expected platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Problem {
    /// `PT_INTERP` names a dynamic loader.
    Interpreter {
        /// The loader path.
        path: String,
    },
    /// `DT_NEEDED` names shared libraries.
    Needed {
        /// The library names, in file order.
        libraries: Vec<String>,
    },
    /// Built for another machine than the expected platform runs.
    WrongPlatform {
        /// The platform asked for.
        expected: Platform,
        /// What the binary is (`aarch64, 64-bit`).
        found: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Interpreter { path } => {
                write!(f, "interpreter `{}`", crate::ui::printable(path))
            }
            Problem::Needed { libraries } => write!(f, "needs {}", backticked(libraries)),
            Problem::WrongPlatform { expected, found } => write!(
                f,
                "built for {found}, not for {expected} ({})",
                expected.cpu()
            ),
        }
    }
}

/// Everything `verify` found out about one binary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StaticReport {
    /// The file, as given.
    pub path: PathBuf,
    /// Static, static-pie or dynamic.
    pub linkage: Linkage,
    /// `PT_INTERP`, if any.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` entries.
    pub needed: Vec<String>,
    /// Machine and layout.
    pub machine: Machine,
    /// The platform checked against (`--platform`), if one was.
    pub expected_platform: Option<Platform>,
    /// The C library, when the contents tell.
    pub libc: Option<Libc>,
    /// For glibc, the release it was built against (or a lower bound), when the contents tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glibc: Option<glibc::GlibcVersion>,
    /// Go build info, for Go binaries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go: Option<GoBuildInfo>,
    /// The crates cargo-auditable recorded in `.dep-v0` (runtime ones, the binary's own first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crates: Option<Vec<auditable::AuditedCrate>>,
    /// The compilers and linkers the `.comment` section names (`rustc version 1.95.0 (…)`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compilers: Vec<String>,
    /// Known run-time breakages in scratch (warnings).
    pub hazards: Vec<Hazard>,
    /// Why it cannot go into a scratch image; empty when it can.
    pub problems: Vec<Problem>,
    /// A likely cause and fix, for the known traps that produce a dynamic binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// True when `problems` is empty.
    pub ok: bool,
}

impl StaticReport {
    /// One line: "`app` is not static: interpreter `…`; needs `…`".
    pub fn refusal(&self) -> String {
        format!("`{}` {}", self.path.display(), self.verdict())
    }

    /// The refusal without the path: "is not static: interpreter `…`".
    pub fn verdict(&self) -> String {
        let what = if self.linkage == Linkage::Dynamic {
            "is not static"
        } else {
            "does not fit"
        };
        let reasons: Vec<String> = self.problems.iter().map(|p| p.to_string()).collect();
        format!("{what}: {}", reasons.join("; "))
    }
}

/// Why a file could not be verified at all (as opposed to being verified and found dynamic).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Nothing is at the path.
    #[error("`{path}`: no such file")]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// Opening or mapping the file failed.
    #[error("`{path}`: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A directory was given.
    #[error("`{path}`: is a directory, not a binary")]
    IsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// A device, socket or FIFO was given.
    #[error("`{path}`: is not a regular file")]
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    /// The file has no bytes.
    #[error("`{path}`: is empty, not a binary")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is something other than ELF.
    #[error("`{path}`: is {what}, not an ELF binary")]
    NotElf {
        /// The file.
        path: PathBuf,
        /// What it looks like instead ("a script (`#!/bin/sh`)").
        what: String,
    },
    /// The file starts like ELF but its structures do not hold together.
    #[error("`{path}`: is a truncated or malformed ELF file: {detail}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// goblin's account.
        detail: String,
    },
    /// A valid ELF file that is not a program (object file, core dump, shared library).
    #[error("`{path}`: is {what}, not an executable")]
    NotExecutable {
        /// The file.
        path: PathBuf,
        /// What kind of ELF file it is.
        what: &'static str,
    },
}

/// Verifies the file at `path`, against `expected` when given; `platforms` names the
/// platform of the file's machine.
pub fn verify_path(
    path: &Path,
    expected: Option<Platform>,
    platforms: &Platforms,
) -> Result<StaticReport, VerifyError> {
    let read_error = |source| VerifyError::Read {
        path: path.to_owned(),
        source,
    };
    // Check the kind before opening: opening a FIFO would block.
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => VerifyError::NotFound {
            path: path.to_owned(),
        },
        _ => read_error(e),
    })?;
    if meta.is_dir() {
        return Err(VerifyError::IsDirectory {
            path: path.to_owned(),
        });
    }
    if !meta.is_file() {
        return Err(VerifyError::NotRegular {
            path: path.to_owned(),
        });
    }
    if meta.len() == 0 {
        return Err(VerifyError::Empty {
            path: path.to_owned(),
        });
    }
    let file = File::open(path).map_err(read_error)?;
    // SAFETY: the map is read-only and private. If another process truncates the file while we
    // read it, the access faults (SIGBUS) instead of returning stale bytes; build outputs are
    // not rewritten while the tool that asked for them is running, and reading whole files of
    // hundreds of MB instead would defeat streaming.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(read_error)?;
    verify_bytes(path, &map, expected, platforms)
}

/// Verifies bytes already in memory; `path` names them in the report and in errors.
pub fn verify_bytes(
    path: &Path,
    bytes: &[u8],
    expected: Option<Platform>,
    platforms: &Platforms,
) -> Result<StaticReport, VerifyError> {
    if bytes.is_empty() {
        return Err(VerifyError::Empty {
            path: path.to_owned(),
        });
    }
    if !bytes.starts_with(b"\x7fELF") {
        return Err(VerifyError::NotElf {
            path: path.to_owned(),
            what: describe_non_elf(bytes),
        });
    }
    elf_read::check_table_sizes(path, bytes)?;
    let elf = Elf::parse(bytes).map_err(|e| VerifyError::Malformed {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    let not_executable = |what| VerifyError::NotExecutable {
        path: path.to_owned(),
        what,
    };
    match elf.header.e_type {
        header::ET_EXEC | header::ET_DYN => {}
        header::ET_REL => return Err(not_executable("an object file (ET_REL)")),
        header::ET_CORE => return Err(not_executable("a core dump (ET_CORE)")),
        _ => return Err(not_executable("an ELF file of unknown type")),
    }

    // goblin's `interpreter` and `libraries` drop what they cannot read; a verdict may not.
    let elf_read::Loading {
        interpreter,
        needed,
    } = elf_read::loading(path, &elf, bytes)?;
    let pie_flag = elf
        .dynamic
        .as_ref()
        .is_some_and(|d| d.info.flags_1 & goblin::elf::dynamic::DF_1_PIE != 0);
    let linkage = if interpreter.is_some() || !needed.is_empty() {
        Linkage::Dynamic
    } else if elf.header.e_type == header::ET_DYN {
        // A shared library also has no interpreter; a library names itself and is not a PIE.
        if elf.soname.is_some() && !pie_flag {
            return Err(not_executable("a shared library"));
        }
        Linkage::StaticPie
    } else {
        Linkage::Static
    };

    let machine = describe_machine(&elf, platforms);
    let go = go_build_info(&elf, bytes);
    // A Go program without cgo uses no C library, whatever loader a PIE build asks for.
    let libc = match &go {
        Some(info) if !info.uses_cgo() => None,
        _ => hazards::detect_libc(&elf, bytes, &interpreter, &needed),
    };

    let mut problems = Vec::new();
    if let Some(path) = &interpreter {
        problems.push(Problem::Interpreter { path: path.clone() });
    }
    if !needed.is_empty() {
        problems.push(Problem::Needed {
            libraries: needed.clone(),
        });
    }
    if let Some(expected) = expected {
        let fits = machine.elf_machine == expected.elf_machine()
            && machine.bits == expected.bits()
            && machine.little_endian == expected.little_endian();
        if !fits {
            problems.push(Problem::WrongPlatform {
                expected,
                found: format!("{}, {}-bit", machine.name, machine.bits),
            });
        }
    }

    let hint = hint_for(linkage, &interpreter, &needed, go.is_some());
    let hazards = if linkage == Linkage::Dynamic {
        Vec::new()
    } else {
        hazards::find_hazards(&elf, bytes, libc, go.as_ref())
    };
    // A dynamic binary takes the glibc it finds at run time; only a static one has a release.
    let glibc = (libc == Some(Libc::Glibc) && linkage != Linkage::Dynamic)
        .then(|| glibc::version(&elf, bytes))
        .flatten();
    Ok(StaticReport {
        path: path.to_owned(),
        linkage,
        interpreter,
        needed,
        machine,
        expected_platform: expected,
        libc,
        glibc,
        go,
        crates: section(&elf, bytes, ".dep-v0").and_then(auditable::parse),
        compilers: compilers(&elf, bytes),
        hazards,
        ok: problems.is_empty(),
        problems,
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_elf(bytes: &[u8]) -> String {
        verify_bytes(Path::new("f"), bytes, None, &Platforms::builtin())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn names_what_non_elf_files_are() {
        assert_eq!(
            not_elf(b"#!/bin/sh\necho hi\n"),
            "`f`: is a script (`#!/bin/sh`), not an ELF binary"
        );
        assert_eq!(
            not_elf(b"MZ\x90\0"),
            "`f`: is a Windows (PE) executable, not an ELF binary"
        );
        assert_eq!(
            not_elf(b"\xcf\xfa\xed\xfe\x07\0\0\x01"),
            "`f`: is a Mach-O (macOS) binary, not an ELF binary"
        );
        assert_eq!(
            not_elf(b"hello world\n"),
            "`f`: is a text file, not an ELF binary"
        );
        assert_eq!(
            not_elf(b"\x7fEL"),
            "`f`: is a truncated file (fewer than 4 bytes of ELF magic), not an ELF binary"
        );
        assert_eq!(not_elf(b""), "`f`: is empty, not a binary");
        assert!(not_elf(b"\x00\x01\x02\x03\xff").contains("first bytes 00 01 02 03"));
    }

    #[test]
    fn truncated_elf_is_malformed_not_a_panic() {
        // A valid 64-bit header claiming program headers beyond the end of the file.
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2; // ELFCLASS64
        bytes[5] = 1; // little endian
        bytes[6] = 1; // EV_CURRENT
        bytes[16] = 2; // ET_EXEC
        bytes[18] = 62; // EM_X86_64
        bytes[20] = 1;
        bytes[32] = 64; // e_phoff
        bytes[52] = 64; // e_ehsize
        bytes[54] = 56; // e_phentsize
        bytes[56] = 9; // e_phnum
        let err = verify_bytes(Path::new("t"), &bytes, None, &Platforms::builtin()).unwrap_err();
        assert!(matches!(err, VerifyError::Malformed { .. }), "{err}");
        for len in [5, 20, 40, 63] {
            assert!(
                verify_bytes(Path::new("t"), &bytes[..len], None, &Platforms::builtin()).is_err()
            );
        }
    }

    #[test]
    fn refusal_lists_every_offender() {
        let report = StaticReport {
            path: "app".into(),
            linkage: Linkage::Dynamic,
            interpreter: Some("/lib/ld-musl-x86_64.so.1".into()),
            needed: vec!["libc.so".into()],
            machine: Machine {
                name: "x86-64".into(),
                elf_machine: header::EM_X86_64,
                bits: 64,
                little_endian: true,
                platform: Some(Platform::amd64()),
            },
            expected_platform: None,
            libc: Some(Libc::Musl),
            glibc: None,
            go: None,
            crates: None,
            compilers: vec![],
            hazards: vec![],
            problems: vec![
                Problem::Interpreter {
                    path: "/lib/ld-musl-x86_64.so.1".into(),
                },
                Problem::Needed {
                    libraries: vec!["libc.so".into()],
                },
            ],
            hint: None,
            ok: false,
        };
        assert_eq!(
            report.refusal(),
            "`app` is not static: interpreter `/lib/ld-musl-x86_64.so.1`; needs `libc.so`"
        );
    }
}
