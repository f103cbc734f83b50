//! What a configure step left out: its log (`config.log`, and those of the configures it ran in
//! subfolders) read for the headers, libraries and pkg-config modules it did not find for the
//! target. A static build sees only the target's C library, so what this machine has for
//! itself (readline's `-dev` package, a `tclConfig.sh`) is not found, and the program is built
//! without it: that is said, naming what the machine has, along with configure's own warnings.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::plan::ProbeLog;

/// Something configure looked for and did not find.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// `checking for readline in -lreadline... no`.
    Library(String),
    /// `checking for zlib.h... no`.
    Header(String),
    /// A pkg-config module (`$PKG_CONFIG --exists --print-errors "libcurl >= 7"`).
    Module(String),
}

impl Missing {
    /// The file this machine would have for it, in one of `dirs`.
    fn on_host(&self, dirs: &[PathBuf]) -> Option<PathBuf> {
        let names = match self {
            Missing::Library(l) => vec![format!("lib{l}.a"), format!("lib{l}.so")],
            Missing::Header(h) => vec![h.clone()],
            Missing::Module(m) => vec![format!("{m}.pc")],
        };
        dirs.iter()
            .flat_map(|d| names.iter().map(move |n| d.join(n)))
            .find(|p| p.is_file())
    }

    fn describe(&self) -> String {
        match self {
            Missing::Library(l) => format!("`-l{l}`"),
            Missing::Header(h) => format!("`{h}`"),
            Missing::Module(m) => format!("pkg-config `{m}`"),
        }
    }
}

/// What one configure log says: what was not found, and its warnings.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Probes {
    /// What it looked for and did not find, each once, in order.
    pub missing: Vec<Missing>,
    /// Its `WARNING:` lines, without the prefix.
    pub warnings: Vec<String>,
}

/// Warnings every cross build gets, which say nothing about the program.
const ROUTINE: [&str; 2] = [
    "using cross tools not prefixed with host triplet",
    "if you wanted to set the --build type, don't use --host",
];

/// Reads an autoconf `config.log`.
pub fn parse(log: &str) -> Probes {
    let mut out = Probes::default();
    let mut checking: Option<(String, bool)> = None;
    // A library found for one function (`acos in -lm`) is there, whatever else it lacks.
    let mut found: Vec<Missing> = Vec::new();
    for line in log.lines() {
        // The cache and variables are dumped at the end; probes are over.
        if line.starts_with("## ----------------- ##") || line == "## Cache variables. ##" {
            break;
        }
        let Some(rest) = line.strip_prefix("configure:") else {
            if let Some((_, pkg)) = checking.as_mut() {
                *pkg |= line.contains("--exists");
            }
            continue;
        };
        let Some((_, said)) = rest.split_once(": ") else {
            continue;
        };
        if let Some(what) = said.strip_prefix("checking ") {
            checking = Some((what.to_string(), false));
        } else if let Some(result) = said.strip_prefix("result: ") {
            let Some(probed) = checking.take().and_then(|(what, pkg)| classify(&what, pkg)) else {
                continue;
            };
            if result == "no" || result.starts_with("no ") {
                if !out.missing.contains(&probed) {
                    out.missing.push(probed);
                }
            } else {
                found.push(probed);
            }
        } else if let Some(warning) = said.strip_prefix("WARNING: ") {
            let warning = warning.trim();
            if !warning.is_empty()
                && !ROUTINE.iter().any(|r| warning.contains(r))
                && !out.warnings.iter().any(|w| w == warning)
            {
                out.warnings.push(warning.to_string());
            }
        } else if let Some((_, pkg)) = checking.as_mut() {
            *pkg |= said.contains("--exists");
        }
    }
    out.missing.retain(|m| !found.contains(m));
    out
}

/// The header, library or module a `checking …` line is about, if it is about one.
fn classify(what: &str, pkg_config: bool) -> Option<Missing> {
    let what = what.trim();
    if let Some((_, lib)) = what.rsplit_once(" in -l") {
        return Some(Missing::Library(lib.trim().to_string()));
    }
    let subject = what.strip_prefix("for ").unwrap_or(what);
    let subject = subject
        .strip_suffix(" usability")
        .or_else(|| subject.strip_suffix(" presence"))
        .unwrap_or(subject);
    if subject.ends_with(".h") && !subject.contains(' ') {
        return Some(Missing::Header(subject.to_string()));
    }
    if pkg_config {
        // `for libcurl >= 7.0` (or the variable prefix, `for CURL`, in old pkg.m4).
        let module = subject.split_whitespace().next()?;
        return Some(Missing::Module(module.to_string()));
    }
    None
}

