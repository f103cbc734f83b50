//! What a static binary contains that matters in scratch: which C library it was linked with,
//! and the hazards that library brings (glibc's NSS, `dlopen`, iconv; musl's malloc under
//! threads; Go's cgo).
//!
//! Evidence comes from the symbol table, ELF notes and, for `dlopen`, from call sites: since
//! glibc 2.34 libdl lives in libc.a, so every static glibc binary *defines* `dlopen`; only a
//! direct call to it shows the program uses it. A stripped binary has no symbols; then the NSS
//! loader's `libnss_` string is the evidence, and `dlopen` use cannot be seen.

use goblin::elf::{Elf, header, note, section_header};

use super::{GoBuildInfo, Hazard, Libc, section};
use crate::ui::backticked;

/// NSS entry points: static glibc serves them by dlopen-ing `libnss_*.so` modules at run time.
const NSS_SYMBOLS: &[&str] = &[
    "getaddrinfo",
    "getnameinfo",
    "gethostbyname",
    "gethostbyname2",
    "gethostbyname_r",
    "gethostbyname2_r",
    "gethostbyaddr",
    "gethostbyaddr_r",
    "getpwnam",
    "getpwnam_r",
    "getpwuid",
    "getpwuid_r",
    "getpwent",
    "getgrnam",
    "getgrnam_r",
    "getgrgid",
    "getgrgid_r",
    "getgrouplist",
    "initgroups",
    "getspnam",
    "getservbyname",
    "getservbyport",
    "getprotobyname",
];

/// Entry points that load shared objects. Since glibc 2.34 libdl lives in libc.a, so every
/// static glibc binary defines them: only a call to one is evidence of use.
const DLOPEN_SYMBOLS: &[&str] = &["dlopen", "dlmopen"];

/// iconv loads gconv modules for most character sets; it is linked only when used.
const GCONV_SYMBOLS: &[&str] = &["iconv_open"];

/// musl's full allocator (mallocng, and oldmalloc before 1.2.1); a program that never frees
/// gets a bump allocator without these instead.
const MUSL_MALLOC_SYMBOLS: &[&str] = &["__malloc_alloc_meta", "__malloc_donate"];

/// Thread creation: a static binary contains it only when the program starts threads.
const THREAD_SYMBOLS: &[&str] = &["pthread_create", "__pthread_create"];

/// Allocators that replace musl's for the program's own allocations.
const OTHER_ALLOCATORS: &[&str] = &[
    "mi_malloc",
    "je_malloc",
    "_rjem_malloc",
    "tc_malloc",
    "rpmalloc",
    "sn_malloc",
    "scalable_malloc",
];

/// `NT_GNU_ABI_TAG`: glibc's crt objects put this note in every executable they start.
const NT_GNU_ABI_TAG: u32 = 1;

