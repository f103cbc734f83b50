//! Results on stdout: verify reports, written outputs, plans, the toolchain table; for people
//! or as JSON (`--json`).
//!
//! Writers return `io::Result` so a closed pipe (`static-image verify … | head`) ends the
//! program quietly instead of panicking, as `println!` would.

use std::io::{self, Write};

use serde::Serialize;

use crate::package::outcome::PackageOutcome;
use crate::plan::{ArtifactRule, BuildPlan};
use crate::toolchain::Toolchains;
use crate::toolchain::probe::{TableRow, ToolRow};
use crate::ui::printable;
use crate::verify::image::{ImageVerdict, ImageVerifyError};
use crate::verify::{Linkage, StaticReport, VerifyError};

/// One file's verify result, as JSON prints it.
#[derive(Serialize)]
#[serde(untagged)]
pub enum VerifyEntry<'a> {
    /// The file was read.
    Report(&'a StaticReport),
    /// It could not be.
    Error {
        /// The file.
        path: String,
        /// Why.
        error: String,
    },
}

/// Prints a value as pretty JSON and a newline.
pub fn json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// The verdict word for a report.
fn verdict(report: &StaticReport) -> &'static str {
    if report.ok {
        "ok"
    } else if report.linkage == Linkage::Dynamic {
        "NOT STATIC"
    } else {
        "WRONG PLATFORM"
    }
}

/// Prints the human report for one binary.
pub fn verify_human(out: &mut dyn Write, report: &StaticReport) -> io::Result<()> {
    let m = &report.machine;
    let platform = m.platform.map(|p| format!(" ({p})")).unwrap_or_default();
    let none_or = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            printable(&items.join(", ")).into_owned()
        }
    };
    // Paths, interpreter and library names come from the file (or the image holding it):
    // control characters in them are escaped, never sent to the terminal.
    writeln!(
        out,
        "{}: {}, {}",
        printable(&report.path.display().to_string()),
        report.linkage.as_str(),
        verdict(report)
    )?;
    writeln!(out, "  machine:     {}, {}-bit{platform}", m.name, m.bits)?;
    writeln!(
        out,
        "  interpreter: {}",
        printable(report.interpreter.as_deref().unwrap_or("none"))
    )?;
    writeln!(out, "  needed:      {}", none_or(&report.needed))?;
    let libc = match (report.libc, &report.go) {
        (Some(libc), _) => libc.as_str(),
        (None, Some(_)) => "none (Go runtime)",
        (None, None) => "unknown",
    };
    writeln!(out, "  libc:        {libc}")?;
    if let Some(glibc) = &report.glibc {
        writeln!(out, "  glibc:       {glibc}")?;
    }
    if let Some(go) = &report.go {
        let cgo = if go.uses_cgo() { "cgo on" } else { "cgo off" };
        let version = go.go_version.as_deref().unwrap_or("unknown version");
        writeln!(out, "  go:          {}, {cgo}", printable(version))?;
    }
    for problem in &report.problems {
        if let crate::verify::Problem::WrongPlatform { .. } = problem {
            writeln!(out, "  problem:     {}", printable(&problem.to_string()))?;
        }
    }
    for hazard in &report.hazards {
        writeln!(out, "  warning:     {}", printable(&hazard.message))?;
    }
    if let Some(hint) = &report.hint {
        writeln!(out, "  hint:        {}", printable(hint))?;
    }
    Ok(())
}

/// Prints verify results: reports on stdout; unreadable files as one line each on stderr.
pub fn verify_all(
    out: &mut dyn Write,
    results: &[(String, Result<StaticReport, VerifyError>)],
    as_json: bool,
    ui: &crate::ui::Ui,
) -> io::Result<()> {
    for (_, result) in results {
        if let Err(e) = result {
            ui.error(&e.to_string(), &[], None);
        }
    }
    if as_json {
        let entries: Vec<VerifyEntry<'_>> = results
            .iter()
            .map(|(path, r)| match r {
                Ok(report) => VerifyEntry::Report(report),
                Err(e) => VerifyEntry::Error {
                    path: path.clone(),
                    error: e.to_string(),
                },
            })
            .collect();
        return json(out, &entries);
    }
    for report in results.iter().filter_map(|(_, r)| r.as_ref().ok()) {
        verify_human(out, report)?;
    }
    Ok(())
}

/// `verify IMAGE…`: per platform a verdict line, then each ELF file as `verify` shows a file;
/// or every verdict as JSON (files given beside images are then left to the text form).
pub fn verify_images(
    out: &mut dyn Write,
    verdicts: &[Result<ImageVerdict, ImageVerifyError>],
    as_json: bool,
    ui: &crate::ui::Ui,
) -> io::Result<()> {
    let mut causes = Vec::new();
    for error in verdicts.iter().filter_map(|v| v.as_ref().err()) {
        causes.clear();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        // A registry's failure says what to do about it (a deadline names its flag).
        let help = std::iter::successors(Some(error as &dyn std::error::Error), |e| e.source())
            .find_map(|e| {
                use crate::registry::RegistryError;
                e.downcast_ref::<RegistryError>()
                    .or_else(|| e.downcast_ref::<Box<RegistryError>>().map(|b| &**b))
            })
            .and_then(|e| e.help());
        ui.error(&error.to_string(), &causes, help.as_deref());
    }
    let done: Vec<&ImageVerdict> = verdicts.iter().filter_map(|v| v.as_ref().ok()).collect();
    if as_json {
        if done.is_empty() {
            return Ok(());
        }
        return json(out, &done);
    }
    for verdict in done {
        for platform in &verdict.platforms {
            writeln!(
                out,
                "{} {} {}: {} ELF file{}, {}",
                printable(&verdict.image),
                platform.platform,
                platform.digest,
                platform.files.len(),
                if platform.files.len() == 1 { "" } else { "s" },
                match (platform.ok, dynamic(platform)) {
                    (true, false) => "all static",
                    (true, true) => "ok (dynamic, with its library closure)",
                    (false, _) => "NOT OK",
                }
            )?;
            for problem in &platform.problems {
                writeln!(out, "  problem: {}", printable(problem))?;
            }
            for note in &platform.notes {
                writeln!(out, "  note: {}", printable(note))?;
            }
            for file in &platform.files {
                verify_human(out, file)?;
            }
        }
        for check in verdict.signatures.iter().chain(&verdict.policy) {
            writeln!(
                out,
                "{} {} {}: {} {}: {}",
                printable(&verdict.image),
                check.platform,
                check.subject,
                check.check,
                if check.ok { "ok" } else { "FAILED" },
                printable(&check.detail)
            )?;
        }
        for skipped in &verdict.skipped {
            writeln!(
                out,
                "{} {}: not checked (no platform of this tool)",
                printable(&verdict.image),
                printable(&skipped.to_string())
            )?;
        }
    }
    Ok(())
}

