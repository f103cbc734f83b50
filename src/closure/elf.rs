//! What the dynamic loader reads from an ELF object: machine and class, `PT_INTERP`,
//! `DT_NEEDED`, `DT_RPATH`/`DT_RUNPATH`, `DT_SONAME`, and the symbols it imports (to tell
//! which of glibc's dlopened extras it can need). Tables are capped before goblin sees them,
//! as verify caps them, so a hostile file is an error, never a huge allocation.

use std::path::Path;

use goblin::elf::{Elf, dynamic, program_header::PT_INTERP};

use crate::verify::VerifyError;

/// The loading facts of one ELF object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynInfo {
    /// `e_machine`.
    pub machine: u16,
    /// 32 or 64.
    pub bits: u8,
    /// Byte order.
    pub little_endian: bool,
    /// `PT_INTERP`, if any.
    pub interpreter: Option<String>,
    /// `DT_NEEDED`, in file order.
    pub needed: Vec<String>,
    /// `DT_RPATH` entries (split at `:`).
    pub rpath: Vec<String>,
    /// `DT_RUNPATH` entries (split at `:`).
    pub runpath: Vec<String>,
    /// `DT_SONAME`: set on shared libraries (which may also carry a `PT_INTERP` to be run,
    /// as `libc.so.6` does, but are loaded by the program's loader).
    pub soname: Option<String>,
    /// Whether the object is an executable or shared object (not an object file or core).
    pub loadable: bool,
    /// Undefined dynamic symbols with a name (what it imports).
    pub imports: Vec<String>,
}

impl DynInfo {
    /// Whether the loader must do anything for it.
    pub fn is_dynamic(&self) -> bool {
        self.interpreter.is_some() || !self.needed.is_empty()
    }
}

/// Reads the loading facts of `bytes` (`path` names it in errors).
pub fn read(path: &Path, bytes: &[u8]) -> Result<DynInfo, VerifyError> {
    let malformed = |detail: String| VerifyError::Malformed {
        path: path.to_owned(),
        detail,
    };
    if !bytes.starts_with(b"\x7fELF") {
        return Err(VerifyError::NotElf {
            path: path.to_owned(),
            what: "not ELF".into(),
        });
    }
    crate::verify::elf_read::check_table_sizes(path, bytes)?;
    let elf = Elf::parse(bytes).map_err(|e| malformed(e.to_string()))?;
    let mut info = DynInfo {
        machine: elf.header.e_machine,
        bits: if elf.is_64 { 64 } else { 32 },
        little_endian: elf.little_endian,
        loadable: matches!(
            elf.header.e_type,
            goblin::elf::header::ET_EXEC | goblin::elf::header::ET_DYN
        ),
        ..DynInfo::default()
    };
    if let Some(ph) = elf.program_headers.iter().find(|ph| ph.p_type == PT_INTERP) {
        let start = usize::try_from(ph.p_offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(ph.p_filesz).unwrap_or(usize::MAX));
        let raw = bytes
            .get(start..end)
            .ok_or_else(|| malformed("its `PT_INTERP` lies outside the file".into()))?;
        let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
        info.interpreter = Some(String::from_utf8_lossy(raw).into_owned());
    }
    if let Some(dynamic) = &elf.dynamic {
        let string = |offset: u64| {
            usize::try_from(offset)
                .ok()
                .and_then(|o| elf.dynstrtab.get_at(o))
                .map(str::to_string)
                .ok_or_else(|| malformed(format!("a dynamic entry names string offset {offset}")))
        };
        let split = |text: String| -> Vec<String> {
            text.split(':')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        for d in dynamic
            .dyns
            .iter()
            .take_while(|d| d.d_tag != dynamic::DT_NULL)
        {
            match d.d_tag {
                dynamic::DT_NEEDED => info.needed.push(string(d.d_val)?),
                dynamic::DT_RPATH => info.rpath.extend(split(string(d.d_val)?)),
                dynamic::DT_RUNPATH => info.runpath.extend(split(string(d.d_val)?)),
                dynamic::DT_SONAME => info.soname = Some(string(d.d_val)?),
                _ => {}
            }
        }
    }
    for sym in elf.dynsyms.iter() {
        if sym.st_shndx == 0
            && sym.st_name != 0
            && let Some(name) = elf.dynstrtab.get_at(sym.st_name)
        {
            info.imports.push(name.to_string());
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_itself_reads() {
        // The test harness is a real dynamic (glibc) or static (musl) ELF of the host.
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&exe).unwrap();
        let info = read(&exe, &bytes).unwrap();
        assert!(info.loadable);
        assert_eq!(info.bits, 64);
        if info.interpreter.is_some() {
            assert!(info.needed.iter().any(|n| n.starts_with("libc.so")));
            assert!(info.imports.iter().any(|s| s == "malloc" || s == "free"));
        }
    }

    #[test]
    fn non_elf_and_truncated_bytes_are_errors() {
        assert!(read(Path::new("x"), b"#!/bin/sh\n").is_err());
        assert!(read(Path::new("x"), b"\x7fELF\x02\x01\x01").is_err());
    }
}
