//! Probing the host: which strategy can build a language for a platform here.
//!
//! A program is found with `which` (tools from `tools.toml` also have to answer their `check`
//! arguments); a Rust target counts when its standard library is in the sysroot of the rustc
//! cargo will use. Answers are cached for the run. The first strategy with nothing missing is
//! chosen; when none is, every strategy tried is returned with what it lacks and how to get it.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::template::Vars;
use super::{Language, Strategy, Toolchains};
use crate::exec::Cmd;
use crate::platform::Platform;
use crate::ui::Ui;

/// The machine builds run on, asked lazily.
pub struct Host<'a> {
    /// The machine's platform, if it is a supported one.
    pub platform: Option<Platform>,
    toolchains: &'a Toolchains,
    ui: &'a Ui,
    /// Where rustc is asked from (a project's rust-toolchain file picks its toolchain).
    rust_dir: PathBuf,
    programs: RefCell<HashMap<String, Option<Vec<String>>>>,
    sysroot: OnceCell<Option<PathBuf>>,
}

/// The sysroot of the rustc that cargo would run in `dir` (where rust-toolchain files pick
/// the toolchain), if rustc answers.
pub fn rust_sysroot(dir: &Path, ui: &Ui) -> Option<PathBuf> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Cmd::new("rustc --print sysroot", rustc)
        .args(["--print", "sysroot"])
        .cwd(dir)
        .capture(ui)
        .ok()
        .map(|s| PathBuf::from(s.trim()))
}

/// A strategy chosen for a platform, with its variables bound.
#[derive(Clone, Debug)]
pub struct Choice {
    /// The strategy.
    pub strategy: Strategy,
    /// `{cpu}`, `{arch}`, `{zig}`, `{rust_target}`, `{host}`… for this platform.
    pub vars: Vars,
    /// The C compiler command, expanded.
    pub cc: Option<Vec<String>>,
    /// The archiver command, expanded.
    pub ar: Option<Vec<String>>,
    /// The C++ compiler command, expanded.
    pub cxx: Option<Vec<String>>,
}

/// A strategy that cannot build here, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Rejected {
    /// Its name.
    pub strategy: String,
    /// What is missing or does not fit.
    pub reasons: Vec<String>,
    /// How to install what it needs.
    pub install: String,
}