/// The configure logs written since `since`: `log.file` in `log.dir` and in the folders below
/// it (a configure's sub-configures, e.g. jq's `modules/oniguruma`), nearest first.
fn fresh_logs(log: &ProbeLog, since: SystemTime) -> Vec<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: usize, since: SystemTime, out: &mut Vec<PathBuf>) {
        let path = dir.join(name);
        if fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since)
        {
            out.push(path);
        }
        if depth == 0 {
            return;
        }
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        dirs.sort();
        for sub in dirs {
            walk(&sub, name, depth - 1, since, out);
        }
    }
    let mut out = Vec::new();
    walk(&log.dir, &log.file, 3, since, &mut out);
    out
}

/// The warning to give after a configure that ran since `since`, if it left anything out.
pub fn report(log: &ProbeLog, since: SystemTime) -> Option<String> {
    let mut left_out = Vec::new();
    let mut warnings = Vec::new();
    for path in fresh_logs(log, since) {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let probes = parse(&text);
        for missing in probes.missing {
            if let Some(file) = missing.on_host(&log.host_dirs) {
                let line = format!("{} (`{}`)", missing.describe(), file.display());
                if !left_out.contains(&line) {
                    left_out.push(line);
                }
            }
        }
        for warning in probes.warnings {
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
    }
    if left_out.is_empty() && warnings.is_empty() {
        return None;
    }
    let mut text = format!(
        "configure for {} left out what it did not find for it",
        log.host
    );
    if !left_out.is_empty() {
        text.push_str(&format!(
            "; this machine has these for itself, not for {}: {}",
            log.host,
            left_out.join(", ")
        ));
    }
    if !warnings.is_empty() {
        text.push_str("; configure warned:");
        for w in &warnings {
            text.push_str(&format!("\n  | {w}"));
        }
    }
    text.push_str(&format!(
        "\n  to build with one, build it for {} and point configure at it after `--` \
         (`PKG_CONFIG_LIBDIR=DIR/lib/pkgconfig CPPFLAGS=-IDIR/include LDFLAGS=-LDIR/lib`), \
         or turn it off with the project's own `--disable-…`/`--without-…` option",
        log.host
    ));
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
configure:10937: checking for library containing readline
configure:10968: cc -o conftest conftest.c >&5
ld.lld: error: undefined symbol: readline
configure:10999: result: no
configure:11070: checking for readline in -lreadline
error: unable to find static system library \"readline\"
configure:11103: result: no
configure:11127: checking readline.h usability
configure:11127: result: no
configure:11127: checking for readline.h
configure:11127: result: no
configure:11130: checking for zlib.h
configure:11130: result: yes
configure:12000: checking for ONIG
configure:12001: $PKG_CONFIG --exists --print-errors \"oniguruma >= 6\"
Package oniguruma was not found in the pkg-config search path.
configure:12004: result: no
configure:12100: checking for isnan
configure:12100: result: no
configure:12200: checking for acos in -lm
configure:12200: result: yes
configure:12201: checking for drem in -lm
configure:12201: result: no
configure:12300: WARNING: 
configure:10839: WARNING: Can't find Tcl configuration definitions
configure:13000: WARNING: using cross tools not prefixed with host triplet
## ----------------- ##
## Output variables. ##
configure:14000: checking for nothing after the dump
configure:14000: result: no
";

    #[test]
    fn a_log_names_missing_libraries_headers_and_modules_not_functions() {
        let probes = parse(LOG);
        assert_eq!(
            probes.missing,
            [
                Missing::Library("readline".into()),
                Missing::Header("readline.h".into()),
                Missing::Module("ONIG".into()),
            ]
        );
        assert_eq!(
            probes.warnings,
            ["Can't find Tcl configuration definitions"]
        );
    }

    #[test]
    fn only_what_this_machine_has_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (work, host) = (dir.path().join("work"), dir.path().join("usr/lib"));
        fs::create_dir_all(work.join("modules/onig")).unwrap();
        fs::create_dir_all(&host).unwrap();
        fs::write(host.join("libreadline.so"), "").unwrap();
        let since = SystemTime::now() - std::time::Duration::from_secs(5);
        fs::write(work.join("config.log"), LOG).unwrap();
        fs::write(
            work.join("modules/onig/config.log"),
            "configure:1: checking for X in -lnowhere\nconfigure:2: result: no\n\
             configure:3: WARNING: onig said so\n",
        )
        .unwrap();
        let log = ProbeLog {
            file: "config.log".into(),
            dir: work.clone(),
            host_dirs: vec![host.clone()],
            host: "x86_64-linux-musl".into(),
        };
        let text = report(&log, since).unwrap();
        assert!(
            text.contains(&format!(
                "`-lreadline` (`{}`)",
                host.join("libreadline.so").display()
            )),
            "{text}"
        );
        assert!(
            !text.contains("nowhere") && !text.contains("readline.h"),
            "{text}"
        );
        assert!(
            text.contains("| Can't find Tcl configuration definitions"),
            "{text}"
        );
        assert!(text.contains("| onig said so"), "{text}");
        // Logs from before the step are not this run's.
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(report(&log, later), None);
    }
}
