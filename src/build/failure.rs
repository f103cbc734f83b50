//! A failed build step, read against `toolchains/failures.toml`: the lines of its output that
//! matter (the first error, the last, the one a known failure names) and what to do next.
//!
//! Which texts mark a line worth keeping, which failures are known and their advice are data:
//! a new troublesome project or crate is an entry in that file, not code. The file is compiled
//! in; a unit test checks that it parses, so at run time a parse failure cannot happen (it
//! would only lose the advice, not the build's own report).

use std::sync::OnceLock;

use serde::Deserialize;

use super::BuildError;
use crate::exec::ExecError;
use crate::plan::{BuildPlan, Facts, Step};
use crate::ui::backticked;

/// The data file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    /// Texts that make an output line worth keeping.
    keep: Vec<String>,
    /// Known failures, in order: the first that fits gives its help.
    failure: Vec<Known>,
}

/// A failure the tool knows, and its advice.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Known {
    /// Its name (for tests and the data's readers).
    name: String,
    /// The step programs it applies to (empty: any).
    #[serde(default)]
    steps: Vec<String>,
    /// Any of these on a kept line makes it fit (empty: it is the fallback for its steps).
    #[serde(rename = "match", default)]
    any: Vec<Needle>,
    /// What to do, with `{dir}`, `{step}`, `{platform}`, `{pick}` and `{targets}`.
    help: String,
}

/// A text to find on a line, or several texts that must all be on it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Needle {
    One(String),
    All(Vec<String>),
}

impl Needle {
    fn found(&self, line: &str) -> bool {
        match self {
            Needle::One(text) => line.contains(text.as_str()),
            Needle::All(texts) => texts.iter().all(|t| line.contains(t.as_str())),
        }
    }

    /// The text every matching line contains, which is what the running step watches for.
    fn first(&self) -> Option<&str> {
        match self {
            Needle::One(text) => Some(text),
            Needle::All(texts) => texts.first().map(String::as_str),
        }
    }
}

const DATA: &str = include_str!("../../toolchains/failures.toml");

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| toml::from_str(DATA).unwrap_or_default())
}

/// The texts a build step's output is watched for (see [`crate::exec::Cmd::watch`]).
pub fn watched() -> Vec<String> {
    let table = table();
    let mut out = table.keep.clone();
    for needle in table.failure.iter().flat_map(|k| &k.any) {
        if let Some(text) = needle.first()
            && !out.iter().any(|o| o == text)
        {
            out.push(text.to_string());
        }
    }
    out
}

/// What a failed step's output says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The known failure that fits, if any but a fallback.
    pub known: Option<String>,
    /// The lines that matter, in output order (`…` where lines were left out).
    pub lines: Vec<String>,
    /// What to do next.
    pub help: Option<String>,
}

/// A build step that failed, as the user reads it.
#[derive(Debug, thiserror::Error)]
#[error(
    "{step} failed: {status}\n  command: `{command}`{}",
    format_lines(lines)
)]
pub struct StepFailure {
    /// What the step was for ("make (make)").
    pub step: String,
    /// Its quoted command line.
    pub command: String,
    /// "exited with status N" or "was killed by signal S".
    pub status: String,
    /// Its first and last errors, and the line a known failure was found on.
    pub lines: Vec<String>,
    /// The known failure found in its output, by name.
    pub known: Option<String>,
    /// What to do next.
    pub help: Option<String>,
}

/// The lines that matter of a failed step, set off from our own text.
fn format_lines(lines: &[String]) -> String {
    let mut out = String::new();
    if !lines.is_empty() {
        out.push_str("\n  where it went wrong:");
        for line in lines {
            out.push_str("\n  | ");
            out.push_str(line);
        }
    }
    out
}

/// The values a help text may name.
#[derive(Debug, Default)]
pub struct Context {
    /// The step's program (`make`, `configure`), when the failure is a build step's.
    pub step: Option<String>,
    /// Where it ran.
    pub dir: String,
    /// The platform built for.
    pub platform: String,
    /// A make project's target named after its program.
    pub pick: String,
    /// `; the Makefile's targets for the program: …`, or nothing.
    pub targets: String,
    /// The crate whose build script failed (cargo's `failed to run custom build command for
    /// `aws-lc-sys v0.47.0``), or `CRATE`.
    pub krate: String,
}

/// How many of the first kept lines, and of the last, a report shows.
const FIRST_LINES: usize = 4;
const LAST_LINES: usize = 2;