impl<'a> Host<'a> {
    /// A host whose rustc is asked from `rust_dir`.
    pub fn new(toolchains: &'a Toolchains, ui: &'a Ui, rust_dir: &Path) -> Host<'a> {
        Host {
            platform: toolchains.platforms.host(),
            toolchains,
            ui,
            rust_dir: rust_dir.to_owned(),
            programs: RefCell::default(),
            sysroot: OnceCell::new(),
        }
    }

    /// How to run `name` here: a tool's first working way, or the program on PATH.
    pub fn program(&self, name: &str) -> Option<Vec<String>> {
        if let Some(found) = self.programs.borrow().get(name) {
            return found.clone();
        }
        let found = match self.toolchains.tools.get(name) {
            Some(tool) => tool
                .run
                .iter()
                .find(|way| self.works(way, &tool.check))
                .cloned(),
            None => which::which(name).ok().map(|_| vec![name.to_string()]),
        };
        self.programs
            .borrow_mut()
            .insert(name.to_string(), found.clone());
        found
    }

    fn works(&self, way: &[String], check: &[String]) -> bool {
        let Some((program, rest)) = way.split_first() else {
            return false;
        };
        if which::which(program).is_err() {
            return false;
        }
        // `python3` exists on most machines; `python3 -m ziglang` only where the module is.
        check.is_empty()
            || Cmd::new(format!("`{}` probe", way.join(" ")), program)
                .args(rest)
                .args(check)
                .capture(self.ui)
                .is_ok()
    }

    /// Whether the Rust standard library for `triple` is installed for the project's rustc.
    pub fn rust_target_installed(&self, triple: &str) -> bool {
        self.rust_libdir(triple).is_some_and(|d| d.is_dir())
    }

    /// Where the standard library for `triple` lives (or would).
    pub fn rust_libdir(&self, triple: &str) -> Option<PathBuf> {
        self.sysroot
            .get_or_init(|| rust_sysroot(&self.rust_dir, self.ui))
            .as_ref()
            .map(|s| s.join("lib/rustlib").join(triple).join("lib"))
    }

    /// The toolchain data it probes for.
    pub fn toolchains(&self) -> &'a Toolchains {
        self.toolchains
    }

    /// Gives the sysroot of the project's rustc, asked elsewhere (beside `cargo metadata`),
    /// so that no probe asks again. Ignored once it is known.
    pub fn set_sysroot(&self, sysroot: Option<PathBuf>) {
        let _ = self.sysroot.set(sysroot);
    }

    /// The sysroot, if it was asked for this run.
    pub fn known_sysroot(&self) -> Option<Option<PathBuf>> {
        self.sysroot.get().cloned()
    }

    /// The first strategy of `language` that builds for `platform` here and that `accept`s.
    pub fn choose(
        &self,
        language: Language,
        platform: Platform,
        accept: &dyn Fn(&Strategy) -> bool,
    ) -> Result<Choice, Vec<Rejected>> {
        let mut rejected = Vec::new();
        for strategy in self.toolchains.strategies(language) {
            if !accept(strategy) {
                continue;
            }
            let vars = platform_vars(platform, strategy);
            let expand = |t: &str| vars.expand(t).unwrap_or_else(|_| t.to_string());
            let mut reasons = Vec::new();
            if !strategy.platforms.is_empty() && !strategy.platforms.contains(&platform) {
                reasons.push(format!("not for {platform}"));
            }
            if strategy.host_only && self.platform != Some(platform) {
                reasons.push(match self.platform {
                    Some(h) => format!("builds only for this machine's platform ({h})"),
                    None => "builds only for this machine's platform".to_string(),
                });
            }
            if reasons.is_empty() {
                for program in &strategy.requires {
                    let program = expand(program);
                    if self.program(&program).is_none() {
                        reasons.push(format!("`{program}` not found"));
                    }
                }
                if let Some(target) = &strategy.rust_target {
                    let target = expand(target);
                    if !self.rust_target_installed(&target) {
                        reasons.push(format!(
                            "the Rust standard library for `{target}` is not installed"
                        ));
                    }
                }
            }
            if reasons.is_empty() {
                return Ok(self.bind(strategy, vars));
            }
            rejected.push(Rejected {
                strategy: strategy.name.clone(),
                reasons,
                install: expand(&strategy.install),
            });
        }
        Err(rejected)
    }

    /// Binds the tool variables and expands the compiler commands.
    fn bind(&self, strategy: &Strategy, mut vars: Vars) -> Choice {
        // Probing a tool can cost a process start (`python3 -m ziglang version`): only the
        // tools this strategy's templates name are looked up.
        let texts: Vec<&String> = strategy
            .cc
            .iter()
            .flatten()
            .chain(strategy.ar.iter().flatten())
            .chain(strategy.cxx.iter().flatten())
            .chain(strategy.env.values())
            .chain(strategy.env_default.values())
            .chain(&strategy.cflags)
            .chain(&strategy.ldflags)
            .collect();
        for tool in self.toolchains.tools.keys() {
            let named = format!("{{{tool}}}");
            if super::template::KNOWN.contains(&tool.as_str())
                && texts.iter().any(|t| t.contains(&named))
                && let Some(way) = self.program(tool)
            {
                vars.set_list(tool, way);
            }
        }
        let command = |c: &Option<Vec<String>>| c.as_ref().and_then(|c| vars.expand_args(c).ok());
        Choice {
            strategy: strategy.clone(),
            cc: command(&strategy.cc),
            ar: command(&strategy.ar),
            cxx: command(&strategy.cxx),
            vars,
        }
    }
}

