//! A C build's directory starts afresh when the build would compile differently: make and
//! autotools compare file times, not flags, so objects compiled by the previous run with
//! another compiler, other flags or other `configure` arguments would otherwise be linked into
//! this one. A run planned like the previous one keeps everything (a no-op build stays one).

use std::fs;
use std::path::{Path, PathBuf};

use super::BuildError;
use crate::plan::{BuildPlan, Facts};

/// The file in the work directory that holds how the last build there was planned.
const KEY_FILE: &str = "planned";

/// What decides how the build compiles: the strategy, the wrappers (compiler, archiver and
/// their flags) and the steps, without the `PATH` they run with (a new shell's `PATH` changes
/// no object).
fn key(plan: &BuildPlan) -> String {
    let steps: Vec<_> = plan
        .steps
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.env.remove("PATH");
            s
        })
        .collect();
    serde_json::json!({
        "strategy": plan.strategy,
        "wrappers": plan.wrappers,
        "steps": steps,
    })
    .to_string()
}

/// The directories a C build writes its objects in: the project's copy, or the build directory,
/// and the stamps of its bootstrap steps.
fn products(plan: &BuildPlan) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = plan.mirror.iter().map(|m| m.to.clone()).collect();
    for step in &plan.steps {
        if step.cwd.starts_with(&plan.work_dir) && !dirs.contains(&step.cwd) {
            dirs.push(step.cwd.clone());
        }
    }
    dirs.push(plan.work_dir.join("done"));
    dirs
}

/// Empties a C build's directories when `plan` compiles differently from the last build in its
/// work directory, then records how it compiles. Returns whether it emptied them.
pub fn refresh(plan: &BuildPlan) -> Result<bool, BuildError> {
    if !matches!(plan.facts, Facts::C { .. }) {
        return Ok(false);
    }
    let file = plan.work_dir.join(KEY_FILE);
    let key = key(plan);
    let previous = fs::read_to_string(&file).ok();
    if previous.as_deref() == Some(key.as_str()) {
        return Ok(false);
    }
    let prepare = |path: &Path| {
        let path = path.to_owned();
        move |source| BuildError::Prepare { path, source }
    };
    // No record (a first build, or one by an older version) is a difference too: nothing
    // says how what is there was compiled.
    let mut cleaned = false;
    for dir in products(plan) {
        match fs::remove_dir_all(&dir) {
            Ok(()) => cleaned = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(prepare(&dir)(e)),
        }
    }
    fs::create_dir_all(&plan.work_dir).map_err(prepare(&plan.work_dir))?;
    fs::write(&file, key).map_err(prepare(&file))?;
    Ok(cleaned)
}
