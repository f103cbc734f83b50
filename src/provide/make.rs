//! Fetching a provided library's sources (a crate, through cargo) and building it once per
//! target, release and compiler command into the cache.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use cargo_metadata::MetadataCommand;
use sha2::{Digest as _, Sha256};

use super::{Found, Need, ProvideError, Rule, cache_root, fixes};
use crate::detect::rust::cargo_program;
use crate::exec::Cmd;
use crate::plan::{BuildPlan, ProvidedLibrary};
use crate::toolchain::probe::Host;
use crate::toolchain::template::Vars;
use crate::ui::Ui;

/// One library to provide for one build.
pub(super) struct Job<'a> {
    pub rule: &'a Rule,
    pub found: &'a Found,
    pub triple: &'a str,
    pub plan: &'a BuildPlan,
    pub project_root: &'a Path,
    pub offline: bool,
    pub cache_dir: &'a Path,
}

/// What providing a library gave.
pub(super) struct Provided {
    /// The variables for cargo.
    pub env: BTreeMap<String, String>,
    /// The library, for the SBOM.
    pub library: ProvidedLibrary,
    /// Whether it was built now (not found in the cache).
    pub built: bool,
}

/// Builds (or finds built) the library of `job`.
pub(super) fn provide(job: &Job<'_>, host: &Host<'_>, ui: &Ui) -> Result<Provided, ProvideError> {
    let rule = job.rule;
    let chain = &job.found.chain;
    let need = || {
        Box::new(Need {
            krate: rule.krate.clone(),
            library: rule.library.clone(),
            triple: job.triple.into(),
            chain: chain.clone(),
            fixes: fixes(rule, chain),
        })
    };
    let (crate_version, crate_dir) = fetch(job, ui).map_err(|why| ProvideError::Source {
        need: need(),
        source_crate: rule.source.clone(),
        why,
        offline: job.offline,
    })?;
    let version = release(&rule.version, &crate_version).unwrap_or(crate_version.clone());
    let library = ProvidedLibrary {
        library: rule.library.clone(),
        version: version.clone(),
        purl_name: rule.purl_name.clone(),
        source_crate: format!("{} {crate_version}", rule.source),
        for_crate: rule.krate.clone(),
    };
    let build_failed = |detail: String| ProvideError::Build {
        need: need(),
        version: version.clone(),
        detail,
    };
    let tools = compiler(job).map_err(&build_failed)?;
    let key = key(job, &crate_version, &tools);
    let root = cache_root(job.cache_dir);
    let done = root.join(format!(
        "{}-{version}-{}-{key}",
        rule.library.to_lowercase(),
        job.triple
    ));
    let prefix = done.join(&rule.prefix);
    let built = !done.is_dir();
    if built {
        let mut programs = BTreeMap::new();
        for program in &rule.requires {
            let Some(way) = host.program(program) else {
                return Err(ProvideError::MissingTool {
                    need: need(),
                    program: program.clone(),
                    install: host
                        .toolchains()
                        .tools
                        .get(program)
                        .map(|t| t.install.clone()),
                });
            };
            programs.insert(program.clone(), way);
        }
        ui.status(
            "Building",
            format_args!(
                "{} {version} for {} from `{}` {crate_version} (once: kept in `{}`)",
                rule.library,
                job.triple,
                rule.source,
                done.display()
            ),
        );
        let began = std::time::Instant::now();
        build(
            job,
            &crate_dir.join(&rule.source_dir),
            &done,
            &tools,
            &programs,
            ui,
        )
        .map_err(build_failed)?;
        ui.verbose(format_args!(
            "{} built in {:.1?}",
            rule.library,
            began.elapsed()
        ));
    }
    let mut vars = Vars::default();
    vars.set("TARGET", job.triple.to_uppercase().replace('-', "_"))
        .set("prefix", prefix.display().to_string());
    let mut env = BTreeMap::new();
    for (k, v) in &rule.env {
        let bad = |e: String| build_failed(format!("crates.toml: {e}"));
        env.insert(vars.expand(k).map_err(bad)?, vars.expand(v).map_err(bad)?);
    }
    Ok(Provided {
        env,
        library,
        built,
    })
}