pub(super) fn detect_libc(
    elf: &Elf<'_>,
    bytes: &[u8],
    interpreter: &Option<String>,
    needed: &[String],
) -> Option<Libc> {
    if let Some(interp) = interpreter {
        if interp.contains("ld-musl") {
            return Some(Libc::Musl);
        }
        if interp.contains("ld-linux") {
            return Some(Libc::Glibc);
        }
    }
    if needed.iter().any(|n| n == "libc.so.6") {
        return Some(Libc::Glibc);
    }
    if needed
        .iter()
        .any(|n| n == "libc.so" || n.starts_with("libc.musl-"))
    {
        return Some(Libc::Musl);
    }
    // glibc's start files add an ABI-tag note to every program; musl's add none.
    let has_abi_tag = elf.iter_note_headers(bytes).is_some_and(|notes| {
        notes
            .filter_map(Result::ok)
            .any(|n: note::Note<'_>| n.name == "GNU" && n.n_type == NT_GNU_ABI_TAG)
    });
    if has_abi_tag {
        return Some(Libc::Glibc);
    }
    // musl's start-up code, kept in the symbol table of any unstripped static binary.
    if has_any_symbol(elf, &["__init_libc", "__libc_start_init"]) {
        return Some(Libc::Musl);
    }
    None
}

/// The names among `wanted` that the symbol table (or, lacking one, the dynamic symbols) holds.
fn symbols_present<'a>(elf: &Elf<'_>, wanted: &[&'a str]) -> Vec<&'a str> {
    let mut found: Vec<&'a str> = Vec::new();
    let tables = [(&elf.syms, &elf.strtab), (&elf.dynsyms, &elf.dynstrtab)];
    for (syms, strtab) in tables {
        for sym in syms.iter() {
            // Only definitions count: a static binary contains the code it calls.
            if sym.st_shndx == section_header::SHN_UNDEF as usize {
                continue;
            }
            let name = strtab.get_at(sym.st_name);
            if let Some(w) = wanted.iter().find(|w| Some(**w) == name)
                && !found.contains(w)
            {
                found.push(w);
            }
        }
    }
    found.sort_unstable();
    found
}

/// The addresses of the defined symbols among `wanted`.
fn symbol_addresses(elf: &Elf<'_>, wanted: &[&str]) -> Vec<(String, u64)> {
    elf.syms
        .iter()
        .filter(|s| s.st_shndx != section_header::SHN_UNDEF as usize && s.st_value != 0)
        .filter_map(|s| {
            let name = elf.strtab.get_at(s.st_name)?;
            wanted
                .contains(&name)
                .then(|| (name.to_string(), s.st_value))
        })
        .collect()
}

/// The names of `targets` that executable code calls directly (x86-64 `call rel32`, AArch64
/// `bl imm26`). Calls through pointers are not seen; that is the price of not disassembling.
fn called(elf: &Elf<'_>, bytes: &[u8], targets: &[(String, u64)]) -> Vec<String> {
    let mut hits: Vec<String> = Vec::new();
    let executable = elf.section_headers.iter().filter(|sh| {
        sh.sh_type == section_header::SHT_PROGBITS
            && sh.sh_flags & u64::from(section_header::SHF_EXECINSTR) != 0
    });
    for sh in executable {
        let Some(code) = usize::try_from(sh.sh_offset)
            .ok()
            .zip(usize::try_from(sh.sh_size).ok())
            // Call sites are evidence, not a verdict: a bounded prefix of huge code is enough.
            .map(|(start, len)| (start, len.min(super::elf_read::TABLE_CAP as usize * 4)))
            .and_then(|(start, len)| bytes.get(start..start.checked_add(len)?))
        else {
            continue;
        };
        let mut hit = |target: u64| {
            for (name, addr) in targets {
                if *addr == target && !hits.contains(name) {
                    hits.push(name.clone());
                }
            }
        };
        match elf.header.e_machine {
            header::EM_X86_64 => {
                for i in memchr::memchr_iter(0xe8, code) {
                    if let Some(rel) = code.get(i + 1..i + 5) {
                        let rel = i32::from_le_bytes([rel[0], rel[1], rel[2], rel[3]]);
                        let next = sh.sh_addr.wrapping_add(i as u64 + 5);
                        hit(next.wrapping_add_signed(i64::from(rel)));
                    }
                }
            }
            header::EM_AARCH64 => {
                for (i, word) in code.chunks_exact(4).enumerate() {
                    let insn = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                    if insn & 0xfc00_0000 == 0x9400_0000 {
                        // imm26, sign-extended, in words.
                        let offset = i64::from(((insn & 0x03ff_ffff) << 6) as i32 >> 6) * 4;
                        hit(sh
                            .sh_addr
                            .wrapping_add(i as u64 * 4)
                            .wrapping_add_signed(offset));
                    }
                }
            }
            _ => {}
        }
    }
    hits.sort_unstable();
    hits
}

/// Threads, musl's full malloc, and neither a known replacement allocator nor a `malloc` of
/// the program's own (musl's is weak; an override is a strong global). Without symbols
/// (stripped) nothing can be told, and nothing is claimed.
fn musl_malloc_under_threads(elf: &Elf<'_>) -> bool {
    let own_malloc = elf.syms.iter().any(|s| {
        s.st_bind() == goblin::elf::sym::STB_GLOBAL
            && s.st_shndx != section_header::SHN_UNDEF as usize
            && elf.strtab.get_at(s.st_name) == Some("malloc")
    });
    has_any_symbol(elf, THREAD_SYMBOLS)
        && has_any_symbol(elf, MUSL_MALLOC_SYMBOLS)
        && !has_any_symbol(elf, OTHER_ALLOCATORS)
        && !own_malloc
}

fn has_any_symbol(elf: &Elf<'_>, names: &[&str]) -> bool {
    !symbols_present(elf, names).is_empty()
}

pub(super) fn find_hazards(
    elf: &Elf<'_>,
    bytes: &[u8],
    libc: Option<Libc>,
    go: Option<&GoBuildInfo>,
) -> Vec<Hazard> {
    let mut hazards = Vec::new();
    if go.is_some_and(GoBuildInfo::uses_cgo) {
        hazards.push(Hazard {
            code: "go-cgo".into(),
            message: "Go binary built with cgo (CGO_ENABLED=1): it links a C library, and with \
                      glibc its name and user lookups load NSS modules that scratch lacks; build \
                      with CGO_ENABLED=0, or link cgo statically against musl"
                .into(),
        });
    }
    if libc == Some(Libc::Musl) && go.is_none() && musl_malloc_under_threads(elf) {
        hazards.push(Hazard {
            code: "musl-malloc-threads".into(),
            message: "multi-threaded program using musl's malloc, which serialises allocations \
                      behind one lock: under contention it runs several times slower than with \
                      glibc; give it another allocator (Rust: `#[global_allocator] static A: \
                      mimalloc::MiMalloc = mimalloc::MiMalloc;`; C: link mimalloc or jemalloc)"
                .into(),
        });
    }
    if libc != Some(Libc::Glibc) {
        return hazards;
    }
    let nss = symbols_present(elf, NSS_SYMBOLS);
    let stripped = elf.syms.is_empty();
    let nss_loader = || {
        let rodata = section(elf, bytes, ".rodata").unwrap_or(bytes);
        memchr::memmem::find(rodata, b"libnss_").is_some()
    };
    if !nss.is_empty() || (stripped && nss_loader()) {
        let what = if nss.is_empty() {
            "contains glibc's NSS module loader".to_string()
        } else {
            format!("contains the NSS functions {}", backticked(&nss))
        };
        hazards.push(Hazard {
            code: "static-glibc-nss".into(),
            message: format!(
                "static glibc binary {what}: glibc answers these through NSS, which loads \
                 `libnss_*.so` of the exact glibc it was linked with for any source but files \
                 and dns (and for all of them before glibc 2.34); scratch has none, so \
                 lookups can fail at run time; build against musl instead"
            ),
        });
    }
    let dl = called(elf, bytes, &symbol_addresses(elf, DLOPEN_SYMBOLS));
    if !dl.is_empty() {
        hazards.push(Hazard {
            code: "static-glibc-dlopen".into(),
            message: format!(
                "static glibc binary calls {}: a static program can load only shared objects \
                 built for the same glibc, and scratch holds none; build against musl instead",
                backticked(&dl)
            ),
        });
    }
    let gconv = symbols_present(elf, GCONV_SYMBOLS);
    if !gconv.is_empty() {
        hazards.push(Hazard {
            code: "static-glibc-iconv".into(),
            message: format!(
                "static glibc binary calls {}: glibc loads gconv modules for most character \
                 sets at run time, and scratch has none; build against musl instead",
                backticked(&gconv)
            ),
        });
    }
    hazards
}
