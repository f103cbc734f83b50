//! C: the compiler strategy's `{cc}`/`{ar}` wrappers, then the project's build system's steps
//! from `toolchains/c.toml`, run either in a copy of the project (`in = "source"`: make,
//! autotools) or in an empty build directory (`in = "build"`: CMake, bare `*.c`). Either way the
//! user's tree gets no build products. The artifact is `--artifact` (relative to where the
//! build ran), else the one executable the build made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    ArtifactRule, BuildPlan, Facts, MIRROR_SKIP, Mirror, Options, PlanError, ProbeLog, Step,
    Wrapper, c_compiler, expand_list, summary, wrappers,
};
use crate::detect::CProject;
use crate::platform::Platform;
use crate::toolchain::probe::{Choice, Host};
use crate::toolchain::{BuildIn, Language, Need};

pub(super) fn plan(
    project: &CProject,
    platform: Platform,
    mut choice: Choice,
    work_dir: PathBuf,
    options: &Options,
    host: &Host<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BuildPlan, PlanError> {
    let system = &project.build_system;
    let mut wrappers = wrappers(&mut choice, &work_dir);
    let (run_dir, mirror, src) = match system.location {
        BuildIn::Source => {
            let copy = work_dir.join("src");
            let mirror = Mirror {
                from: project.root.clone(),
                to: copy.clone(),
                skip: MIRROR_SKIP.iter().map(|s| s.to_string()).collect(),
            };
            (copy.clone(), Some(mirror), copy)
        }
        BuildIn::Build => (work_dir.join("build"), None, project.root.clone()),
    };
    let strategy = choice.strategy.clone();
    let mut cflags = expand_list(&strategy, &choice.vars, &strategy.cflags)?;
    // `__FILE__` (every `assert`) and debug info name sources by the path they were compiled
    // from: the project's, or its copy's, which differ from machine to machine. Both compilers
    // we drive (gcc ≥ 8, clang/zig) take the map; flags are joined by spaces, so a path with a
    // space is left alone.
    for dir in [&src, &run_dir] {
        let flag = format!("-ffile-prefix-map={}=.", dir.display());
        if !flag.contains(char::is_whitespace) && !cflags.contains(&flag) {
            cflags.push(flag);
        }
    }
    let ldflags = expand_list(&strategy, &choice.vars, &strategy.ldflags)?;
    // The compiler carries the strategy's flags itself, so a build system's own `CFLAGS` and
    // `LDFLAGS` (Lua's `-DLUA_USE_LINUX`) are left as the project wrote them: `-O2` goes first
    // (the project's later flags win), `-static` and stripping go last, on program links only.
    let bin = work_dir.join("bin");
    if let Some(cc) = wrappers.iter_mut().find(|w| w.path == bin.join("cc")) {
        cc.flags = cflags.clone();
        cc.link_flags = ldflags.clone();
    }
    // `ranlib` is `ar s` of the same archiver: a Makefile's `RANLIB= ranlib` on an archive of
    // another CPU's objects needs the target's archiver too.
    if let Some(ar) = wrappers.iter().find(|w| w.path == bin.join("ar")) {
        let mut command = ar.command.clone();
        command.push("s".into());
        wrappers.push(Wrapper {
            path: bin.join("ranlib"),
            command,
            drop: Vec::new(),
            flags: Vec::new(),
            link_flags: Vec::new(),
        });
    }
    // The C++ compiler of the same target, with the same flags, under the names make and
    // autoconf look for; without one here the host's `g++` would compile for the host.
    if let Some(words) = &strategy.cxx {
        let command = expand_list(&strategy, &choice.vars, words)?;
        if command.first().is_some_and(|p| host.program(p).is_some()) {
            for name in ["c++", "g++"] {
                wrappers.push(Wrapper {
                    path: bin.join(name),
                    command: command.clone(),
                    drop: Vec::new(),
                    flags: cflags.clone(),
                    link_flags: ldflags.clone(),
                });
            }
        }
    }
    // The wrappers come first on PATH as `cc`, `ar` and `ranlib`: a Makefile that names the
    // archiver with its own options (`AR= ar rcu`) runs ours with them, not the host's.
    let host_path = env("PATH")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let path = format!("{}:{host_path}", bin.display());
    // A strategy's own `ar` (musl-gcc's) would find its wrapper first on that PATH and run
    // itself forever: it is named by where it is.
    for wrapper in &mut wrappers {
        if let Some(program) = wrapper.command.first_mut()
            && SHADOWED.contains(&program.as_str())
            && let Ok(found) = which::which_in(program.as_str(), Some(&host_path), "/")
        {
            *program = found.display().to_string();
        }
    }
    let sources = project
        .sources
        .iter()
        .map(|s| rebase(s, &project.root, &src).display().to_string())
        .collect();
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut vars = choice.vars.clone();
    vars.set("src", src.display().to_string())
        .set("build", run_dir.display().to_string())
        .set("name", project.name.clone())
        .set("jobs", jobs.to_string())
        .set_list("cflags", cflags)
        .set_list("ldflags", ldflags)
        .set_list("sources", sources)
        .set_list("args", options.build_args.clone())
        .set_list("make_target", options.make_target.iter().cloned().collect())
        .set("build_cpu", std::env::consts::ARCH)
        .set(
            "build_triple",
            format!("{}-pc-linux-gnu", std::env::consts::ARCH),
        )
        .set("sysroot", work_dir.join("sysroot").display().to_string());

    let bad = |detail| PlanError::Template {
        entry: format!("build system `{}`", system.name),
        detail,
    };
    // The build system's own environment (`host_alias`, `CC`, `PKG_CONFIG_LIBDIR`) under the
    // wrappers' PATH; `env_default` entries only where the user's environment has none. An entry
    // naming what this strategy leaves unset (a user's strategy without `host`) is left out: the
    // names themselves were checked when the data was loaded.
    let mut step_env = BTreeMap::from([("PATH".to_string(), path)]);
    for (key, value) in &system.env_default {
        if let (Ok(key), Ok(value)) = (vars.expand(key), vars.expand(value))
            && env(&key).is_none()
        {
            step_env.insert(key, value);
        }
    }
    for (key, value) in &system.env {
        if let (Ok(key), Ok(value)) = (vars.expand(key), vars.expand(value)) {
            step_env.insert(key, value);
        }
    }
    let install_of = |program: &str| {
        host.toolchains()
            .tools
            .get(program)
            .map(|t| t.install.clone())
            .or_else(|| system.install.clone())
    };
    let mut steps = Vec::new();
    for spec in &system.steps {
        let words = vars.expand_args(spec.run()).map_err(bad)?;
        let Some((program, args)) = words.split_first() else {
            continue;
        };
        let unless = spec.unless().map(|f| run_dir.join(f));
        // Whether the step will run is known now for a copy: the copy has what the project has.
        let skipped = spec.unless().is_some_and(|f| project.root.join(f).exists());
        if !skipped && !program.contains('/') && host.program(program).is_none() {
            return Err(PlanError::MissingBuildTool {
                build_system: system.name.clone(),
                root: project.root.clone(),
                program: program.clone(),
                install: install_of(program),
            });
        }
        if !skipped {
            check_needs(project, spec.needs(), host, &install_of)?;
        }
        steps.push(Step {
            description: format!("{} ({})", system.name, step_name(program)),
            program: program.clone(),
            args: args.to_vec(),
            env: step_env.clone(),
            cwd: run_dir.clone(),
            unless,
            once: spec.once(),
        });
    }
    let probe_log = match &system.probe_log {
        Some(file) => Some(ProbeLog {
            file: file.clone(),
            dir: run_dir.clone(),
            host_dirs: vars
                .expand_args(&system.host_dirs)
                .map_err(bad)?
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            host: vars.expand("{host}").unwrap_or_default(),
        }),
        None => None,
    };
    // Stripping needs its program here; without it the link's own `-s` is what strips.
    let strip = match &strategy.strip {
        Some(words) => Some(expand_list(&strategy, &choice.vars, words)?)
            .filter(|w| w.first().is_some_and(|p| host.program(p).is_some())),
        None => None,
    };
    let artifact = match &options.artifact {
        Some(path) => ArtifactRule::File {
            path: run_dir.join(path),
        },
        None => ArtifactRule::NewExecutable {
            dir: run_dir.clone(),
            copy_of: mirror.as_ref().map(|m| m.from.clone()),
            prefer: Some(project.stem()),
        },
    };
    Ok(BuildPlan {
        language: Language::C,
        platform,
        strategy: strategy.name.clone(),
        summary: summary(&choice),
        libc: strategy.libc,
        name: project.name.clone(),
        work_dir,
        wrappers,
        files: Vec::new(),
        mirror,
        steps,
        artifact,
        facts: Facts::C {
            c_compiler: c_compiler(&choice, &Default::default()),
            program: project.stem(),
            make_targets: project.make_targets.clone(),
            strip,
            probe_log,
        },
    })
}

/// Refuses a step whose project uses a macro of a program this machine lacks (libtool's
/// `LT_INIT` without `libtoolize`): `autoreconf` would leave a `configure` that fails later,
/// far from the cause.
fn check_needs(
    project: &CProject,
    needs: &[Need],
    host: &Host<'_>,
    install_of: &dyn Fn(&str) -> Option<String>,
) -> Result<(), PlanError> {
    for need in needs {
        let Some((file, text)) = need.files.iter().find_map(|f| {
            std::fs::read_to_string(project.root.join(f))
                .ok()
                .map(|t| (f, t))
        }) else {
            continue;
        };
        let Some(word) = need.uses.iter().find(|w| uses_word(&text, w)) else {
            continue;
        };
        if host.program(&need.program).is_none() {
            return Err(PlanError::MissingBootstrapTool {
                root: project.root.clone(),
                program: need.program.clone(),
                why: format!("its `{file}` uses `{word}`"),
                install: install_of(&need.program),
            });
        }
    }
    Ok(())
}

/// Whether `word` appears in `text` as a whole word outside `dnl`/`#` comments.
fn uses_word(text: &str, word: &str) -> bool {
    text.lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.starts_with("dnl") && !l.starts_with('#'))
        .any(|l| {
            l.match_indices(word).any(|(i, _)| {
                let before = l[..i].chars().next_back();
                let after = l[i + word.len()..].chars().next();
                let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !part(before) && !part(after)
            })
        })
}

