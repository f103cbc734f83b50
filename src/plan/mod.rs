//! Stage `plan`: project + platform + host facts → [`BuildPlan`]: every program, argument,
//! environment variable and path decided up front, printable (`static-image plan --json`)
//! before anything runs.
//!
//! The strategy comes from the toolchain data (the first whose programs exist here); each
//! language then turns it into steps: `cargo build` whose JSON messages name the artifact,
//! `go build -o <known path>`, or a C build system's steps followed by a search of the build
//! directory for the one executable it made. The wrappers (`{cc}`, `{ar}`) and the copy of a C
//! project are listed in the plan too; `build` creates them.

mod c;
mod go;
mod rust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::detect::{BinTarget, Project};
use crate::exec::Cmd;
use crate::platform::Platform;
use crate::toolchain::probe::{Choice, Host, Rejected};
use crate::toolchain::template::Vars;
use crate::toolchain::{Language, LibcKind, Strategy};

/// One build for one platform, fully decided.
#[derive(Clone, Debug, Serialize)]
pub struct BuildPlan {
    /// The project's language.
    pub language: Language,
    /// The platform built for.
    pub platform: Platform,
    /// The strategy chosen from the toolchain data.
    pub strategy: String,
    /// Its summary.
    pub summary: String,
    /// The C library it links, when known.
    pub libc: Option<LibcKind>,
    /// The program's name (the image's default name).
    pub name: String,
    /// The build's own directory (wrappers, copies, outputs).
    pub work_dir: PathBuf,
    /// Wrapper scripts to write before the steps run.
    pub wrappers: Vec<Wrapper>,
    /// Files to write before the steps run (a CMake toolchain file naming the wrappers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PlanFile>,
    /// A copy of the project to refresh before the steps run (C builds in the source tree).
    pub mirror: Option<Mirror>,
    /// The commands, in order.
    pub steps: Vec<Step>,
    /// How the binary is found afterwards.
    pub artifact: ArtifactRule,
    /// What later stages need of the build, decided here so none reads it back out of a step
    /// (not printed: `plan` shows what runs).
    #[serde(skip)]
    pub facts: Facts,
}

/// What a plan knows that the stages after the build need: the image's name and metadata, the
/// SBOM's dependencies and C library.
#[derive(Clone, Debug)]
pub enum Facts {
    /// A Cargo build.
    Rust {
        /// The target triple cargo builds for.
        triple: String,
        /// The binary target built, with its package.
        bin: BinTarget,
        /// C libraries built for the build script of a crate (OpenSSL for openssl-sys), filled
        /// in before the build by `provide`.
        provided: Vec<ProvidedLibrary>,
    },
    /// A Go build.
    Go {
        /// Without cgo: the `go list` that tells which packages need cgo, when the build fails.
        cgo_check: Option<Step>,
        /// The command that compiles and links C, with cgo.
        c_compiler: Option<Vec<String>>,
    },
    /// A C build.
    C {
        /// The command that compiles and links C.
        c_compiler: Option<Vec<String>>,
        /// The program's likely name (see `CProject::stem`).
        program: String,
        /// The targets of a make project's Makefile (none for other build systems).
        make_targets: Vec<String>,
        /// The command that strips the program in place after the build (its path appended).
        strip: Option<Vec<String>>,
        /// Where configure logs its probes, read after it runs for what the build left out.
        probe_log: Option<ProbeLog>,
    },
}

/// Where a configure step logs its probes, and where this machine keeps its own headers and
/// libraries (what configure did not find for the target but is here was left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeLog {
    /// The log's file name (`config.log`), in the build directory and the folders of the
    /// configures it ran.
    pub file: String,
    /// The build directory.
    pub dir: PathBuf,
    /// This machine's folders of headers, libraries and pkg-config files.
    pub host_dirs: Vec<PathBuf>,
    /// The GNU triple built for (named in the report).
    pub host: String,
}

impl Facts {
    /// The command that compiles and links C, when the build has one.
    pub fn c_compiler(&self) -> Option<&[String]> {
        match self {
            Facts::Rust { .. } => None,
            Facts::Go { c_compiler, .. } | Facts::C { c_compiler, .. } => c_compiler.as_deref(),
        }
    }

