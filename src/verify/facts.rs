//! What `verify` reads from an ELF file besides the static test (its machine, the compilers
//! its `.comment` names, Go's build information), and how it explains what it finds: what a
//! file that is not ELF looks like, and the likely cause of a binary meant to be static that
//! came out dynamic.

use goblin::elf::{Elf, header, section_header};

use super::{GoBuildInfo, Linkage, Machine, elf_read, go};
use crate::platform::Platforms;

/// Names what a non-ELF file looks like, so the error says more than "not ELF".
pub(super) fn describe_non_elf(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"#!") {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let line: String = line.trim().chars().take(60).collect();
        return format!("a script (`#!{line}`)");
    }
    let magic = |m: &[u8]| bytes.starts_with(m);
    if magic(b"MZ") {
        return "a Windows (PE) executable".into();
    }
    if [
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
    ]
    .iter()
    .any(|m| magic(*m))
    {
        return "a Mach-O (macOS) binary".into();
    }
    if magic(b"\0asm") {
        return "a WebAssembly module".into();
    }
    if b"\x7fELF".starts_with(&bytes[..bytes.len().min(4)]) {
        return "a truncated file (fewer than 4 bytes of ELF magic)".into();
    }
    let head = &bytes[..bytes.len().min(512)];
    if std::str::from_utf8(head).is_ok_and(|s| !s.contains('\0')) {
        return "a text file".into();
    }
    let shown: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("an unknown format (first bytes {})", shown.join(" "))
}

pub(super) fn describe_machine(elf: &Elf<'_>, platforms: &Platforms) -> Machine {
    let elf_machine = elf.header.e_machine;
    let name = match elf_machine {
        header::EM_X86_64 => "x86-64".to_string(),
        header::EM_AARCH64 => "aarch64".to_string(),
        header::EM_386 => "x86 (i386)".to_string(),
        header::EM_ARM => "arm".to_string(),
        header::EM_RISCV => "riscv".to_string(),
        header::EM_PPC64 => "ppc64".to_string(),
        header::EM_S390 => "s390".to_string(),
        other => format!("{} ({other})", header::machine_to_str(other)),
    };
    let bits = if elf.is_64 { 64 } else { 32 };
    let platform = platforms
        .from_elf_machine(elf_machine)
        .filter(|p| (p.bits() == 64) == elf.is_64 && p.little_endian() == elf.little_endian);
    Machine {
        name,
        elf_machine,
        bits,
        little_endian: elf.little_endian,
        platform,
    }
}

/// The bytes of the first section with this name.
pub(super) fn section<'a>(elf: &Elf<'_>, bytes: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let sh = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(name))?;
    // An optional record larger than any real one is not read (nor trusted).
    if sh.sh_type == section_header::SHT_NOBITS || sh.sh_size > elf_read::TABLE_CAP {
        return None;
    }
    let start = usize::try_from(sh.sh_offset).ok()?;
    let end = start.checked_add(usize::try_from(sh.sh_size).ok()?)?;
    bytes.get(start..end)
}

/// The NUL-separated lines of `.comment`, each once, in order.
pub(super) fn compilers(elf: &Elf<'_>, bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in section(elf, bytes, ".comment")
        .unwrap_or_default()
        .split(|&b| b == 0)
        .take(64)
    {
        let line = String::from_utf8_lossy(line).trim().to_string();
        if !line.is_empty() && line.len() <= 200 && !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}

pub(super) fn go_build_info(elf: &Elf<'_>, bytes: &[u8]) -> Option<GoBuildInfo> {
    section(elf, bytes, ".go.buildinfo").and_then(go::parse)
}

/// Explains the well-known ways a build meant to be static comes out dynamic.
pub(super) fn hint_for(
    linkage: Linkage,
    interpreter: &Option<String>,
    needed: &[String],
    is_go: bool,
) -> Option<String> {
    if linkage != Linkage::Dynamic {
        return None;
    }
    let interp = interpreter.as_deref().unwrap_or_default();
    if is_go && interpreter.is_some() && needed.is_empty() {
        return Some(
            "a Go binary with an interpreter but no libraries is what `-buildmode=pie` gives \
             with cgo off; build with the default `-buildmode=exe`"
                .into(),
        );
    }
    if interp.contains("ld-musl") && needed.iter().all(|n| n == "libc.so") {
        return Some(
            "musl-gcc's `-static-pie` yields a dynamic binary on some distributions (Debian's \
             among them); link with `-static`"
                .into(),
        );
    }
    if interpreter.is_some() && needed.is_empty() {
        return Some(
            "an interpreter with no needed libraries usually means a PIE linked without \
             `-static-pie`; link with `-static` or `-static-pie`"
                .into(),
        );
    }
    Some(
        "link statically: Rust `--target <arch>-unknown-linux-musl`, Go `CGO_ENABLED=0`, \
         C `-static` against musl"
            .into(),
    )
}
