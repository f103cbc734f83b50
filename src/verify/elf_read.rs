//! Reading an ELF file that may lie, in bounded memory.
//!
//! goblin is lenient where a verdict must not be: its `interpreter` is `None` when the
//! `PT_INTERP` bytes lie outside the file or are not UTF-8, and its `libraries` skip a
//! `DT_NEEDED` whose name cannot be read. Either would turn a dynamic binary into a "static"
//! one. So the loading facts are read here from the program headers and the dynamic table
//! themselves: any `PT_INTERP` makes a binary dynamic, whatever its bytes, and every
//! `DT_NEEDED` counts, named or not.
//!
//! The tables verify reads are capped ([`TABLE_CAP`]) before goblin sees the file, so a header
//! claiming a table of gigabytes is a clear error, not an allocation of that size. A file
//! inside an image layer is read through [`ElfBytes`]: small ones in memory, larger ones
//! spooled to a (sparse) temporary file and mapped, so memory never grows with the entry.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use goblin::container::Ctx;
use goblin::elf::program_header::{PT_DYNAMIC, PT_INTERP, PT_NOTE, ProgramHeader};
use goblin::elf::section_header::{
    SHT_DYNAMIC, SHT_DYNSYM, SHT_GNU_HASH, SHT_HASH, SHT_NOTE, SHT_REL, SHT_RELA, SHT_STRTAB,
    SHT_SYMTAB, SectionHeader,
};
use goblin::elf::{Elf, dynamic};

use super::VerifyError;

/// The largest table (symbols, strings, dynamic, notes, relocations) verify reads: a header
/// claiming more is malformed for our purposes. Real static binaries stay far below.
pub const TABLE_CAP: u64 = 64 << 20;

/// The most section headers a file may claim through extended numbering (`e_shnum == 0`).
const MAX_SECTIONS: u64 = 1 << 16;

/// Entries up to this size are read into memory; larger ones are spooled to disk and mapped.
pub const IN_MEMORY_LIMIT: u64 = 16 << 20;

/// How a binary is loaded, as its program headers and dynamic table say.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Loading {
    /// The `PT_INTERP` path, escaped for display when it is not plain text.
    pub interpreter: Option<String>,
    /// Every `DT_NEEDED` entry before `DT_NULL`, an unreadable name described as such.
    pub needed: Vec<String>,
}