/// The library's release from its crate's version, by the rule's `version` (`build:PREFIX`:
/// the build metadata after PREFIX).
fn release(rule: &str, crate_version: &str) -> Option<String> {
    let prefix = rule.strip_prefix("build:")?;
    let (_, build) = crate_version.split_once('+')?;
    build.strip_prefix(prefix).map(str::to_string)
}

/// The source crate's version and folder: resolved by cargo from a manifest that depends on
/// it alone, kept (with its lock file, so the release stays put) under the cache, and asked
/// from the project's folder, so its cargo configuration (a vendor folder) applies.
fn fetch(job: &Job<'_>, ui: &Ui) -> Result<(String, PathBuf), String> {
    let rule = job.rule;
    let dir = cache_root(job.cache_dir).join(format!("fetch-{}", rule.source));
    let manifest = dir.join("Cargo.toml");
    let text = format!(
        "# Written by static-image: resolves the crate whose sources it builds {library} from.\n\
         [package]\nname = \"static-image-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
         publish = false\n\n[lib]\npath = \"lib.rs\"\n\n[dependencies]\n{source} = \"{req}\"\n\n\
         [workspace]\n",
        library = rule.library,
        source = rule.source,
        req = rule.source_version,
    );
    let write = |path: &Path, text: &str| -> Result<(), String> {
        if fs::read_to_string(path).is_ok_and(|old| old == text) {
            return Ok(());
        }
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
    };
    write(&manifest, &text)?;
    write(&dir.join("lib.rs"), "")?;
    let mut cmd = Cmd::new(
        format!("cargo metadata (fetching `{}`)", rule.source),
        cargo_program(),
    )
    .args(["metadata", "--format-version", "1", "--manifest-path"])
    .arg(&manifest)
    .cwd(job.project_root);
    if job.offline {
        cmd = cmd.arg("--offline");
    }
    let json = cmd.capture(ui).map_err(|e| {
        // cargo's own reason ("no matching package named `openssl-src` found") is the line
        // that says it.
        let text = e.to_string();
        text.lines()
            .map(|l| l.trim_start_matches([' ', '|']).trim())
            .find(|l| l.starts_with("error:"))
            .map(|l| l.trim_start_matches("error:").trim().to_string())
            .unwrap_or_else(|| text.lines().next().unwrap_or_default().to_string())
    })?;
    let metadata = MetadataCommand::parse(json).map_err(|e| e.to_string())?;
    let package = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == rule.source)
        .ok_or_else(|| format!("cargo resolved no `{}`", rule.source))?;
    let folder = package
        .manifest_path
        .parent()
        .map(|p| p.as_std_path().to_owned())
        .ok_or("no folder")?;
    Ok((package.version.to_string(), folder))
}

/// The C compiler, archiver and ranlib of the build, as cargo's C builds get them.
struct Tools {
    cc: String,
    ar: String,
    /// What names them, for the cache key: a wrapper's command rather than its path.
    identity: Vec<String>,
}

/// The compiler the plan gives C code for the target (its `{cc}` wrapper), else the one the
/// user set for it, else the one cc-rs picks for a musl target (`<cpu>-linux-musl-gcc`, or
/// `musl-gcc`) or a glibc one (`cc`); the archiver likewise.
fn compiler(job: &Job<'_>) -> Result<Tools, String> {
    let triple = job.triple;
    let under = triple.replace('-', "_");
    let step_env = job
        .plan
        .steps
        .iter()
        .find(|s| s.description == "cargo build")
        .map(|s| s.env.clone())
        .unwrap_or_default();
    let lookup = |tool: &str| -> Option<String> {
        let keys = [
            format!("{tool}_{triple}"),
            format!("{tool}_{under}"),
            format!("TARGET_{tool}"),
        ];
        keys.iter().find_map(|k| {
            step_env
                .get(k)
                .cloned()
                .or_else(|| std::env::var(k).ok().filter(|v| !v.is_empty()))
        })
    };
    let cpu = triple.split('-').next().unwrap_or_default();
    let cc = match lookup("CC") {
        Some(cc) => cc,
        None if triple.ends_with("-musl") => [format!("{cpu}-linux-musl-gcc"), "musl-gcc".into()]
            .into_iter()
            .find(|c| which::which(c).is_ok())
            .ok_or_else(|| {
                format!("no C compiler for `{triple}` (`{cpu}-linux-musl-gcc`, `musl-gcc`)")
            })?,
        None => "cc".into(),
    };
    let ar = lookup("AR").unwrap_or_else(|| "ar".into());
    let identity = [&cc, &ar]
        .into_iter()
        .flat_map(
            |tool| match job.plan.wrappers.iter().find(|w| w.path == Path::new(tool)) {
                Some(w) => w.command.iter().chain(&w.drop).cloned().collect::<Vec<_>>(),
                None => vec![
                    which::which(tool).map_or_else(|_| tool.clone(), |p| p.display().to_string()),
                ],
            },
        )
        .collect();
    Ok(Tools { cc, ar, identity })
}