    /// A C build's likely program name.
    pub fn program_name(&self) -> Option<&str> {
        match self {
            Facts::C { program, .. } => Some(program),
            _ => None,
        }
    }
}

/// A C library built for a crate of a Rust build, not from a crate's own build script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvidedLibrary {
    /// Its name (`OpenSSL`).
    pub library: String,
    /// Its release (`3.6.3`).
    pub version: String,
    /// Its package URL's name (`openssl`).
    pub purl_name: String,
    /// The crate its sources came from, with its version (`openssl-src 300.6.1+3.6.3`).
    pub source_crate: String,
    /// The crate it was built for (`openssl-sys`).
    pub for_crate: String,
}

/// A shell script that runs a fixed command with the arguments it is given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Wrapper {
    /// Where it is written.
    pub path: PathBuf,
    /// What it runs.
    pub command: Vec<String>,
    /// Arguments it drops (`*` matches anything).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
    /// Arguments put before the caller's (a C build's `-O2`, so the project's own flags, which
    /// come later, win).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Arguments put after the caller's when it links a program (not `-c`, `-S`, `-E`, `-M`,
    /// `-MM`, `-shared`, `-r`): `-static` and stripping, which a shared object must not get.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link_flags: Vec<String>,
}

/// A file a plan writes before its steps run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanFile {
    /// Where.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// Top-level names never copied into a copy of a project (build outputs, version control).
pub const MIRROR_SKIP: [&str; 2] = ["target", ".git"];

/// A project copied into the work directory so an in-tree build leaves the project clean.
#[derive(Clone, Debug, Serialize)]
pub struct Mirror {
    /// The project.
    pub from: PathBuf,
    /// The copy.
    pub to: PathBuf,
    /// Top-level names not copied (build outputs, version control).
    pub skip: Vec<String>,
}

/// One command of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What it is for ("cargo build").
    pub description: String,
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables set on top of the inherited environment.
    pub env: BTreeMap<String, String>,
    /// Where it runs.
    pub cwd: PathBuf,
    /// Skipped when this file exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unless: Option<PathBuf>,
    /// Skipped when it succeeded here before and its program has not changed since. Absent
    /// when false, so plans remembered without it still read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub once: bool,
}

impl Step {
    /// The command that carries the step out.
    pub fn command(&self) -> Cmd {
        let mut cmd = Cmd::new(&self.description, &self.program)
            .args(&self.args)
            .cwd(&self.cwd);
        for (k, v) in &self.env {
            cmd = cmd.env(k, v);
        }
        cmd
    }
}

/// How the built binary is found.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum ArtifactRule {
    /// cargo's `compiler-artifact` message for this binary target.
    CargoMessages {
        /// The target's name.
        bin: String,
        /// Where cargo normally puts it (its messages have the final word).
        expected: PathBuf,
    },
    /// A path the build was told to write.
    File {
        /// The path.
        path: PathBuf,
    },
    /// The one executable ELF file under `dir` the build made.
    NewExecutable {
        /// Where to look.
        dir: PathBuf,
        /// The project `dir` is a copy of: files that came from it are not build products.
        copy_of: Option<PathBuf>,
        /// The program's likely name, preferred when the build makes several.
        #[serde(skip_serializing_if = "Option::is_none")]
        prefer: Option<String>,
    },
}

/// Choices from the command line that shape the plan.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--offline`.
    pub offline: bool,
    /// Arguments after `--`.
    pub build_args: Vec<String>,
    /// Rust: `--bin`.
    pub bin: Option<String>,
    /// Rust: every `--bin` of the image, when there are several: one cargo command builds them
    /// all (each plan still takes its own `bin` from it).
    pub bins_together: Vec<String>,
    /// Go: `--package`.
    pub package: Option<String>,
    /// Go: `--cgo`.
    pub cgo: bool,
    /// C: `--artifact`, relative to the build directory.
    pub artifact: Option<PathBuf>,
    /// C, make: `--make-target`.
    pub make_target: Option<String>,
}

