//! C libraries a crate's build script looks for on this machine, provided for the target before
//! cargo runs. openssl-sys without its `vendored` feature (what `reqwest`'s default features
//! pull in through native-tls) searches the host for OpenSSL, and the host's is neither musl's
//! nor, on another CPU, the target's: so a static OpenSSL is built here for the target, from the
//! sources of `openssl-src` (the crate openssl-sys's own `vendored` build uses), and handed to
//! the build script through the variables it reads. Which crates, which variables and which
//! fixes to print is data (`[[provide]]` in `toolchains/crates.toml`).

mod graph;
mod make;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::detect::RustProject;
use crate::plan::{BuildPlan, Facts};
use crate::request::ProjectRequest;
use crate::toolchain::probe::Host;
use crate::ui::Ui;

pub use graph::Found;

/// The built-in rules.
const CRATES: &str = include_str!("../../toolchains/crates.toml");

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    provide: Vec<Rule>,
}

/// One `[[provide]]` entry (see `toolchains/crates.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(rename = "crate")]
    krate: String,
    #[serde(default)]
    unless_features: Vec<String>,
    #[serde(default)]
    unless_env: Vec<String>,
    library: String,
    purl_name: String,
    source: String,
    source_version: String,
    source_dir: String,
    version: String,
    #[serde(default)]
    requires: Vec<String>,
    configure_target: BTreeMap<String, String>,
    prefix: String,
    build: Vec<Vec<String>>,
    env: BTreeMap<String, String>,
    #[serde(default)]
    fixes: Vec<Fix>,
}

/// A change to the project that makes the library unnecessary to provide.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fix {
    group: String,
    #[serde(rename = "crate")]
    krate: String,
    says: String,
    line: String,
}

fn rules() -> Vec<Rule> {
    // Built in and parsed by a unit test; a broken file provides nothing.
    toml::from_str::<File>(CRATES)
        .map(|f| f.provide)
        .unwrap_or_default()
}

/// What needs a library, for an error: the crate, the library, the target, how the crate is
/// pulled in and what to write in Cargo.toml instead.
#[derive(Debug)]
pub struct Need {
    /// The crate needing the library.
    pub krate: String,
    /// The library.
    pub library: String,
    /// The target.
    pub triple: String,
    /// From the binary's package to `krate`, with versions.
    pub chain: Vec<(String, String)>,
    /// The Cargo.toml changes that make providing it unnecessary.
    pub fixes: Vec<String>,
}

/// Why a library could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum ProvideError {
    /// The crate carrying the library's sources could not be had.
    #[error(
        "`{krate}` needs {library} for {triple}, and its sources (the crate `{source_crate}`) \
         could not be fetched: {why}\n  pulled in by: {chain}",
        krate = need.krate, library = need.library, triple = need.triple,
        chain = chain_text(&need.chain)
    )]
    Source {
        /// What needs it.
        need: Box<Need>,
        /// The crate with the sources.
        source_crate: String,
        /// cargo's answer.
        why: String,
        /// Whether cargo was offline (then fetching it on a connected machine also helps).
        offline: bool,
    },
    /// A program the library's build needs is missing.
    #[error(
        "building {library} for `{krate}` ({triple}) needs `{program}`, which is not on PATH\n  \
         pulled in by: {chain}",
        krate = need.krate, library = need.library, triple = need.triple,
        chain = chain_text(&need.chain)
    )]
    MissingTool {
        /// What needs it.
        need: Box<Need>,
        /// The program.
        program: String,
        /// How to install it.
        install: Option<String>,
    },
    /// The library's build failed.
    #[error(
        "building {library} {version} for {triple} (for `{krate}`) failed: {detail}",
        krate = need.krate, library = need.library, triple = need.triple
    )]
    Build {
        /// What needs it.
        need: Box<Need>,
        /// Its release.
        version: String,
        /// What failed.
        detail: String,
    },
}

