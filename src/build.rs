//! Stage `build`: a [`BuildPlan`] → the path of the binary it produced.
//!
//! Writes the plan's wrapper scripts, refreshes its copy of the project, runs its steps (their
//! diagnostics live on stderr), then finds the artifact: from cargo's JSON messages (the
//! `compiler-artifact` message for our binary target names the executable, wherever profiles,
//! target dirs or config put it), at the path the build was told to write, or as the one
//! executable ELF file the build made.

mod artifact;
mod cargo;
mod failure;
mod files;
mod fresh;
mod probe_log;

pub use failure::StepFailure;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::exec::{Cmd, ExecError, Started};
use crate::plan::{ArtifactRule, BuildPlan, Facts, Mirror, Step, Wrapper};
use crate::ui::{Ui, backticked};
use cargo::executable_of;

/// Why a build produced no binary.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A step could not run or failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// cargo succeeded without reporting our executable.
    #[error("cargo finished but reported no executable for binary target `{bin}`")]
    NoArtifact {
        /// The target name.
        bin: String,
    },
    /// A build step failed: the step, the lines of its output that matter, and (from
    /// `toolchains/failures.toml`) what to do next (boxed: errors travel by value).
    #[error(transparent)]
    Step(Box<StepFailure>),
    /// The build did not write the file it was told to.
    #[error("the build finished but `{path}` does not exist")]
    Missing {
        /// The expected file.
        path: PathBuf,
    },
    /// The build made no executable.
    #[error("the build finished but made no executable under `{dir}`")]
    NoExecutable {
        /// Where we looked.
        dir: PathBuf,
    },
    /// The build made several; which one is the program is the user's call.
    #[error(
        "the build made several executables under `{dir}`: {}",
        backticked(found)
    )]
    SeveralExecutables {
        /// Where we looked.
        dir: PathBuf,
        /// Their paths relative to `dir`.
        found: Vec<String>,
    },
    /// The work directory could not be prepared.
    #[error("cannot prepare `{path}` for the build")]
    Prepare {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl BuildError {
    /// What the user can do about it, when there is something specific to say. A step's
    /// output is read here, by the stage that ran it, and nowhere else.
    pub fn help(&self) -> Option<String> {
        match self {
            BuildError::SeveralExecutables { found, .. } => Some(format!(
                "pick one with `--artifact`, e.g. `--artifact {}`",
                found.first().map(String::as_str).unwrap_or("PATH")
            )),
            BuildError::Step(failure) => failure.help.clone(),
            // A failure outside the plan's steps (stripping) is read the same way.
            BuildError::Exec(ExecError::Failed {
                stderr_tail, noted, ..
            }) => failure::diagnose(noted, stderr_tail, &failure::Context::default()).help,
            BuildError::Exec(ExecError::Spawn { .. }) => {
                Some("`static-image toolchains` shows which programs this machine has".into())
            }
            _ => None,
        }
    }
}

/// The file that says a step with `unless = file` succeeded here (in the work directory, beside
/// the wrappers, not in the project's copy).
fn done_stamp(plan: &BuildPlan, file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map_or_else(|| "step".into(), |n| n.to_string_lossy().into_owned());
    plan.work_dir.join("done").join(name)
}

/// The file that says a `once` step succeeded here: named by its place among the steps.
fn once_stamp(plan: &BuildPlan, index: usize) -> PathBuf {
    plan.work_dir.join("done").join(format!("step-{index}"))
}

/// Whether a `once` step's success, recorded in `stamp`, still holds: its program (when it is
/// a file of the build, `./configure`) is no newer than that success.
fn still_done(step: &Step, stamp: &Path) -> bool {
    let Ok(done) = fs::metadata(stamp).and_then(|m| m.modified()) else {
        return false;
    };
    if !step.program.contains('/') {
        return true;
    }
    fs::metadata(step.cwd.join(&step.program))
        .and_then(|m| m.modified())
        .is_ok_and(|changed| changed <= done)
}

/// Whether `file`, in the copy of the project, is the project's own (not a build product).
fn came_from_project(plan: &BuildPlan, file: &Path) -> bool {
    plan.mirror.as_ref().is_some_and(|m| {
        file.strip_prefix(&m.to)
            .is_ok_and(|rel| m.from.join(rel).exists())
    })
}

/// Runs the plan and returns the built executable's path.
pub fn build(plan: &BuildPlan, ui: &Ui) -> Result<PathBuf, BuildError> {
    build_from(plan, None, ui)
}

/// The command of a cargo step: cargo's stderr reaches ours through a pipe, so its colours are
/// asked for where ours show.
pub fn cargo_command(step: &Step, ui: &Ui) -> Cmd {
    let cmd = step.command().watch(failure::watched());
    if ui.stderr_colored() && std::env::var_os("CARGO_TERM_COLOR").is_none() {
        return cmd.env("CARGO_TERM_COLOR", "always");
    }
    cmd
}

/// What a build made: the plan's binary, and every executable cargo reported (by target
/// name), so the other programs one cargo command built are found without running it again.
pub struct Made {
    /// The plan's binary.
    pub artifact: PathBuf,
    /// Every binary target's executable cargo reported (none for other builds).
    pub executables: BTreeMap<String, PathBuf>,
}

/// [`build`], where `started` (if any) is the plan's cargo step, already running with its
/// output held (see `ahead`).
pub fn build_from(
    plan: &BuildPlan,
    started: Option<Started>,
    ui: &Ui,
) -> Result<PathBuf, BuildError> {
    build_made(plan, started, ui).map(|made| made.artifact)
}

/// [`build_from`], telling what else cargo built.
pub fn build_made(
    plan: &BuildPlan,
    mut started: Option<Started>,
    ui: &Ui,
) -> Result<Made, BuildError> {
    ui.status(
        "Compiling",
        format_args!(
            "`{}` for {} ({} `{}`)",
            plan.name, plan.platform, plan.language, plan.strategy
        ),
    );
    if fresh::refresh(plan)? {
        ui.verbose("the compiler or its flags changed since the last build: building afresh");
    }
    for wrapper in &plan.wrappers {
        write_wrapper(wrapper)?;
    }
    for file in &plan.files {
        files::write(file)?;
    }
    if let Some(mirror) = &plan.mirror {
        sync_mirror(mirror)?;
    }
    let mut executables = BTreeMap::new();
    let spinner = ui.spinner(
        "Building",
        &format!("`{}` for {}", plan.name, plan.platform),
    );
    for (index, step) in plan.steps.iter().enumerate() {
        let stamp = match &step.unless {
            Some(file) => Some(done_stamp(plan, file)),
            None => step.once.then(|| once_stamp(plan, index)),
        };
        if let Some(stamp) = &stamp {
            let done = match &step.unless {
                Some(file) => file.exists() && (came_from_project(plan, file) || stamp.exists()),
                None => still_done(step, stamp),
            };
            if done {
                continue;
            }
            // A bootstrap that fails half-way leaves its file behind (a broken `configure`):
            // only a success of ours, or the project's own file, counts.
            let _ = fs::remove_file(stamp);
        }
        fs::create_dir_all(&step.cwd).map_err(|source| BuildError::Prepare {
            path: step.cwd.clone(),
            source,
        })?;
        match &plan.artifact {
            ArtifactRule::CargoMessages { .. } => {
                let running = match started.take() {
                    Some(running) => running,
                    None => cargo_command(step, ui).start(ui)?,
                };
                running
                    .finish(ui, &mut |line| {
                        if let Some((name, path)) = executable_of(line) {
                            executables.insert(name, path);
                        }
                    })
                    .map_err(|f| failure::explain(plan, step, f))?;
            }
            _ => {
                let started = std::time::SystemTime::now();
                let ran = step.command().watch(failure::watched()).run(ui);
                if let Facts::C {
                    probe_log: Some(log),
                    ..
                } = &plan.facts
                    && let Some(report) = probe_log::report(log, started)
                {
                    ui.warn(report);
                }
                ran.map_err(|f| failure::explain(plan, step, f))?
            }
        }
        if let Some(stamp) = &stamp {
            let prepare = |source| BuildError::Prepare {
                path: stamp.clone(),
                source,
            };
            if let Some(dir) = stamp.parent() {
                fs::create_dir_all(dir).map_err(prepare)?;
            }
            fs::write(stamp, "").map_err(prepare)?;
        }
    }
    spinner.finish();
    let from_cargo = match &plan.artifact {
        ArtifactRule::CargoMessages { bin, .. } => executables.get(bin).cloned(),
        _ => None,
    };
    let artifact = finish(plan, from_cargo, ui)?;
    Ok(Made {
        artifact,
        executables,
    })
}

/// The binary of a plan whose build has just run for another plan with the same steps (another
/// program of one cargo command or one C build), which `made`: found by the plan's rule, and
/// stripped.
pub fn collect(plan: &BuildPlan, made: &Made, ui: &Ui) -> Result<PathBuf, BuildError> {
    let from_cargo = match &plan.artifact {
        ArtifactRule::CargoMessages { bin, .. } => made.executables.get(bin).cloned(),
        _ => None,
    };
    finish(plan, from_cargo, ui)
}

/// The built binary, found by the plan's rule and stripped as the plan says.
fn finish(plan: &BuildPlan, from_cargo: Option<PathBuf>, ui: &Ui) -> Result<PathBuf, BuildError> {
    let artifact = find_artifact(plan, from_cargo)?;
    if let Facts::C {
        strip: Some(strip), ..
    } = &plan.facts
        && let Some((program, args)) = strip.split_first()
    {
        Cmd::new("strip the program", program)
            .args(args)
            .arg(&artifact)
            .run(ui)?;
    }
    Ok(artifact)
}

/// The binary the build made, by the plan's rule.
fn find_artifact(plan: &BuildPlan, from_cargo: Option<PathBuf>) -> Result<PathBuf, BuildError> {
    match &plan.artifact {
        ArtifactRule::CargoMessages { bin, .. } => {
            from_cargo.ok_or_else(|| BuildError::NoArtifact { bin: bin.clone() })
        }
        ArtifactRule::File { path } => {
            if path.is_file() {
                Ok(path.clone())
            } else {
                Err(BuildError::Missing { path: path.clone() })
            }
        }
        ArtifactRule::NewExecutable {
            dir,
            copy_of,
            prefer,
        } => artifact::choose(
            dir,
            copy_of.as_deref(),
            prefer.as_deref(),
            plan.platform.elf_machine(),
        ),
    }
}

/// Writes a wrapper script, leaving an identical one untouched (CMake and make compare times).
pub(crate) fn write_wrapper(wrapper: &Wrapper) -> Result<(), BuildError> {
    let prepare = |source| BuildError::Prepare {
        path: wrapper.path.clone(),
        source,
    };
    let words: Vec<String> = wrapper.command.iter().map(|w| sh_quote(w)).collect();
    let mut script = String::from(
        "#!/bin/sh\n# Written by static-image: the compiler this build was planned with.\n",
    );
    if !wrapper.drop.is_empty() {
        // Rebuild "$@" without the dropped arguments (POSIX sh has no arrays).
        let patterns: Vec<String> = wrapper.drop.iter().map(|p| sh_pattern(p)).collect();
        script.push_str(&format!(
            "for arg in \"$@\"; do\n  shift\n  case \"$arg\" in\n    {}) ;;\n    *) set -- \"$@\" \"$arg\" ;;\n  esac\ndone\n",
            patterns.join("|")
        ));
    }
    script.push_str(DEP_TIME);
    let flags: Vec<String> = wrapper.flags.iter().map(|w| sh_quote(w)).collect();
    let command = words
        .iter()
        .chain(&flags)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if !wrapper.link_flags.is_empty() {
        // Link flags (`-static`, `-s`) only when a program is linked: compiling adds nothing,
        // and `-static` turns a shared object's link into a failed program link.
        let link: Vec<String> = wrapper.link_flags.iter().map(|w| sh_quote(w)).collect();
        script.push_str(&format!(
            "for arg in \"$@\"; do\n  case \"$arg\" in\n    {LINKLESS}) run {command} \"$@\" ;;\n  esac\ndone\nrun {command} \"$@\" {}\n",
            link.join(" ")
        ));
    } else {
        script.push_str(&format!("run {command} \"$@\"\n"));
    }
    if fs::read_to_string(&wrapper.path).is_ok_and(|old| old == script) {
        return Ok(());
    }
    if let Some(dir) = wrapper.path.parent() {
        fs::create_dir_all(dir).map_err(prepare)?;
    }
    fs::write(&wrapper.path, script).map_err(prepare)?;
    fs::set_permissions(&wrapper.path, fs::Permissions::from_mode(0o755)).map_err(prepare)
}

/// Gives a dependency file (`-MD`, `-MMD`, `-MF`, `-Wp,-MD,FILE`) its object's time. clang
/// (zig cc) writes it after the object, so a Makefile listing `X.d` as a prerequisite of `X.o`
/// (zstd's) would see every object out of date and rebuild them all on every run.
const DEP_TIME: &str = r#"obj= dep= md= prev=
for arg in "$@"; do
  case "$prev" in -o) obj=$arg ;; -MF) dep=$arg ;; esac
  case "$arg" in
    -MD|-MMD) md=1 ;;
    -MF?*) dep=${arg#-MF} ;;
    -Wp,-MD,*|-Wp,-MMD,*) md=1 dep=${arg#-Wp,-*D,} ;;
  esac
  prev=$arg
done
run() {
  if [ -z "$md" ] || [ -z "$obj" ]; then exec "$@"; fi
  "$@" || exit
  if [ -z "$dep" ]; then
    case ${obj##*/} in *.*) dep=${obj%.*}.d ;; *) dep=$obj.d ;; esac
  fi
  if [ -f "$dep" ] && [ -f "$obj" ]; then touch -r "$obj" "$dep"; fi
  exit 0
}
"#;

/// The arguments after which a compiler invocation links no program.
const LINKLESS: &str = "-c|-S|-E|-M|-MM|-shared|-r";

fn sh_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A `case` pattern matching `pattern` literally except for its `*`s.
fn sh_pattern(pattern: &str) -> String {
    pattern
        .split('*')
        .map(|piece| {
            if piece.is_empty() {
                String::new()
            } else {
                sh_quote(piece)
            }
        })
        .collect::<Vec<_>>()
        .join("*")
}

/// Brings the copy up to date: files whose size or modification time differ are copied with
/// their time, so make's and autotools' own up-to-date checks keep working. Build products in
/// the copy are left alone.
pub(crate) fn sync_mirror(mirror: &Mirror) -> Result<(), BuildError> {
    fn walk(from: &Path, to: &Path, skip: &[String], top: bool) -> Result<(), BuildError> {
        let prepare = |path: &Path| {
            let path = path.to_owned();
            move |source| BuildError::Prepare { path, source }
        };
        fs::create_dir_all(to).map_err(prepare(to))?;
        for entry in fs::read_dir(from).map_err(prepare(from))? {
            let entry = entry.map_err(prepare(from))?;
            let name = entry.file_name();
            if top && skip.iter().any(|s| *s == name.to_string_lossy()) {
                continue;
            }
            let (src, dest) = (entry.path(), to.join(&name));
            let meta = fs::symlink_metadata(&src).map_err(prepare(&src))?;
            if meta.is_dir() {
                walk(&src, &dest, skip, false)?;
            } else if meta.is_symlink() {
                let target = fs::read_link(&src).map_err(prepare(&src))?;
                if fs::read_link(&dest).ok().as_ref() != Some(&target) {
                    let _ = fs::remove_file(&dest);
                    std::os::unix::fs::symlink(&target, &dest).map_err(prepare(&dest))?;
                }
            } else if meta.is_file() {
                let same = fs::metadata(&dest).is_ok_and(|d| {
                    d.len() == meta.len() && d.modified().ok() == meta.modified().ok()
                });
                if !same {
                    fs::copy(&src, &dest).map_err(prepare(&dest))?;
                    let file = fs::File::options()
                        .write(true)
                        .open(&dest)
                        .map_err(prepare(&dest))?;
                    if let Ok(time) = meta.modified() {
                        file.set_modified(time).map_err(prepare(&dest))?;
                    }
                }
            }
        }
        Ok(())
    }
    walk(&mirror.from, &mirror.to, &mirror.skip, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_quote_their_command_and_pass_arguments_through() {
        let dir = tempfile::tempdir().unwrap();
        let wrapper = Wrapper {
            path: dir.path().join("bin/echo"),
            command: vec!["printf".into(), "%s|".into()],
            drop: vec!["--target=*".into(), "-x y".into()],
            flags: Vec::new(),
            link_flags: Vec::new(),
        };
        write_wrapper(&wrapper).unwrap();
        let out = std::process::Command::new(&wrapper.path)
            .args([
                "a b",
                "--target=aarch64-unknown-linux-musl",
                "-x y",
                "-x",
                "c*",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b|-x|c*|");
    }

    #[test]
    fn a_dependency_file_gets_its_objects_time() {
        let dir = tempfile::tempdir().unwrap();
        // A compiler that writes the object and then, later, the dependency file (as clang
        // does), and fails when asked to.
        let fake = dir.path().join("fake-cc");
        fs::write(
            &fake,
            "#!/bin/sh\nfor a; do case $a in fail) exit 3 ;; esac; done\n\
             touch -d @1000000 \"$DIR/a.o\"\ntouch -d @2000000 \"$DIR/$DEP\"\n",
        )
        .unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        let wrapper = Wrapper {
            path: dir.path().join("bin/cc"),
            command: vec![fake.display().to_string()],
            drop: Vec::new(),
            flags: vec!["-O2".into()],
            link_flags: vec!["-static".into()],
        };
        write_wrapper(&wrapper).unwrap();
        let mtime = |name: &str| {
            fs::metadata(dir.path().join(name))
                .unwrap()
                .modified()
                .unwrap()
        };
        let run = |dep: &str, args: &[&str]| {
            std::process::Command::new(&wrapper.path)
                .env("DIR", dir.path())
                .env("DEP", dep)
                .args(args)
                .status()
                .unwrap()
        };
        let obj = dir.path().join("a.o").display().to_string();
        let named = dir.path().join("named.d").display().to_string();
        let wp = format!("-Wp,-MD,{named}");
        for (dep, args) in [
            ("a.d", vec!["-MMD", "-c", "a.c", "-o", obj.as_str()]),
            (
                "named.d",
                vec!["-MD", "-MF", named.as_str(), "-c", "a.c", "-o", &obj],
            ),
            ("named.d", vec![wp.as_str(), "-c", "a.c", "-o", &obj]),
        ] {
            assert!(run(dep, &args).success());
            assert_eq!(mtime(dep), mtime("a.o"), "{args:?}");
        }
        // Without a dependency flag, the files are left as the compiler wrote them.
        assert!(run("a.d", &["-c", "a.c", "-o", &obj]).success());
        assert!(mtime("a.d") > mtime("a.o"));
        assert_eq!(run("a.d", &["-MMD", "-o", &obj, "fail"]).code(), Some(3));
    }

    #[test]
    fn the_mirror_copies_changes_and_keeps_build_products() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("p"), dir.path().join("copy"));
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::create_dir_all(from.join("target")).unwrap();
        fs::write(from.join("sub/a.c"), "one").unwrap();
        fs::write(from.join("target/out"), "skip me").unwrap();
        let mirror = Mirror {
            from: from.clone(),
            to: to.clone(),
            skip: vec!["target".into()],
        };
        sync_mirror(&mirror).unwrap();
        assert_eq!(fs::read_to_string(to.join("sub/a.c")).unwrap(), "one");
        assert!(!to.join("target").exists());
        fs::write(to.join("product.o"), "built").unwrap();
        fs::write(from.join("sub/a.c"), "two!").unwrap();
        sync_mirror(&mirror).unwrap();
        assert_eq!(fs::read_to_string(to.join("sub/a.c")).unwrap(), "two!");
        assert!(to.join("product.o").exists());
    }
}