/// Why a build cannot be planned here.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Picking the binary or package failed.
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    /// No strategy's programs exist here.
    #[error(
        "no toolchain here builds {language}{cgo} for {platform}; tried {}",
        tried(rejected)
    )]
    NoStrategy {
        /// The language.
        language: Language,
        /// The platform.
        platform: Platform,
        /// " with cgo", or nothing.
        cgo: &'static str,
        /// Every strategy tried, with why not.
        rejected: Vec<Rejected>,
    },
    /// The build system needs a program that is not here.
    #[error("the {build_system} build of `{root}` needs `{program}`, which is not on PATH")]
    MissingBuildTool {
        /// The build system.
        build_system: String,
        /// The project.
        root: PathBuf,
        /// The program.
        program: String,
        /// How to install it.
        install: Option<String>,
    },
    /// The bootstrap (`autoreconf`) needs a program for a macro the project uses.
    #[error(
        "`{root}` has no `configure` and making one needs `{program}` ({why}), which is not \
         on PATH"
    )]
    MissingBootstrapTool {
        /// The project.
        root: PathBuf,
        /// The program.
        program: String,
        /// Which project file names which macro: "its `configure.ac` uses `LT_INIT`".
        why: String,
        /// How to install it.
        install: Option<String>,
    },
    /// A template could not be expanded for this build.
    #[error("toolchain entry `{entry}`: {detail}")]
    Template {
        /// The strategy or build system.
        entry: String,
        /// What is wrong.
        detail: String,
    },
    /// A flag that belongs to another language.
    #[error("`{flag}` is for {expected} projects; `{root}` is a {found} project")]
    WrongFlag {
        /// The flag.
        flag: &'static str,
        /// The language it serves.
        expected: Language,
        /// The project's language.
        found: Language,
        /// The project.
        root: PathBuf,
    },
}

fn tried(rejected: &[Rejected]) -> String {
    let parts: Vec<String> = rejected
        .iter()
        .map(|r| format!("`{}` ({})", r.strategy, r.reasons.join(", ")))
        .collect();
    if parts.is_empty() {
        "none (no strategy in the toolchain data)".into()
    } else {
        parts.join("; ")
    }
}

impl PlanError {
    /// How to get a missing piece.
    pub fn help(&self) -> Option<String> {
        match self {
            PlanError::NoStrategy { rejected, .. } => {
                let mut installs: Vec<&str> = Vec::new();
                for r in rejected {
                    if !installs.contains(&r.install.as_str()) {
                        installs.push(&r.install);
                    }
                }
                Some(format!("install one of: {}", installs.join("; or ")))
            }
            PlanError::MissingBuildTool { install, .. }
            | PlanError::MissingBootstrapTool { install, .. } => {
                install.as_ref().map(|i| format!("install it: {i}"))
            }
            PlanError::WrongFlag { .. } => Some("see `static-image build --help`".into()),
            PlanError::Detect(e) => e.help(),
            _ => None,
        }
    }
}