fn chain_text(chain: &[(String, String)]) -> String {
    chain
        .iter()
        .map(|(name, _)| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(" → ")
}

impl ProvideError {
    /// The fixes in Cargo.toml, after what else helps.
    pub fn help(&self) -> Option<String> {
        let (need, first) = match self {
            ProvideError::Source {
                need,
                offline: true,
                source_crate,
                ..
            } => (
                need,
                format!(
                    "fetch `{source_crate}` into cargo's cache on a connected machine (a build \
                     there does), or vendor it (`cargo vendor`); or change Cargo.toml:"
                ),
            ),
            ProvideError::Source { need, .. } => (need, "change Cargo.toml:".into()),
            ProvideError::MissingTool {
                need,
                install,
                program,
            } => (
                need,
                format!(
                    "install `{program}`{}; or change Cargo.toml:",
                    install
                        .as_ref()
                        .map(|i| format!(": {i}"))
                        .unwrap_or_default()
                ),
            ),
            ProvideError::Build { need, .. } => (
                need,
                format!(
                    "or leave {}'s build to the crates by changing Cargo.toml:",
                    need.library
                ),
            ),
        };
        let mut out = vec![first];
        out.extend(need.fixes.iter().cloned());
        Some(out.join("\n      "))
    }
}

/// The fixes of `rule` for a crate pulled in by `chain`: per group, the first whose crate is on
/// the chain, its line written for the version there.
fn fixes(rule: &Rule, chain: &[(String, String)]) -> Vec<String> {
    let mut groups: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for fix in &rule.fixes {
        if groups.contains(&fix.group.as_str()) {
            continue;
        }
        let Some((_, version)) = chain.iter().find(|(name, _)| *name == fix.krate) else {
            continue;
        };
        groups.push(&fix.group);
        let line = fix.line.replace("{version}", &requirement(version));
        out.push(format!("{}: `{line}`", fix.says));
    }
    out
}

/// A resolved version as a caret requirement names its compatible releases: `0.10.82` → `0.10`,
/// `0.2.18` → `0.2`, `1.4.0` → `1`.
fn requirement(version: &str) -> String {
    let parts: Vec<&str> = version.split(['.', '+', '-']).collect();
    match parts.as_slice() {
        ["0", minor, ..] => format!("0.{minor}"),
        [major, ..] => (*major).to_string(),
        [] => version.to_string(),
    }
}

/// The variable `name` as the build script reads it for `triple`: `<TRIPLE>_NAME` first.
fn env_set(name: &str, triple: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let prefixed = format!("{}_{name}", triple.to_uppercase().replace('-', "_"));
    env(&prefixed)
        .map(|_| prefixed)
        .or(env(name).map(|_| name.to_string()))
}

/// Whether the project may use `krate`: its lock file (the nearest up from `root`, the
/// workspace's) lists every crate of every target, so one without it needs no graph asked for,
/// which keeps a build with nothing to do from paying for a `cargo metadata`.
fn may_use(root: &Path, krate: &str) -> bool {
    let Some(lock) = root
        .ancestors()
        .map(|d| d.join("Cargo.lock"))
        .find(|l| l.is_file())
    else {
        return true;
    };
    let line = format!("name = \"{krate}\"");
    std::fs::read_to_string(lock).map_or(true, |text| text.lines().any(|l| l.trim() == line))
}

/// Provides what the Rust `plan` needs (building it when it is not cached in `cache_dir`) and
/// adds the variables that hand it over to the plan's cargo step and the library to its facts.
/// Returns whether something was built now.
pub fn prepare(
    project: &RustProject,
    plan: &mut BuildPlan,
    request: &ProjectRequest,
    cache_dir: &Path,
    host: &Host<'_>,
    ui: &Ui,
) -> Result<bool, ProvideError> {
    let Facts::Rust { triple, bin, .. } = &plan.facts else {
        return Ok(false);
    };
    let rules: Vec<Rule> = rules()
        .into_iter()
        .filter(|r| may_use(&project.root, &r.krate))
        .collect();
    if rules.is_empty() {
        return Ok(false);
    }
    let features = crate::sbom::rust::feature_flags(&request.build_args);
    let query = graph::Query {
        manifest: &project.manifest_path,
        package: &bin.package,
        triple,
        features: &features,
        offline: request.offline,
    };
    let graph = match graph::Graph::ask(&query, ui) {
        Ok(graph) => graph,
        Err(why) => {
            // cargo's own build says the same with more context.
            ui.verbose(format_args!("the dependency graph is unknown ({why})"));
            return Ok(false);
        }
    };
    let triple = triple.clone();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut added: Vec<make::Provided> = Vec::new();
    for rule in &rules {
        let Some(found) = graph.find(&rule.krate) else {
            continue;
        };
        if let Some(on) = rule
            .unless_features
            .iter()
            .find(|f| found.features.contains(f))
        {
            ui.verbose(format_args!(
                "`{}` builds {} itself (feature `{on}`)",
                rule.krate, rule.library
            ));
            continue;
        }
        if let Some(var) = rule
            .unless_env
            .iter()
            .find_map(|v| env_set(v, &triple, &env))
        {
            ui.verbose(format_args!(
                "`{var}` is set: `{}` uses that {}",
                rule.krate, rule.library
            ));
            continue;
        }
        let job = make::Job {
            rule,
            found: &found,
            triple: &triple,
            plan,
            project_root: &project.root,
            offline: request.offline || env("CARGO_NET_OFFLINE").is_some_and(|v| v == "true"),
            cache_dir,
        };
        added.push(make::provide(&job, host, ui)?);
    }
    let built = added.iter().any(|a| a.built);
    let Some(step) = plan
        .steps
        .iter_mut()
        .find(|s| s.description == "cargo build")
    else {
        return Ok(built);
    };
    for provided in added {
        step.env.extend(provided.env);
        if let Facts::Rust { provided: list, .. } = &mut plan.facts {
            list.push(provided.library);
        }
    }
    Ok(built)
}

/// Where a provided library is kept: `<cache>/provided`.
pub fn cache_root(cache_dir: &Path) -> PathBuf {
    cache_dir.join("provided")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_rules_parse() {
        let rules: File = toml::from_str(CRATES).expect("crates.toml");
        let openssl = rules
            .provide
            .iter()
            .find(|r| r.krate == "openssl-sys")
            .expect("openssl-sys");
        assert_eq!(openssl.source, "openssl-src");
        assert!(openssl.configure_target.contains_key("aarch64"));
    }

    #[test]
    fn fixes_are_written_for_the_crates_on_the_chain() {
        let rule = rules()
            .into_iter()
            .find(|r| r.krate == "openssl-sys")
            .unwrap();
        let chain: Vec<(String, String)> = [
            ("app", "0.1.0"),
            ("reqwest", "0.12.24"),
            ("native-tls", "0.2.18"),
            ("openssl-sys", "0.9.118"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .to_vec();
        let fixes = fixes(&rule, &chain);
        assert_eq!(fixes.len(), 2, "{fixes:?}");
        // openssl is not on this chain: openssl-sys's own feature is the vendored fix.
        assert!(
            fixes[0].ends_with("`openssl-sys = { version = \"0.9\", features = [\"vendored\"] }`"),
            "{}",
            fixes[0]
        );
        assert!(fixes[1].ends_with(
            "`reqwest = { version = \"0.12\", default-features = false, features = [\"rustls-tls\"] }`"
        ));
        assert_eq!(
            chain_text(&chain),
            "`app` → `reqwest` → `native-tls` → `openssl-sys`"
        );
    }

    #[test]
    fn a_lock_file_without_the_crate_skips_the_graph() {
        let dir = tempfile::tempdir().unwrap();
        let member = dir.path().join("app");
        std::fs::create_dir_all(&member).unwrap();
        // No lock file yet: cargo is asked.
        assert!(may_use(&member, "openssl-sys"));
        std::fs::write(
            dir.path().join("Cargo.lock"),
            "[[package]]\nname = \"openssl-sys\"\nversion = \"0.9.118\"\n",
        )
        .unwrap();
        assert!(may_use(&member, "openssl-sys"));
        assert!(!may_use(&member, "openssl"));
    }

    #[test]
    fn requirements_are_caret_spelled() {
        assert_eq!(requirement("0.10.82"), "0.10");
        assert_eq!(requirement("1.4.0"), "1");
        assert_eq!(requirement("300.6.1+3.6.3"), "300");
    }

    #[test]
    fn the_target_prefixed_variable_is_read_first() {
        let env = |k: &str| (k == "AARCH64_UNKNOWN_LINUX_MUSL_OPENSSL_DIR").then(String::new);
        assert_eq!(
            env_set("OPENSSL_DIR", "aarch64-unknown-linux-musl", &env).as_deref(),
            Some("AARCH64_UNKNOWN_LINUX_MUSL_OPENSSL_DIR")
        );
        assert_eq!(
            env_set("OPENSSL_DIR", "x86_64-unknown-linux-musl", &env),
            None
        );
    }
}