/// Reads `noted` (the kept lines) and `tail` (the last stderr lines) of a failed step.
pub fn diagnose(noted: &[String], tail: &[String], context: &Context) -> Diagnosis {
    let table = table();
    let fits_step = |k: &Known| match &context.step {
        Some(step) => k.steps.is_empty() || k.steps.iter().any(|s| s == step),
        None => true,
    };
    let lines: &[String] = if noted.is_empty() { tail } else { noted };
    let hit = |k: &Known| {
        lines
            .iter()
            .chain(tail)
            .position(|l| k.any.iter().any(|n| n.found(l)))
    };
    let known = table
        .failure
        .iter()
        .filter(|k| fits_step(k))
        .find(|k| k.any.is_empty() || hit(k).is_some());
    let mut shown: Vec<usize> = Vec::new();
    if noted.is_empty() {
        shown.extend(lines.len().saturating_sub(8)..lines.len());
    } else {
        shown.extend(0..lines.len().min(FIRST_LINES));
        if let Some(at) = known.and_then(hit).filter(|&at| at < lines.len()) {
            shown.extend([at, at + 1].into_iter().filter(|&i| i < lines.len()));
        }
        shown.extend(lines.len().saturating_sub(LAST_LINES)..lines.len());
    }
    shown.sort_unstable();
    shown.dedup();
    let mut out = Vec::new();
    for (n, &i) in shown.iter().enumerate() {
        if n > 0 && shown[n - 1] + 1 != i {
            out.push("…".to_string());
        }
        out.push(lines[i].clone());
    }
    Diagnosis {
        known: known.filter(|k| !k.any.is_empty()).map(|k| k.name.clone()),
        lines: out,
        help: known.map(|k| fill(&k.help, context)),
    }
}

/// A help text with its variables filled in.
fn fill(help: &str, context: &Context) -> String {
    help.replace("{dir}", &context.dir)
        .replace("{step}", context.step.as_deref().unwrap_or("the step"))
        .replace("{platform}", &context.platform)
        .replace("{pick}", &context.pick)
        .replace("{targets}", &context.targets)
        .replace("{crate}", &context.krate)
}

/// The crate cargo names in `failed to run custom build command for `aws-lc-sys v0.47.0``.
fn failed_build_script(lines: &[String]) -> Option<&str> {
    lines.iter().find_map(|l| {
        let rest = l.split("failed to run custom build command for `").nth(1)?;
        rest.split([' ', '`']).next()
    })
}