/// The cache key: the target, the sources' release, the compiler commands and the rule's build.
fn key(job: &Job<'_>, crate_version: &str, tools: &Tools) -> String {
    let mut hash = Sha256::new();
    let rule = job.rule;
    let words = [job.triple, crate_version, &rule.prefix]
        .into_iter()
        .map(str::to_string)
        .chain(tools.identity.iter().cloned())
        .chain(rule.build.iter().flatten().cloned());
    for word in words {
        hash.update(word.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs the rule's build in a copy of `source` and moves what it installed to `done`.
fn build(
    job: &Job<'_>,
    source: &Path,
    done: &Path,
    tools: &Tools,
    programs: &BTreeMap<String, Vec<String>>,
    ui: &Ui,
) -> Result<(), String> {
    // The compiler may be one of the plan's wrappers, which the build writes later.
    for wrapper in &job.plan.wrappers {
        crate::build::write_wrapper(wrapper).map_err(|e| e.to_string())?;
    }
    let name = done
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let work = done.with_file_name(format!("build-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    let src = work.join("src");
    let destdir = work.join("install");
    fs::create_dir_all(&work).map_err(|e| format!("cannot create `{}`: {e}", work.display()))?;
    let result = (|| {
        Cmd::new("copying the sources", "cp")
            .arg("-R")
            .arg(source)
            .arg(&src)
            .capture(ui)
            .map_err(|e| e.to_string())?;
        let mut vars = Vars::default();
        for (name, way) in programs {
            vars.set_list(name, way.clone());
        }
        let cpu = job.triple.split('-').next().unwrap_or_default();
        let target = job
            .rule
            .configure_target
            .get(cpu)
            .ok_or_else(|| format!("crates.toml names no `configure_target` for `{cpu}`"))?;
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        vars.set("configure_target", target.clone())
            .set("src", src.display().to_string())
            .set("destdir", destdir.display().to_string())
            .set("jobs", jobs.to_string());
        for step in &job.rule.build {
            let words = vars
                .expand_args(step)
                .map_err(|e| format!("crates.toml: {e}"))?;
            let Some((program, args)) = words.split_first() else {
                continue;
            };
            // The output is long (every compiler line); its tail is in the error if it fails.
            Cmd::new(format!("`{}`", words.join(" ")), program)
                .args(args)
                .cwd(&src)
                .env("CC", &tools.cc)
                .env("AR", &tools.ar)
                .env("RANLIB", format!("{} s", tools.ar))
                // Configure would prefix the compiler's name with it.
                .env("CROSS_COMPILE", "")
                .capture(ui)
                .map_err(|e| e.to_string())?;
        }
        if let Some(parent) = done.parent() {
            fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        match fs::rename(&destdir, done) {
            Ok(()) => Ok(()),
            // Another build of the same key finished first: its copy is the same.
            Err(_) if done.is_dir() => Ok(()),
            Err(e) => Err(format!(
                "cannot move the build to `{}`: {e}",
                done.display()
            )),
        }
    })();
    let _ = fs::remove_dir_all(&work);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_is_the_build_metadata() {
        assert_eq!(release("build:", "300.6.1+3.6.3").as_deref(), Some("3.6.3"));
        assert_eq!(release("build:", "300.6.1"), None);
    }
}
