//! Go: `go build -trimpath -ldflags="…" -o <work>/<name> <package>`.
//!
//! The user's `-ldflags` and `-tags` (from GOFLAGS and after `--`) are merged into the
//! strategy's rather than replacing them, since `go build` keeps only the last `-ldflags` it is
//! given: `-- -ldflags=-X=main.version=1.2` still yields a stripped, static binary. A `vendor/`
//! folder builds with `-mod=vendor`; `--offline` also sets `GOPROXY=off` and
//! `GOTOOLCHAIN=local`, so a missing module or a newer `go` line fails instead of downloading.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    ArtifactRule, BuildPlan, Facts, Options, PlanError, Step, c_compiler, expand_list,
    strategy_env, summary, wrappers,
};
use crate::detect::GoProject;
use crate::platform::Platform;
use crate::toolchain::Language;
use crate::toolchain::probe::Choice;

pub(super) fn plan(
    project: &GoProject,
    platform: Platform,
    mut choice: Choice,
    work_dir: PathBuf,
    options: &Options,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BuildPlan, PlanError> {
    let package = project.select_package(options.package.as_deref())?;
    let name = project.program_name(&package);
    let out = work_dir.join(&name);
    let wrappers = wrappers(&mut choice, &work_dir);
    let strategy = &choice.strategy;

    let goflags = env("GOFLAGS").unwrap_or_default();
    let from_env = split_flags(goflags.split_whitespace().map(str::to_string));
    let from_args = split_flags(options.build_args.iter().cloned());
    let mut ldflags = expand_list(strategy, &choice.vars, &strategy.ldflags)?;
    ldflags.extend(from_env.ldflags.iter().chain(&from_args.ldflags).cloned());
    let mut tags = expand_list(strategy, &choice.vars, &strategy.tags)?;
    for tag in from_env.tags.iter().chain(&from_args.tags) {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    let user_sets_mod =
        from_env.rest.iter().chain(&from_args.rest).any(|f| {
            f.starts_with("-mod=") || f.starts_with("--mod=") || f == "-mod" || f == "--mod"
        });

    let mut args: Vec<String> = vec!["build".into(), "-trimpath".into()];
    if project.vendor && !user_sets_mod {
        args.push("-mod=vendor".into());
    }
    if !tags.is_empty() {
        args.push(format!("-tags={}", tags.join(",")));
    }
    let ldflags: Vec<String> = ldflags.iter().map(|w| go_quote(w)).collect();
    args.push(format!("-ldflags={}", ldflags.join(" ")));
    args.extend(from_args.rest);
    args.push("-o".into());
    args.push(out.display().to_string());
    args.push(package);

    let mut step_env = strategy_env(strategy, &choice.vars, env)?;
    if options.offline {
        step_env.insert("GOPROXY".into(), "off".into());
        step_env.insert("GOTOOLCHAIN".into(), "local".into());
    }
    let facts = Facts::Go {
        // Without cgo, a failed build asks which of its packages need cgo.
        cgo_check: (!options.cgo).then(|| cgo_check(&args, &step_env, &project.root)),
        c_compiler: c_compiler(&choice, &step_env),
    };
    Ok(BuildPlan {
        language: Language::Go,
        platform,
        strategy: strategy.name.clone(),
        summary: summary(&choice),
        libc: strategy.libc,
        name,
        work_dir,
        wrappers,
        files: Vec::new(),
        mirror: None,
        steps: vec![Step {
            description: "go build".into(),
            program: "go".into(),
            args,
            env: step_env,
            cwd: project.root.clone(),
            unless: None,
            once: false,
        }],
        artifact: ArtifactRule::File { path: out },
        facts,
    })
}

/// `go list` of the non-standard packages with cgo files among those the build (whose
/// arguments are `build_args`) compiles: in the build's environment with cgo on, under its
/// `-mod` and `-tags`.
fn cgo_check(build_args: &[String], env: &BTreeMap<String, String>, cwd: &Path) -> Step {
    let mut args: Vec<String> = vec![
        "list".into(),
        "-deps".into(),
        "-f".into(),
        "{{if and .CgoFiles (not .Standard)}}{{.ImportPath}}{{end}}".into(),
    ];
    args.extend(
        build_args
            .iter()
            .filter(|a| a.starts_with("-mod=") || a.starts_with("-tags="))
            .cloned(),
    );
    // The package built.
    args.extend(build_args.last().cloned());
    let mut env = env.clone();
    env.insert("CGO_ENABLED".into(), "1".into());
    Step {
        description: "go list (cgo check)".into(),
        program: "go".into(),
        args,
        env,
        cwd: cwd.to_owned(),
        unless: None,
        once: false,
    }
}

/// Go build flags split into the ones merged (`-ldflags`, `-tags`) and the rest.
#[derive(Debug, Default, PartialEq)]
struct Flags {
    ldflags: Vec<String>,
    tags: Vec<String>,
    rest: Vec<String>,
}

/// Splits flags as `go build` parses them: `-flag=value` or `-flag value`, one or two dashes.
fn split_flags(words: impl IntoIterator<Item = String>) -> Flags {
    let mut flags = Flags::default();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let bare = word.trim_start_matches('-');
        let (name, inline) = match bare.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (bare, None),
        };
        let dashed = word.starts_with('-');
        match name {
            "ldflags" | "tags" if dashed => {
                let Some(value) = inline.or_else(|| words.next()) else {
                    flags.rest.push(word);
                    continue;
                };
                if name == "ldflags" {
                    flags.ldflags.extend(quoted_words(&value));
                } else {
                    flags.tags.extend(
                        value
                            .split([',', ' '])
                            .filter(|t| !t.is_empty())
                            .map(str::to_string),
                    );
                }
            }
            _ => flags.rest.push(word),
        }
    }
    flags
}

