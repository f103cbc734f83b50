//! Which executable a C build made is the program. A build makes several more often than not:
//! the program and its helpers (`lua`, `luac`), copies under object folders (zstd's
//! `obj/conf_*/zstd`), bundled dependencies' programs (redis's `deps/lua`), and tools built for
//! this machine to run during the build (sqlite's `lemon`). They are ranked: programs for the
//! target before host tools, outside object and dependency folders before inside, the project's
//! own name before others. The best is taken when it stands alone; otherwise the user is asked,
//! with the likely one first.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use goblin::elf::Elf;

use super::BuildError;

/// Folders whose executables are build by-products or other projects' programs.
const SIDE_FOLDERS: [&str; 6] = ["obj", ".obj", ".deps", ".libs", "deps", "third_party"];

/// An executable the build made, and how likely it is the program (lower is likelier).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    /// Built to run here (another CPU, or dynamically linked): a build tool.
    host_tool: bool,
    /// Under an object or dependency folder.
    aside: bool,
    /// 0: named as the project, 1: its name starts with the project's, 2: another name.
    name: u8,
    /// The path, relative to where the build ran.
    rel: PathBuf,
}

/// The program among the executables under `dir` the build made (not files of `copy_of`, the
/// project `dir` is a copy of). `prefer` is the project's program name; `machine` the target's
/// ELF machine.
pub(super) fn choose(
    dir: &Path,
    copy_of: Option<&Path>,
    prefer: Option<&str>,
    machine: u16,
) -> Result<PathBuf, BuildError> {
    let mut found = Vec::new();
    find_executables(dir, dir, copy_of, &mut found);
    let mut ranked: Vec<Candidate> = found
        .into_iter()
        .map(|rel| rank(dir, rel, prefer, machine))
        .collect();
    ranked.sort();
    let Some(best) = ranked.first() else {
        return Err(BuildError::NoExecutable {
            dir: dir.to_owned(),
        });
    };
    let tier = |c: &Candidate| (c.host_tool, c.aside);
    let peers: Vec<&Candidate> = ranked.iter().filter(|c| tier(c) == tier(best)).collect();
    let named: Vec<&Candidate> = peers.iter().copied().filter(|c| c.name == 0).collect();
    match (peers.as_slice(), named.as_slice()) {
        ([only], _) | (_, [only]) => Ok(dir.join(&only.rel)),
        _ => Err(BuildError::SeveralExecutables {
            dir: dir.to_owned(),
            found: ranked.iter().map(|c| c.rel.display().to_string()).collect(),
        }),
    }
}

fn rank(dir: &Path, rel: PathBuf, prefer: Option<&str>, machine: u16) -> Candidate {
    let host_tool = match fs::read(dir.join(&rel)).ok().as_deref().map(Elf::parse) {
        Some(Ok(elf)) => elf.header.e_machine != machine || elf.interpreter.is_some(),
        _ => true,
    };
    let aside = rel.parent().is_some_and(|parent| {
        parent.components().any(|c| match c {
            Component::Normal(name) => {
                let name = name.to_string_lossy();
                SIDE_FOLDERS.contains(&name.as_ref()) || name.starts_with("conf_")
            }
            _ => false,
        })
    });
    let file = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match prefer {
        Some(p) if file == p => 0,
        Some(p) if file.starts_with(p) => 1,
        _ => 2,
    };
    Candidate {
        host_tool,
        aside,
        name,
        rel,
    }
}

/// Collects, relative to `root`, the executable ELF programs under `dir` that the build made:
/// not shared libraries, not CMake's probe programs, not files that came from the project.
pub(super) fn find_executables(
    root: &Path,
    dir: &Path,
    copy_of: Option<&Path>,
    found: &mut Vec<PathBuf>,
) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if name != "CMakeFiles" && name != ".git" {
                find_executables(root, &path, copy_of, found);
            }
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path).to_owned();
        let from_project = copy_of.is_some_and(|p| p.join(&rel).exists());
        if meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
            && !name.contains(".so")
            && !from_project
            && is_elf_program(&path)
        {
            found.push(rel);
        }
    }
}

/// An ELF file of type EXEC, or DYN with an entry point (a PIE rather than a library).
fn is_elf_program(path: &Path) -> bool {
    let mut header = [0u8; 32];
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    if file.read_exact(&mut header).is_err() || &header[..4] != b"\x7fELF" {
        return false;
    }
    let little = header[5] == 1;
    let half = |at: usize| {
        let b = [header[at], header[at + 1]];
        if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let entry_nonzero = match header[4] {
        2 => header[24..32].iter().any(|&b| b != 0),
        _ => header[24..28].iter().any(|&b| b != 0),
    };
    matches!(half(16), 2) || (half(16) == 3 && entry_nonzero)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test program: a dynamically linked executable for this machine.
    fn own() -> PathBuf {
        std::env::current_exe().unwrap()
    }

    fn machine_of(path: &Path) -> u16 {
        Elf::parse(&fs::read(path).unwrap())
            .unwrap()
            .header
            .e_machine
    }

    #[test]
    fn only_programs_count_as_executables() {
        let dir = tempfile::tempdir().unwrap();
        fs::copy(own(), dir.path().join("prog")).unwrap();
        fs::write(dir.path().join("script"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(dir.path().join("script"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(dir.path().join("CMakeFiles")).unwrap();
        fs::copy(own(), dir.path().join("CMakeFiles/probe")).unwrap();
        let mut found = Vec::new();
        find_executables(dir.path(), dir.path(), None, &mut found);
        assert_eq!(found, [PathBuf::from("prog")]);
    }

    #[test]
    fn the_project_s_name_outside_object_folders_wins() {
        let dir = tempfile::tempdir().unwrap();
        let machine = machine_of(&own());
        for rel in [
            "programs/zstd",
            "programs/obj/conf_1/zstd",
            "programs/zstdless",
        ] {
            let path = dir.path().join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::copy(own(), &path).unwrap();
        }
        // Dynamically linked (as this test program is), they would all be host tools; the
        // ranking within one tier is what is checked here.
        let chosen = choose(dir.path(), None, Some("zstd"), machine).unwrap();
        assert_eq!(chosen, dir.path().join("programs/zstd"));
        // With no name to go by, the user is asked, the likeliest first.
        let Err(BuildError::SeveralExecutables { found, .. }) =
            choose(dir.path(), None, Some("other"), machine)
        else {
            panic!("expected a question");
        };
        assert_eq!(
            found,
            [
                "programs/zstd",
                "programs/zstdless",
                "programs/obj/conf_1/zstd"
            ]
        );
    }

    #[test]
    fn a_program_for_another_cpu_is_a_host_tool() {
        let dir = tempfile::tempdir().unwrap();
        fs::copy(own(), dir.path().join("lemon")).unwrap();
        let other = if machine_of(&own()) == goblin::elf::header::EM_AARCH64 {
            goblin::elf::header::EM_X86_64
        } else {
            goblin::elf::header::EM_AARCH64
        };
        let c = rank(dir.path(), "lemon".into(), Some("sqlite"), other);
        assert!(c.host_tool);
        assert_eq!(c.name, 2);
    }
}