/// The variables every template of `strategy` may use for `platform`.
pub fn platform_vars(platform: Platform, strategy: &Strategy) -> Vars {
    let mut vars = Vars::default();
    vars.set("cpu", platform.cpu())
        .set("rust_cpu", platform.rust_cpu())
        .set("cpu_debian", platform.cpu().replace('_', "-"))
        .set("arch", platform.arch());
    if let Some(target) = &strategy.rust_target
        && let Ok(target) = vars.expand(target)
    {
        vars.set(
            "TARGET",
            target.to_ascii_uppercase().replace(['-', '.'], "_"),
        )
        .set("rust_target", target);
    }
    if let Some(host) = &strategy.host
        && let Ok(host) = vars.expand(host)
    {
        vars.set("host", host);
    }
    vars
}

/// One cell of `static-image toolchains`: a language and platform, and what builds it.
#[derive(Clone, Debug, Serialize)]
pub struct TableRow {
    /// The language.
    pub language: Language,
    /// The platform.
    pub platform: Platform,
    /// Whether this serves cgo builds (Go only).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cgo: bool,
    /// The chosen strategy, if any.
    pub strategy: Option<String>,
    /// Its summary.
    pub summary: Option<String>,
    /// The C compiler it runs, if any.
    pub cc: Option<String>,
    /// Strategies passed over before it (or all, if none fits), with why.
    pub rejected: Vec<Rejected>,
}

/// A program from `tools.toml`: how it runs here, or how to install it.
#[derive(Clone, Debug, Serialize)]
pub struct ToolRow {
    /// Its name.
    pub name: String,
    /// The way it runs here (`python3 -m ziglang`), if any works.
    pub found: Option<String>,
    /// How to install it.
    pub install: String,
}

/// Every program of `tools.toml`, found or not: what builds need beyond a compiler.
pub fn tools(host: &Host<'_>) -> Vec<ToolRow> {
    host.toolchains()
        .tools
        .iter()
        .map(|(name, spec)| ToolRow {
            name: name.clone(),
            found: host.program(name).map(|way| way.join(" ")),
            install: spec.install.clone(),
        })
        .collect()
}

/// Every language × platform (and Go with cgo), with the strategy chosen here.
pub fn table(host: &Host<'_>) -> Vec<TableRow> {
    let mut rows = Vec::new();
    for language in Language::ALL {
        let variants: &[bool] = if language == Language::Go {
            &[false, true]
        } else {
            &[false]
        };
        for &cgo in variants {
            for platform in host.toolchains().platforms.all() {
                let accept = |s: &Strategy| s.cgo == cgo;
                let (strategy, summary, cc, rejected) =
                    match host.choose(language, platform, &accept) {
                        Ok(choice) => {
                            let vars = &choice.vars;
                            let passed: Vec<Rejected> = host.choose_all_before(
                                language,
                                platform,
                                &choice.strategy.name,
                                &accept,
                            );
                            (
                                Some(choice.strategy.name.clone()),
                                vars.expand(&choice.strategy.summary).ok(),
                                choice.cc.as_ref().map(|c| c.join(" ")),
                                passed,
                            )
                        }
                        Err(rejected) => (None, None, None, rejected),
                    };
                rows.push(TableRow {
                    language,
                    platform,
                    cgo,
                    strategy,
                    summary,
                    cc,
                    rejected,
                });
            }
        }
    }
    rows
}

impl Host<'_> {
    /// The strategies before `chosen` that were passed over, with why.
    fn choose_all_before(
        &self,
        language: Language,
        platform: Platform,
        chosen: &str,
        accept: &dyn Fn(&Strategy) -> bool,
    ) -> Vec<Rejected> {
        let before: Vec<&Strategy> = self
            .toolchains
            .strategies(language)
            .iter()
            .take_while(|s| s.name != chosen)
            .collect();
        let only_before = |s: &Strategy| accept(s) && before.iter().any(|b| b.name == s.name);
        self.choose(language, platform, &only_before)
            .err()
            .unwrap_or_default()
    }
}