/// Splits an `-ldflags` value into words the way the go command does: spaces separate,
/// single or double quotes group.
fn quoted_words(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut started = false;
    for c in value.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => word.push(c),
        }
    }
    if started || !word.is_empty() {
        words.push(word);
    }
    words
}

/// Quotes a word for the go command's own splitting (the inverse of [`quoted_words`]).
fn go_quote(word: &str) -> String {
    if !word.is_empty() && !word.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
        word.to_string()
    } else if word.contains('\'') {
        format!("\"{word}\"")
    } else {
        format!("'{word}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(vendor: bool) -> GoProject {
        GoProject {
            root: "/m".into(),
            module: "example.com/app".into(),
            go_version: Some("1.22".into()),
            vendor,
            mains: vec![".".into()],
        }
    }

    fn choice(name: &str, platform: Platform) -> Choice {
        crate::plan::test_choice(Language::Go, name, platform, &["python3", "-m", "ziglang"])
    }

    #[test]
    fn pure_go_build_is_static_stripped_and_reproducible() {
        let plan = plan(
            &project(false),
            Platform::arm64(),
            choice("go", Platform::arm64()),
            "/m/target/w".into(),
            &Options::default(),
            &|_| None,
        )
        .unwrap();
        let step = &plan.steps[0];
        assert_eq!(
            step.args,
            [
                "build",
                "-trimpath",
                "-ldflags=-s -w -buildid=",
                "-o",
                "/m/target/w/app",
                "."
            ]
        );
        let env: Vec<_> = step.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(env, ["CGO_ENABLED=0", "GOARCH=arm64", "GOOS=linux"]);
        assert!(matches!(&plan.artifact, ArtifactRule::File { path } if path.ends_with("app")));
    }

    #[test]
    fn a_build_without_cgo_plans_its_cgo_check_in_its_own_environment() {
        let options = Options {
            build_args: vec!["-tags=json1".into()],
            ..Options::default()
        };
        let plan = plan(
            &project(true),
            Platform::amd64(),
            choice("go", Platform::amd64()),
            "/w".into(),
            &options,
            &|_| None,
        )
        .unwrap();
        let Facts::Go {
            cgo_check: Some(check),
            ..
        } = &plan.facts
        else {
            panic!("no cgo check: {:?}", plan.facts)
        };
        assert_eq!(
            check.args,
            [
                "list",
                "-deps",
                "-f",
                "{{if and .CgoFiles (not .Standard)}}{{.ImportPath}}{{end}}",
                "-mod=vendor",
                "-tags=json1",
                "."
            ]
        );
        assert_eq!(check.cwd, plan.steps[0].cwd);
        assert_eq!(check.env["CGO_ENABLED"], "1");
        assert_eq!(check.env["GOARCH"], "amd64");
        // With cgo there is nothing to check.
        let options = Options {
            cgo: true,
            ..Options::default()
        };
        let cgo = super::plan(
            &project(false),
            Platform::amd64(),
            choice("cgo-zig", Platform::amd64()),
            "/w".into(),
            &options,
            &|_| None,
        )
        .unwrap();
        assert!(matches!(
            cgo.facts,
            Facts::Go {
                cgo_check: None,
                ..
            }
        ));
        assert!(cgo.facts.c_compiler().is_some());
    }

    #[test]
    fn user_ldflags_and_tags_are_added_to_ours_not_replacing_them() {
        let options = Options {
            build_args: vec![
                "-ldflags".into(),
                "-X 'main.greeting=hi there'".into(),
                "--tags=json1".into(),
                "-v".into(),
            ],
            offline: true,
            ..Options::default()
        };
        let goflags =
            |k: &str| (k == "GOFLAGS").then(|| "-ldflags=-X=main.v=1 -tags=a,b".to_string());
        let plan = plan(
            &project(true),
            Platform::amd64(),
            choice("cgo-zig", Platform::amd64()),
            "/w".into(),
            &options,
            &goflags,
        )
        .unwrap();
        let step = &plan.steps[0];
        assert_eq!(
            step.args,
            [
                "build",
                "-trimpath",
                "-mod=vendor",
                "-tags=osusergo,netgo,a,b,json1",
                "-ldflags=-s -w -buildid= -linkmode=external -extldflags=-static -X=main.v=1 -X 'main.greeting=hi there'",
                "-v",
                "-o",
                "/w/app",
                "."
            ]
        );
        assert_eq!(step.env.get("CC").map(String::as_str), Some("/w/bin/cc"));
        assert_eq!(step.env.get("GOPROXY").map(String::as_str), Some("off"));
        assert_eq!(
            step.env.get("GOTOOLCHAIN").map(String::as_str),
            Some("local")
        );
        assert_eq!(
            plan.wrappers[0].command,
            [
                "python3",
                "-m",
                "ziglang",
                "cc",
                "-target",
                "x86_64-linux-musl"
            ]
        );
    }

    #[test]
    fn ldflags_words_split_like_the_go_command() {
        assert_eq!(
            quoted_words(r#"-X "main.a=b c" -s  '' -w"#),
            ["-X", "main.a=b c", "-s", "", "-w"]
        );
        let f = split_flags(["-mod=mod".to_string(), "-tags".to_string()]);
        assert_eq!(f.rest, ["-mod=mod", "-tags"]);
    }
}