/// The programs the wrappers stand in for on a build's PATH.
const SHADOWED: [&str; 5] = ["cc", "ar", "ranlib", "c++", "g++"];

/// `src/x.c` under `from` → the same file under `to`.
fn rebase(path: &Path, from: &Path, to: &Path) -> PathBuf {
    path.strip_prefix(from)
        .map(|rel| to.join(rel))
        .unwrap_or_else(|_| path.to_owned())
}

/// A step's short name: the program's file name (`configure`, `make`, `cc`).
fn step_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolchain::Toolchains;
    use crate::ui::Ui;

    fn choice(_: &Toolchains, platform: Platform) -> Choice {
        crate::plan::test_choice(Language::C, "zig", platform, &["zig"])
    }

    fn project(toolchains: &Toolchains, system: &str) -> CProject {
        CProject {
            root: "/p/hello".into(),
            name: "hello".into(),
            build_system: Box::new(
                toolchains
                    .build_systems
                    .iter()
                    .find(|b| b.name == system)
                    .unwrap()
                    .clone(),
            ),
            sources: vec!["/p/hello/a.c".into(), "/p/hello/b.c".into()],
            make_targets: Vec::new(),
        }
    }

    #[test]
    fn cmake_builds_out_of_tree_with_the_wrapped_compiler() {
        let toolchains = Toolchains::load(None).unwrap();
        let ui = Ui::default();
        let host = Host::new(&toolchains, &ui, Path::new("/"));
        let plan = plan(
            &project(&toolchains, "cmake"),
            Platform::arm64(),
            choice(&toolchains, Platform::arm64()),
            "/p/hello/target/b/arm64".into(),
            &Options {
                build_args: vec!["-DWITH_X=ON".into()],
                ..Options::default()
            },
            &host,
            &|_| None,
        );
        let Ok(plan) = plan else {
            // cmake is not installed here; the error path is tested below.
            assert!(which::which("cmake").is_err());
            return;
        };
        let configure = &plan.steps[0];
        assert_eq!(configure.program, "cmake");
        assert!(
            configure
                .args
                .contains(&"-DCMAKE_C_COMPILER=/p/hello/target/b/arm64/bin/cc".to_string())
        );
        assert!(
            configure
                .args
                .contains(&"-DCMAKE_SYSTEM_PROCESSOR=aarch64".to_string())
        );
        assert!(
            configure.args.contains(
                &"-DCMAKE_C_FLAGS=-O2 -ffile-prefix-map=/p/hello=. \
              -ffile-prefix-map=/p/hello/target/b/arm64/build=."
                    .to_string()
            )
        );
        assert!(
            configure
                .args
                .contains(&"-DCMAKE_EXE_LINKER_FLAGS=-static -s".to_string())
        );
        assert_eq!(
            configure.args.last().map(String::as_str),
            Some("-DWITH_X=ON")
        );
        assert!(configure.args.contains(&"/p/hello".to_string()));
        assert!(plan.mirror.is_none());
        assert_eq!(
            configure.cwd,
            PathBuf::from("/p/hello/target/b/arm64/build")
        );
    }

    #[test]
    fn make_and_bare_builds_run_where_the_data_says() {
        let toolchains = Toolchains::load(None).unwrap();
        let ui = Ui::default();
        let host = Host::new(&toolchains, &ui, Path::new("/"));
        let bare = plan(
            &project(&toolchains, "bare"),
            Platform::amd64(),
            choice(&toolchains, Platform::amd64()),
            "/w".into(),
            &Options::default(),
            &host,
            &|_| None,
        )
        .unwrap();
        assert_eq!(
            bare.steps[0].args,
            [
                "-O2",
                "-ffile-prefix-map=/p/hello=.",
                "-ffile-prefix-map=/w/build=.",
                "-static",
                "-s",
                "-o",
                "/w/build/hello",
                "/p/hello/a.c",
                "/p/hello/b.c"
            ]
        );
        assert_eq!(bare.steps[0].program, "/w/bin/cc");
        // The SBOM asks the compiler itself which C library it links, not its wrapper.
        assert_eq!(bare.facts.c_compiler(), Some(&bare.wrappers[0].command[..]));
        assert_eq!(
            bare.wrappers[0].command,
            ["zig", "cc", "-target", "x86_64-linux-musl"]
        );
        if which::which("make").is_ok() {
            let make = plan(
                &project(&toolchains, "make"),
                Platform::amd64(),
                choice(&toolchains, Platform::amd64()),
                "/w".into(),
                &Options {
                    artifact: Some("out/hello".into()),
                    make_target: Some("all".into()),
                    ..Options::default()
                },
                &host,
                &|_| None,
            )
            .unwrap();
            assert_eq!(make.steps[0].cwd, PathBuf::from("/w/src"));
            // Only the compiler is set on make's command line: the Makefile's own `CFLAGS`,
            // `LDFLAGS` and `AR` stay; the wrapper carries ours.
            assert_eq!(make.steps[0].args[1..], ["CC=/w/bin/cc", "all"]);
            // A copy is built in place: its path is the one mapped.
            assert_eq!(
                make.wrappers[0].flags,
                ["-O2", "-ffile-prefix-map=/w/src=."]
            );
            assert_eq!(make.wrappers[0].link_flags, ["-static", "-s"]);
            let ranlib = make
                .wrappers
                .iter()
                .find(|w| w.path == Path::new("/w/bin/ranlib"));
            assert_eq!(ranlib.unwrap().command, ["zig", "ar", "s"]);
            assert_eq!(
                make.steps[0].env["PATH"],
                "/w/bin:/usr/local/bin:/usr/bin:/bin"
            );
            assert!(
                matches!(&make.artifact, ArtifactRule::File { path } if path == Path::new("/w/src/out/hello"))
            );
            assert_eq!(
                make.mirror.as_ref().map(|m| m.to.clone()),
                Some("/w/src".into())
            );
        }
    }

    #[test]
    fn autotools_configures_a_cross_build_that_sees_only_the_target() {
        if which::which("make").is_err() || which::which("autoreconf").is_err() {
            return;
        }
        let toolchains = Toolchains::load(None).unwrap();
        let ui = Ui::default();
        let host = Host::new(&toolchains, &ui, Path::new("/"));
        let planned = |user: Option<&str>| {
            let user = user.map(str::to_string);
            plan(
                &project(&toolchains, "autotools"),
                Platform::arm64(),
                choice(&toolchains, Platform::arm64()),
                "/w".into(),
                &Options::default(),
                &host,
                &move |k| (k == "PKG_CONFIG_LIBDIR").then(|| user.clone()).flatten(),
            )
            .unwrap()
        };
        let ours = planned(None);
        let configure = &ours.steps[1];
        let build = format!("--build={}-pc-linux-gnu", std::env::consts::ARCH);
        assert_eq!(
            configure.args[..2],
            [build.as_str(), "--host=aarch64-linux-musl"]
        );
        assert_eq!(configure.env["PKG_CONFIG_PATH"], "");
        assert_eq!(
            configure.env["PKG_CONFIG_LIBDIR"],
            "/w/sysroot/lib/pkgconfig:/w/sysroot/share/pkgconfig"
        );
        assert_eq!(configure.env["ac_cv_c_tclconfig"], "");
        assert_eq!(
            configure.unless,
            Some(PathBuf::from("/w/src/config.status"))
        );
        // A sysroot the user points pkg-config at is theirs: their variable is inherited.
        let theirs = planned(Some("/sysroots/arm64/lib/pkgconfig"));
        assert!(!theirs.steps[1].env.contains_key("PKG_CONFIG_LIBDIR"));
        assert_eq!(theirs.steps[1].env["PKG_CONFIG_PATH"], "");
        let Facts::C {
            probe_log: Some(log),
            ..
        } = &ours.facts
        else {
            panic!("no probe log: {:?}", ours.facts);
        };
        assert_eq!(log.dir, PathBuf::from("/w/src"));
        assert_eq!(log.host, "aarch64-linux-musl");
        assert!(log.host_dirs.contains(&PathBuf::from("/usr/include")));
    }

    #[test]
    fn a_macro_counts_as_a_whole_word_outside_comments() {
        let text =
            "dnl LT_INIT here is a comment\n# LT_INIT too\nAC_PROG_CC\n  LT_INIT([static])\n";
        assert!(uses_word(text, "LT_INIT"));
        assert!(!uses_word("dnl LT_INIT\nMY_LT_INIT_X\n", "LT_INIT"));
        assert!(!uses_word("LT_INITIALIZE\n", "LT_INIT"));
    }
}