/// The name of a step's program: `./configure` → `configure`, `/usr/bin/make` → `make`.
fn program_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// A failed step of `plan` as the error the user reads: the step, the lines that matter and
/// what to do. Other failures (a program that could not start) pass through.
pub fn explain(plan: &BuildPlan, step: &Step, failure: ExecError) -> BuildError {
    let ExecError::Failed {
        description,
        command,
        status,
        stderr_tail,
        noted,
        ..
    } = &failure
    else {
        return failure.into();
    };
    let mut context = Context {
        step: Some(program_name(&step.program).to_string()),
        dir: step.cwd.display().to_string(),
        platform: plan.platform.to_string(),
        krate: failed_build_script(noted)
            .or_else(|| failed_build_script(stderr_tail))
            .unwrap_or("CRATE")
            .to_string(),
        ..Context::default()
    };
    if let Facts::C { make_targets, .. } = &plan.facts {
        let stem = plan.facts.program_name().unwrap_or(&plan.name);
        let (targets, others): (Vec<String>, Vec<String>) = make_targets
            .iter()
            .cloned()
            .partition(|t| t.starts_with(stem));
        context.pick = targets.first().map_or("TARGET", String::as_str).to_string();
        context.targets = if !targets.is_empty() {
            format!(
                "; the Makefile's targets for the program: {}",
                backticked(&targets)
            )
        } else if !others.is_empty() {
            format!(
                "; the Makefile's targets: {}",
                backticked(&others[..others.len().min(12)])
            )
        } else {
            String::new()
        };
    }
    let diagnosis = diagnose(noted, stderr_tail, &context);
    BuildError::Step(Box::new(StepFailure {
        step: description.clone(),
        command: command.clone(),
        status: status.clone(),
        lines: diagnosis.lines,
        known: diagnosis.known,
        help: diagnosis.help,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    fn context(step: &str) -> Context {
        Context {
            step: Some(step.into()),
            dir: "/w/src".into(),
            platform: "linux/arm64".into(),
            ..Context::default()
        }
    }

    #[test]
    fn the_data_parses_and_every_failure_has_advice() {
        let table: Table = toml::from_str(DATA).expect("failures.toml parses");
        assert!(!table.keep.is_empty());
        let mut names = std::collections::BTreeSet::new();
        for known in &table.failure {
            assert!(
                names.insert(&known.name),
                "two failures named {}",
                known.name
            );
            assert!(!known.help.is_empty(), "{}", known.name);
            assert!(
                known.any.iter().all(|n| n.first().is_some()),
                "{}: an empty `match` entry",
                known.name
            );
        }
        // The fallbacks come last: a fallback before a specific failure would hide it.
        let first_fallback = table.failure.iter().position(|k| k.any.is_empty());
        let last_specific = table.failure.iter().rposition(|k| !k.any.is_empty());
        assert!(first_fallback > last_specific);
        assert_eq!(table.failure.last().map(|k| k.steps.len()), Some(0));
    }

    #[test]
    fn a_sub_configure_s_cross_failure_is_found_above_make_s_last_error() {
        // Redis: jemalloc's configure failed 50 lines above make's own error.
        let noted = lines(
            "configure: error: in `/w/src/deps/jemalloc':\n\
             configure: error: cannot run C compiled programs.\n\
             If you meant to cross compile, use `--host'.\n\
             make[2]: *** [Makefile:108: jemalloc] Error 1\n\
             zmalloc.h:50:10: fatal error: 'jemalloc/jemalloc.h' file not found\n\
             make[1]: *** [Makefile:416: adlist.o] Error 1\n\
             make: *** [Makefile:6: all] Error 2",
        );
        let d = diagnose(&noted, &[], &context("make"));
        assert_eq!(d.known.as_deref(), Some("configure-without-host"));
        assert_eq!(
            d.lines[1],
            "configure: error: cannot run C compiled programs."
        );
        assert_eq!(d.lines[2], "If you meant to cross compile, use `--host'.");
        assert_eq!(
            d.lines.last().unwrap(),
            "make: *** [Makefile:6: all] Error 2"
        );
        assert!(d.lines.contains(&"…".to_string()), "{:?}", d.lines);
        let help = d.help.unwrap();
        assert!(
            help.contains("`--host`") && help.contains("linux/arm64"),
            "{help}"
        );
    }

    #[test]
    fn each_known_pattern_gives_its_advice() {
        let cases = [
            (
                "cargo",
                "  = note: rust-lld: error: undefined symbol: __ubsan_handle_add_overflow",
                "ubsan-runtime",
                "-fno-sanitize=undefined",
            ),
            (
                "make",
                "Makefile.am:12: error: Libtool library used but 'LIBTOOL' is undefined",
                "libtool-missing",
                "apt-get install libtool",
            ),
            (
                "configure",
                "./configure: line 3030: `LT_INIT([disable-shared])'",
                "libtool-missing",
                "libtool",
            ),
            (
                "cargo",
                "  Could not find directory of OpenSSL installation, and this `-sys` crate cannot",
                "openssl-sys-without-openssl",
                "features = [\"vendored\"]",
            ),
            (
                "configure",
                "./configure: error: the HTTP rewrite module requires the PCRE library.",
                "configure-library-missing",
                "--without-http_rewrite_module",
            ),
            (
                "configure",
                "./configure: error: C compiler /w/bin/cc is not found",
                "configure-runs-its-tests",
                "runs each test program",
            ),
            (
                "make",
                "src/event/ngx_event_udp.c:172:25: error: comparison of integers of different \
                 signs [-Werror,-Wsign-compare]",
                "warnings-are-errors",
                "--with-cc-opt=-Wno-error",
            ),
            (
                "go",
                "main.go:3:8: module lookup disabled by GOPROXY=off",
                "go-module-unreachable",
                "go mod vendor",
            ),
        ];
        for (step, line, name, advice) in cases {
            let noted = vec![line.to_string()];
            let d = diagnose(&noted, &[], &context(step));
            assert_eq!(d.known.as_deref(), Some(name), "{line}");
            assert!(d.help.as_deref().unwrap().contains(advice), "{name}: {d:?}");
            assert_eq!(d.lines, noted);
        }
        // A pattern limited to some steps is not taken for another's.
        let d = diagnose(
            &lines("./configure: error: C compiler cc is not found"),
            &[],
            &context("make"),
        );
        assert_eq!(d.known, None);
        assert!(d.help.unwrap().starts_with("the first error above"));
    }

    #[test]
    fn a_cmake_reconfigure_after_a_compiler_change_says_which_crate_to_clean() {
        let noted = lines(
            "error: failed to run custom build command for `aws-lc-sys v0.47.0`\n  \
             You have changed variables that require your cache to be deleted.\n  \
             Configure will be re-run and you may have to reset some variables.\n  \
             CMake Error at CMakeLists.txt:1034 (add_subdirectory):",
        );
        let context = Context {
            krate: failed_build_script(&noted).unwrap().to_string(),
            ..context("cargo")
        };
        let d = diagnose(&noted, &[], &context);
        assert_eq!(d.known.as_deref(), Some("cmake-compiler-changed"));
        assert!(
            d.help.unwrap().contains("`cargo clean -p aws-lc-sys`"),
            "{noted:?}"
        );
    }

    #[test]
    fn without_a_known_pattern_the_step_s_own_advice_is_given() {
        let noted = lines(
            "main.c:1:10: fatal error: 'zlib.h' file not found\n\
             make: *** [Makefile:3: main.o] Error 1",
        );
        let d = diagnose(&noted, &[], &context("make"));
        assert_eq!(d.known, None);
        assert_eq!(d.lines, noted);
        assert!(d.help.unwrap().contains("`--make-target`"));
        let d = diagnose(&noted, &[], &context("configure"));
        assert!(d.help.unwrap().contains("`/w/src/config.log`"));
        let d = diagnose(&noted, &[], &context("autoreconf"));
        assert!(d.help.unwrap().contains("`-v`"));
        // Nothing kept: the stderr's last lines stand in.
        let tail = lines("a\nb\nc\nd\ne\nf\ng\nh\ni\nj");
        let d = diagnose(&[], &tail, &context("make"));
        assert_eq!(d.lines, tail[2..]);
    }

    #[test]
    fn a_shared_library_link_failure_names_the_program_s_targets() {
        let plan = BuildPlan {
            language: crate::toolchain::Language::C,
            platform: crate::platform::Platform::amd64(),
            strategy: "zig".into(),
            summary: String::new(),
            libc: None,
            name: "libzstd-1.5.4".into(),
            work_dir: "/w".into(),
            wrappers: Vec::new(),
            files: Vec::new(),
            mirror: None,
            steps: Vec::new(),
            artifact: crate::plan::ArtifactRule::File {
                path: "/w/x".into(),
            },
            facts: Facts::C {
                c_compiler: None,
                program: "zstd".into(),
                make_targets: ["default", "lib", "zstd", "zstd-release", "clean"]
                    .map(String::from)
                    .into(),
                strip: None,
                probe_log: None,
            },
        };
        let step = |program: &str| Step {
            description: format!("make ({program})"),
            program: program.into(),
            args: Vec::new(),
            env: Default::default(),
            cwd: "/w/src".into(),
            unless: None,
            once: false,
        };
        let failed = |lines: &[&str]| ExecError::Failed {
            description: "make (make)".into(),
            command: "make -j2".into(),
            status: "exited with status 2".into(),
            stderr_tail: Box::new([]),
            shown: true,
            noted: lines.iter().map(|l| l.to_string()).collect(),
        };
        let so = [
            "ld.lld: error: undefined symbol: main",
            "make[2]: *** [Makefile:161: obj/conf_1/dynamic/libzstd.so.1.5.4] Error 1",
        ];
        let error = explain(&plan, &step("make"), failed(&so));
        let help = error.help().unwrap();
        assert!(help.contains("`--make-target zstd`"), "{help}");
        assert!(help.contains("`zstd`, `zstd-release`"), "{help}");
        assert_eq!(
            error.to_string(),
            "make (make) failed: exited with status 2\n  command: `make -j2`\n  where it went \
             wrong:\n  | ld.lld: error: undefined symbol: main\n  | make[2]: *** \
             [Makefile:161: obj/conf_1/dynamic/libzstd.so.1.5.4] Error 1"
        );
        // Another step, or another failure, gets its own advice.
        let cmake = explain(&plan, &step("cmake"), failed(&so));
        assert!(
            matches!(&cmake, BuildError::Step(f) if f.known.is_none()),
            "{cmake:?}"
        );
        let other = explain(
            &plan,
            &step("make"),
            failed(&["main.c:1: error: expected ';'"]),
        );
        assert!(
            matches!(&other, BuildError::Step(f) if f.known.is_none()),
            "{other:?}"
        );
    }

    #[test]
    fn many_lines_are_cut_to_the_first_and_the_last() {
        let noted: Vec<String> = (0..30).map(|i| format!("e{i}: error: x")).collect();
        let d = diagnose(&noted, &[], &context("make"));
        assert_eq!(
            d.lines,
            [
                "e0: error: x",
                "e1: error: x",
                "e2: error: x",
                "e3: error: x",
                "…",
                "e28: error: x",
                "e29: error: x"
            ]
        );
    }

    #[test]
    fn the_watch_list_holds_every_known_pattern_s_first_text() {
        let watched = watched();
        for text in [
            "error:",
            "cannot run C compiled programs",
            "*** [",
            "LIBTOOL is undefined",
        ] {
            assert!(watched.iter().any(|w| w == text), "{text}: {watched:?}");
        }
    }
}