/// Plans the build of `project` for `platform`. `env` reads the user's environment (a
/// parameter, so the plan is a function of its inputs and the host's programs).
pub fn plan(
    project: &Project,
    platform: Platform,
    host: &Host<'_>,
    options: &Options,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BuildPlan, PlanError> {
    check_flags(project, options)?;
    let work_dir = project
        .target_dir()
        .join("static-image-build")
        .join(platform.arch());
    match project {
        Project::Rust(p) => {
            let choice = choose(host, Language::Rust, platform, false)?;
            rust::plan(p, platform, choice, work_dir, options, env)
        }
        Project::Go(p) => {
            let choice = choose(host, Language::Go, platform, options.cgo)?;
            go::plan(p, platform, choice, work_dir, options, env)
        }
        Project::C(p) => {
            let choice = choose(host, Language::C, platform, false)?;
            c::plan(p, platform, choice, work_dir, options, host, env)
        }
    }
}

fn choose(
    host: &Host<'_>,
    language: Language,
    platform: Platform,
    cgo: bool,
) -> Result<Choice, PlanError> {
    host.choose(language, platform, &|s: &Strategy| s.cgo == cgo)
        .map_err(|rejected| PlanError::NoStrategy {
            language,
            platform,
            cgo: if cgo { " with cgo" } else { "" },
            rejected,
        })
}

/// Refuses flags that mean nothing for the project's language, rather than ignoring them.
fn check_flags(project: &Project, options: &Options) -> Result<(), PlanError> {
    let found = project.language();
    let flags: [(&'static str, bool, Language); 5] = [
        ("--bin", options.bin.is_some(), Language::Rust),
        ("--package", options.package.is_some(), Language::Go),
        ("--cgo", options.cgo, Language::Go),
        ("--artifact", options.artifact.is_some(), Language::C),
        ("--make-target", options.make_target.is_some(), Language::C),
    ];
    for (flag, given, expected) in flags {
        if given && expected != found {
            return Err(PlanError::WrongFlag {
                flag,
                expected,
                found,
                root: project.root().to_owned(),
            });
        }
    }
    Ok(())
}

/// Binds `{cc}`/`{ar}`/`{cxx}` to wrapper scripts in `<work>/bin` for the choice's commands.
fn wrappers(choice: &mut Choice, work_dir: &Path) -> Vec<Wrapper> {
    let mut out = Vec::new();
    let drop = choice.strategy.cc_drop.clone();
    for (name, command, drop) in [
        ("cc", choice.cc.clone(), drop.clone()),
        ("ar", choice.ar.clone(), Vec::new()),
        ("cxx", choice.cxx.clone(), drop),
    ] {
        if let Some(command) = command {
            let path = work_dir.join("bin").join(name);
            choice.vars.set(name, path.display().to_string());
            out.push(Wrapper {
                path,
                command,
                drop,
                flags: Vec::new(),
                link_flags: Vec::new(),
            });
        }
    }
    out
}

/// The command a choice compiles and links C with: its `cc`, else the `CC` its environment
/// sets.
fn c_compiler(choice: &Choice, env: &BTreeMap<String, String>) -> Option<Vec<String>> {
    choice.cc.clone().or_else(|| {
        env.get("CC")
            .map(|cc| cc.split_whitespace().map(str::to_string).collect())
    })
}

/// Expands a strategy's `env` (over the user's) and `env_default` (under it).
fn strategy_env(
    strategy: &Strategy,
    vars: &Vars,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, PlanError> {
    let bad = |detail| PlanError::Template {
        entry: strategy.name.clone(),
        detail,
    };
    let mut out = BTreeMap::new();
    for (k, v) in &strategy.env_default {
        let k = vars.expand(k).map_err(bad)?;
        if env(&k).is_none() {
            out.insert(k, vars.expand(v).map_err(bad)?);
        }
    }
    for (k, v) in &strategy.env {
        out.insert(vars.expand(k).map_err(bad)?, vars.expand(v).map_err(bad)?);
    }
    Ok(out)
}

/// Expands a list of words of a strategy.
fn expand_list(
    strategy: &Strategy,
    vars: &Vars,
    words: &[String],
) -> Result<Vec<String>, PlanError> {
    vars.expand_args(words)
        .map_err(|detail| PlanError::Template {
            entry: strategy.name.clone(),
            detail,
        })
}

/// The summary with its variables filled in.
fn summary(choice: &Choice) -> String {
    choice
        .vars
        .expand(&choice.strategy.summary)
        .unwrap_or_else(|_| choice.strategy.summary.clone())
}

/// The built-in strategy `name` of `language`, bound for `platform` as if its programs were
/// found and zig ran as `zig` words.
#[cfg(test)]
pub(crate) fn test_choice(
    language: Language,
    name: &str,
    platform: Platform,
    zig: &[&str],
) -> Choice {
    let toolchains = crate::toolchain::Toolchains::load(None).expect("built-in data");
    let strategy = toolchains
        .strategies(language)
        .iter()
        .find(|s| s.name == name)
        .expect("strategy")
        .clone();
    let mut vars = crate::toolchain::probe::platform_vars(platform, &strategy);
    vars.set_list("zig", zig.iter().map(|w| w.to_string()).collect());
    let command =
        |c: &Option<Vec<String>>| c.as_ref().map(|c| vars.expand_args(c).expect("expands"));
    Choice {
        cc: command(&strategy.cc),
        ar: command(&strategy.ar),
        cxx: command(&strategy.cxx),
        strategy,
        vars,
    }
}
