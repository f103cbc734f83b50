//! The C library a C (or cgo) build linked, with its release, asked of the toolchain: a static
//! musl binary does not record which musl it holds, but the toolchain that linked it knows.
//!
//! - zig: `zig env` names its `lib_dir`, whose musl sources carry `src/internal/version.h`.
//! - musl-gcc: the wrapper script names musl's `musl-gcc.specs`; beside it, musl's `libc.so` is
//!   also its dynamic loader, which prints `Version 1.2.3` when run without arguments.
//!
//! glibc needs no asking: the verifier reads its release from the binary.

use std::path::Path;

use super::{Component, Facts, Role, purl};
use crate::exec::Cmd;
use crate::ui::Ui;

/// The C library of the C compiler `compiler` (its command words), when the toolchain tells.
pub fn facts(compiler: &[String], ui: &Ui) -> Facts {
    let mut facts = Facts::default();
    let first = compiler.first().map(String::as_str).unwrap_or_default();
    let is_zig = compiler
        .iter()
        .take_while(|w| *w != "cc")
        .any(|w| w == "ziglang" || file_name(w) == "zig");
    let found = if is_zig {
        zig_musl(compiler, ui)
    } else if file_name(first).contains("musl-gcc") {
        musl_gcc(first, ui).map(|v| (v, format!("the musl of `{first}`")))
    } else {
        None
    };
    if let Some((version, source)) = found {
        facts.parts.push(Component {
            purl: Some(purl("generic", "musl", Some(&version))),
            download: Some(format!(
                "https://musl.libc.org/releases/musl-{version}.tar.gz"
            )),
            license: Some("MIT".into()),
            comment: Some(format!("linked statically; {source}")),
            ..Component::new(Role::Library, "musl", Some(version))
        });
    }
    facts
}

fn file_name(word: &str) -> String {
    Path::new(word)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// zig's bundled musl release, from `zig env`'s `lib_dir`.
fn zig_musl(compiler: &[String], ui: &Ui) -> Option<(String, String)> {
    let at = compiler.iter().position(|w| w == "cc")?;
    let (program, prefix) = compiler[..at].split_first()?;
    let env = Cmd::new("zig env", program)
        .args(prefix)
        .arg("env")
        .capture(ui)
        .ok()?;
    // `zig env` prints JSON in older releases and ZON (`.lib_dir = "…",`) in newer ones.
    let field = |key: &str| {
        env.lines().find_map(|line| {
            let line = line.trim().trim_start_matches('.').trim_start_matches('"');
            let rest = line.strip_prefix(key)?.trim_start_matches('"').trim_start();
            let rest = rest.strip_prefix(['=', ':'])?.trim();
            Some(rest.trim_end_matches(',').trim_matches('"').to_string())
        })
    };
    let lib_dir = field("lib_dir")?;
    let header = Path::new(&lib_dir).join("libc/musl/src/internal/version.h");
    let text = std::fs::read_to_string(header).ok()?;
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("#define VERSION "))?
        .trim()
        .trim_matches('"')
        .to_string();
    let zig = field("version").unwrap_or_else(|| "?".into());
    Some((version, format!("the musl sources bundled with zig {zig}")))
}

/// The release of the musl that a musl-gcc wrapper script links against.
fn musl_gcc(program: &str, ui: &Ui) -> Option<String> {
    let script = which::which(program).ok()?;
    let text = std::fs::read_to_string(script).ok()?;
    let specs = text
        .split_whitespace()
        .map(|w| w.trim_matches(['"', '\'']))
        .find(|w| w.ends_with("musl-gcc.specs"))?;
    let loader = Path::new(specs).parent()?.join("libc.so");
    // The loader exits 1 after printing its banner to stderr.
    let banner = Cmd::new("musl's loader", "sh")
        .args(["-c", "\"$0\" 2>&1; true"])
        .arg(&loader)
        .capture(ui)
        .ok()?;
    banner
        .lines()
        .find_map(|l| l.strip_prefix("Version "))
        .map(|v| v.trim().to_string())
}