/// Whether a platform holds dynamic ELF files.
fn dynamic(platform: &crate::verify::image::PlatformVerdict) -> bool {
    platform.files.iter().any(|f| f.linkage == Linkage::Dynamic)
}

/// Prints what a package or build wrote: one `SPEC DIGEST` line per output, or the JSON outcome.
pub fn outcome(out: &mut dyn Write, outcome: &PackageOutcome, as_json: bool) -> io::Result<()> {
    if as_json {
        return json(out, outcome);
    }
    for written in &outcome.outputs {
        // A push is named by what a puller asks for: `HOST/REPO@sha256:…`.
        match &written.pushed {
            Some(pushed) => writeln!(out, "{} {}", written.output, pushed.reference)?,
            None => writeln!(out, "{} {}", written.output, written.digest)?,
        }
    }
    Ok(())
}

/// `plan`: every platform's build, as JSON (a list) or as commands a person could paste.
pub fn plans(out: &mut dyn Write, plans: &[BuildPlan], as_json: bool) -> io::Result<()> {
    if as_json {
        return json(out, &plans);
    }
    for (i, plan) in plans.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "platform: {}", plan.platform)?;
        // An image of several programs has a plan for each.
        if plans.iter().filter(|p| p.platform == plan.platform).count() > 1 {
            writeln!(out, "program:  {}", plan.name)?;
        }
        writeln!(out, "language: {}", plan.language)?;
        writeln!(out, "strategy: {} ({})", plan.strategy, plan.summary)?;
        for wrapper in &plan.wrappers {
            writeln!(
                out,
                "wrapper:  {} = {}",
                wrapper.path.display(),
                wrapper.command.join(" ")
            )?;
        }
        if let Some(m) = &plan.mirror {
            writeln!(out, "copy:     {} -> {}", m.from.display(), m.to.display())?;
        }
        for step in &plan.steps {
            let unless = step
                .unless
                .as_ref()
                .map(|u| format!("  (unless {} exists)", u.display()))
                .unwrap_or_default();
            writeln!(out, "cwd:      {}", step.cwd.display())?;
            writeln!(out, "command:  {}{unless}", step.command().command_line())?;
        }
        let artifact = match &plan.artifact {
            ArtifactRule::CargoMessages { expected, .. } => {
                format!("{} (as cargo reports it)", expected.display())
            }
            ArtifactRule::File { path } => path.display().to_string(),
            ArtifactRule::NewExecutable { dir, .. } => {
                format!("the one new executable under {}", dir.display())
            }
        };
        writeln!(out, "artifact: {artifact}")?;
    }
    Ok(())
}

/// `toolchains`: language × platform → the strategy chosen here, or what to install.
pub fn toolchains(
    out: &mut dyn Write,
    rows: &[TableRow],
    tools: &[ToolRow],
    toolchains: &Toolchains,
    as_json: bool,
) -> io::Result<()> {
    if as_json {
        #[derive(Serialize)]
        struct Doc<'a> {
            user_dir: Option<&'a std::path::Path>,
            builds: &'a [TableRow],
            tools: &'a [ToolRow],
        }
        return json(
            out,
            &Doc {
                user_dir: toolchains.user_dir.as_deref(),
                builds: rows,
                tools,
            },
        );
    }
    if let Some(dir) = &toolchains.user_dir {
        writeln!(
            out,
            "toolchain files: {} (before the built-in ones)",
            dir.display()
        )?;
    }
    for row in rows {
        let what = format!("{}{}", row.language, if row.cgo { " (cgo)" } else { "" });
        match (&row.strategy, &row.summary) {
            (Some(strategy), summary) => writeln!(
                out,
                "{what:<10} {:<14} {strategy:<18} {}",
                row.platform.to_string(),
                summary.as_deref().unwrap_or("")
            )?,
            (None, _) => {
                writeln!(out, "{what:<10} {:<14} missing", row.platform.to_string())?;
                for r in &row.rejected {
                    writeln!(
                        out,
                        "{:<25} {:<18} {}; install: {}",
                        "",
                        r.strategy,
                        r.reasons.join(", "),
                        r.install
                    )?;
                }
            }
        }
    }
    // What build systems run besides the compiler: a build that needs a missing one stops
    // before it starts, with the same install line.
    for tool in tools {
        match &tool.found {
            Some(way) => writeln!(out, "{:<10} {:<14} {way}", "tool", tool.name)?,
            None => writeln!(
                out,
                "{:<10} {:<14} missing; install: {}",
                "tool", tool.name, tool.install
            )?,
        }
    }
    Ok(())
}