fn malformed(path: &Path, detail: impl Into<String>) -> VerifyError {
    VerifyError::Malformed {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

/// Refuses a file whose headers claim a table larger than [`TABLE_CAP`], before goblin
/// allocates for it.
pub(crate) fn check_table_sizes(path: &Path, bytes: &[u8]) -> Result<(), VerifyError> {
    let goblin_error = |e: goblin::error::Error| malformed(path, e.to_string());
    let header = Elf::parse_header(bytes).map_err(goblin_error)?;
    let ctx = Ctx::new(
        header.container().map_err(goblin_error)?,
        header.endianness().map_err(goblin_error)?,
    );
    let too_big = |what: String, size: u64| {
        malformed(
            path,
            format!(
                "{what} claims {size} bytes, more than the {} MiB verify reads",
                TABLE_CAP >> 20
            ),
        )
    };
    let phoff = usize::try_from(header.e_phoff).map_err(|_| malformed(path, "bad e_phoff"))?;
    let phdrs = ProgramHeader::parse(bytes, phoff, usize::from(header.e_phnum), ctx)
        .map_err(goblin_error)?;
    for ph in &phdrs {
        if matches!(ph.p_type, PT_DYNAMIC | PT_INTERP | PT_NOTE) && ph.p_filesz > TABLE_CAP {
            let name = goblin::elf::program_header::pt_to_str(ph.p_type);
            return Err(too_big(format!("segment `{name}`"), ph.p_filesz));
        }
    }
    if header.e_shoff == 0 {
        return Ok(());
    }
    let shoff = usize::try_from(header.e_shoff).map_err(|_| malformed(path, "bad e_shoff"))?;
    if header.e_shnum == 0 {
        // Extended numbering: the first section header's `sh_size` holds the count.
        let first = SectionHeader::parse(bytes, shoff, 1, ctx).map_err(goblin_error)?;
        let count = first.first().map_or(0, |sh| sh.sh_size);
        if count > MAX_SECTIONS {
            return Err(malformed(
                path,
                format!("claims {count} section headers, more than {MAX_SECTIONS}"),
            ));
        }
    }
    let shdrs = SectionHeader::parse(bytes, shoff, usize::from(header.e_shnum), ctx)
        .map_err(goblin_error)?;
    for (i, sh) in shdrs.iter().enumerate() {
        let read = matches!(
            sh.sh_type,
            SHT_SYMTAB
                | SHT_DYNSYM
                | SHT_STRTAB
                | SHT_DYNAMIC
                | SHT_NOTE
                | SHT_REL
                | SHT_RELA
                | SHT_HASH
                | SHT_GNU_HASH
        );
        if read && sh.sh_size > TABLE_CAP {
            return Err(too_big(format!("section {i}"), sh.sh_size));
        }
    }
    Ok(())
}

/// The interpreter and needed libraries, from the program headers and dynamic table.
///
/// A `PT_INTERP` whose bytes lie outside the file makes the file malformed (it cannot be
/// loaded as it claims); one whose bytes are not UTF-8 is still an interpreter, shown escaped.
/// A `DT_NEEDED` whose name cannot be read is still a needed library.
pub(super) fn loading(path: &Path, elf: &Elf<'_>, bytes: &[u8]) -> Result<Loading, VerifyError> {
    let mut loading = Loading::default();
    if let Some(ph) = elf.program_headers.iter().find(|ph| ph.p_type == PT_INTERP) {
        let range = usize::try_from(ph.p_offset)
            .ok()
            .zip(usize::try_from(ph.p_filesz).ok())
            .and_then(|(start, len)| Some(start..start.checked_add(len)?))
            .filter(|r| r.end <= bytes.len());
        let Some(range) = range else {
            return Err(malformed(
                path,
                format!(
                    "its `PT_INTERP` names bytes {}..{} of a {}-byte file",
                    ph.p_offset,
                    ph.p_offset.saturating_add(ph.p_filesz),
                    bytes.len()
                ),
            ));
        };
        let raw = &bytes[range];
        let raw = raw.split(|&b| b == 0).next().unwrap_or_default();
        loading.interpreter = Some(escaped(raw));
    }
    if let Some(dynamic) = &elf.dynamic {
        for d in dynamic
            .dyns
            .iter()
            .take_while(|d| d.d_tag != dynamic::DT_NULL)
        {
            if d.d_tag != dynamic::DT_NEEDED {
                continue;
            }
            let name = usize::try_from(d.d_val)
                .ok()
                .and_then(|offset| elf.dynstrtab.get_at(offset));
            loading.needed.push(match name {
                Some(name) => escaped(name.as_bytes()),
                None => format!("<unreadable name at string offset {}>", d.d_val),
            });
        }
    }
    Ok(loading)
}

/// Bytes shown as text: invalid UTF-8 and control characters escaped (`\xff`, `\x1b`, `\n`).
pub fn escaped(raw: &[u8]) -> String {
    let mut out = String::new();
    for chunk in raw.utf8_chunks() {
        // Control characters as the terminal writer escapes them, so a name reads one way.
        out.push_str(&crate::ui::printable(chunk.valid()));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The bytes of a file read from a stream, held in memory or in a mapped temporary file.
pub enum ElfBytes {
    /// A small file, read whole.
    Memory(Vec<u8>),
    /// A large file, spooled to an unlinked temporary file and mapped.
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for ElfBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ElfBytes::Memory(bytes) => bytes,
            ElfBytes::Mapped(map) => map,
        }
    }
}

impl ElfBytes {
    /// Reads `stream` (whose first bytes are `head`) to its end, in memory when it fits
    /// [`IN_MEMORY_LIMIT`], else into a temporary file that is mapped: memory stays bounded
    /// whatever the stream's length; runs of zeros are skipped on disk (a sparse file).
    pub fn read(head: &[u8], stream: &mut dyn Read) -> io::Result<ElfBytes> {
        let mut bytes = head.to_vec();
        stream
            .take(IN_MEMORY_LIMIT.saturating_sub(bytes.len() as u64) + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 <= IN_MEMORY_LIMIT {
            return Ok(ElfBytes::Memory(bytes));
        }
        let mut file = tempfile::tempfile()?;
        file.write_all(&bytes)?;
        let mut len = bytes.len() as u64;
        drop(bytes);
        let mut block = vec![0u8; 1 << 16];
        let zeros = vec![0u8; 1 << 16];
        loop {
            let n = match stream.read(&mut block) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if block[..n] == zeros[..n] {
                file.seek(SeekFrom::Current(n as i64))?;
            } else {
                file.write_all(&block[..n])?;
            }
            len += n as u64;
        }
        // A trailing run of zeros was only sought over: give the file its length.
        file.set_len(len)?;
        // SAFETY: the file is ours alone (unlinked at creation, never handed out), so nothing
        // truncates or rewrites it while the read-only map lives.
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        Ok(ElfBytes::Mapped(map))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Linkage, verify_bytes};
    use super::*;
    use crate::platform::Platforms;

    const BASE: u64 = 0x40_0000;

    /// A 64-bit x86-64 `ET_EXEC` with one `PT_LOAD` covering the file, plus `PT_INTERP` (file
    /// range given) and a dynamic table with one `DT_NEEDED` (string offset given) when asked.
    fn elf(interp: Option<(u64, u64)>, needed: Option<u64>, dynamic_size: Option<u64>) -> Vec<u8> {
        let phnum: u16 = 1 + u16::from(interp.is_some()) + u16::from(needed.is_some());
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // ELFCLASS64
        b[5] = 1; // little endian
        b[6] = 1;
        b[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        b[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[24..32].copy_from_slice(&(BASE + 0x1000).to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        b[52..54].copy_from_slice(&64u16.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&phnum.to_le_bytes());
        b[58..60].copy_from_slice(&64u16.to_le_bytes());
        let data = 64 + 56 * u64::from(phnum);
        // Data: "/lib/ld\xff.so\0" at `data`, then "libc.so\0", then the dynamic table.
        let strings = b"/lib/ld\xff.so\0libc.so\0";
        let dynamic_at = data + strings.len() as u64;
        let dyns: Vec<(u64, u64)> = vec![
            (dynamic::DT_NEEDED, needed.unwrap_or(0)),
            // The string table is "libc.so\0" alone (goblin refuses one that is not UTF-8).
            (dynamic::DT_STRTAB, BASE + data + 12),
            (dynamic::DT_STRSZ, 8),
            (dynamic::DT_NULL, 0),
        ];
        let len = dynamic_at + 16 * dyns.len() as u64;
        let ph = |b: &mut Vec<u8>, kind: u32, offset: u64, size: u64| {
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&4u32.to_le_bytes()); // PF_R
            b.extend_from_slice(&offset.to_le_bytes());
            b.extend_from_slice(&(BASE + offset).to_le_bytes());
            b.extend_from_slice(&(BASE + offset).to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&0x1000u64.to_le_bytes());
        };
        ph(&mut b, 1, 0, len); // PT_LOAD
        if let Some((offset, size)) = interp {
            ph(&mut b, PT_INTERP, offset, size);
        }
        if needed.is_some() {
            let size = dynamic_size.unwrap_or(16 * dyns.len() as u64);
            ph(&mut b, PT_DYNAMIC, dynamic_at, size);
        }
        b.extend_from_slice(strings);
        for (tag, val) in dyns {
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&val.to_le_bytes());
        }
        assert_eq!(b.len() as u64, len);
        b
    }

    fn data_offset(phnum: u64) -> u64 {
        64 + 56 * phnum
    }

    #[test]
    fn plain_file_is_static_and_any_interpreter_is_dynamic() {
        let report = verify_bytes(
            Path::new("a"),
            &elf(None, None, None),
            None,
            &Platforms::builtin(),
        )
        .unwrap();
        assert_eq!(report.linkage, Linkage::Static);
        // The interpreter's bytes are not UTF-8: still an interpreter, shown escaped.
        let bytes = elf(Some((data_offset(2), 12)), None, None);
        let report = verify_bytes(Path::new("a"), &bytes, None, &Platforms::builtin()).unwrap();
        assert_eq!(report.linkage, Linkage::Dynamic);
        assert_eq!(report.interpreter.as_deref(), Some("/lib/ld\\xff.so"));
        assert_eq!(
            report.refusal(),
            "`a` is not static: interpreter `/lib/ld\\xff.so`"
        );
    }

    #[test]
    fn interpreter_outside_the_file_is_malformed() {
        let bytes = elf(Some((1 << 40, 20)), None, None);
        let err = verify_bytes(Path::new("a"), &bytes, None, &Platforms::builtin()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "`a`: is a truncated or malformed ELF file: its `PT_INTERP` names bytes \
                 1099511627776..1099511627796 of a {}-byte file",
                bytes.len()
            )
        );
    }

    #[test]
    fn needed_names_count_even_when_unreadable() {
        let bytes = elf(None, Some(0), None);
        let report = verify_bytes(Path::new("a"), &bytes, None, &Platforms::builtin()).unwrap();
        assert_eq!(report.needed, vec!["libc.so".to_string()]);
        let bytes = elf(None, Some(1 << 30), None);
        let report = verify_bytes(Path::new("a"), &bytes, None, &Platforms::builtin()).unwrap();
        assert_eq!(report.linkage, Linkage::Dynamic);
        assert_eq!(
            report.refusal(),
            "`a` is not static: needs `<unreadable name at string offset 1073741824>`"
        );
    }

    #[test]
    fn tables_over_the_cap_are_refused_before_parsing() {
        let bytes = elf(None, Some(0), Some(TABLE_CAP + 16));
        let err = verify_bytes(Path::new("a"), &bytes, None, &Platforms::builtin()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "`a`: is a truncated or malformed ELF file: segment `PT_DYNAMIC` claims {} \
                 bytes, more than the 64 MiB verify reads",
                TABLE_CAP + 16
            )
        );
    }

    #[test]
    fn escapes_what_is_not_plain_text() {
        assert_eq!(escaped(b"/lib/ld.so"), "/lib/ld.so");
        assert_eq!(escaped(b"/lib/\xffld\n"), "/lib/\\xffld\\n");
        assert_eq!(escaped(b"/x\x1b[2J"), "/x\\x1b[2J");
    }

    #[test]
    fn large_streams_are_spooled_and_read_back_whole() {
        let mut data = vec![0u8; (IN_MEMORY_LIMIT + (3 << 16) + 5) as usize];
        data[..4].copy_from_slice(b"\x7fELF");
        let at = data.len() - 100;
        data[at] = 7;
        let bytes = ElfBytes::read(&data[..4], &mut &data[4..]).unwrap();
        assert!(matches!(bytes, ElfBytes::Mapped(_)));
        assert_eq!(&bytes[..], &data[..]);
        let small = ElfBytes::read(b"\x7fELF", &mut &b"abc"[..]).unwrap();
        assert!(matches!(small, ElfBytes::Memory(_)));
        assert_eq!(&small[..], b"\x7fELFabc");
    }
}
