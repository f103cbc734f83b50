//! Stage `build`: a [`BuildPlan`] → the path of the binary it produced.
//!
//! Runs the planned cargo command, shows its diagnostics live on stderr, and reads its JSON
//! messages from stdout: the `compiler-artifact` message for our binary target names the
//! executable, wherever profiles, target dirs or config put it.

use std::path::PathBuf;

use cargo_metadata::{Message, TargetKind};

use crate::exec::ExecError;
use crate::plan::BuildPlan;
use crate::ui::Ui;

/// Why a build produced no binary.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// cargo could not run or failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// cargo succeeded without reporting our executable.
    #[error("cargo finished but reported no executable for binary target `{bin}`")]
    NoArtifact {
        /// The target name.
        bin: String,
    },
}

/// Runs the plan and returns the built executable's path.
pub fn build(plan: &BuildPlan, ui: &Ui) -> Result<PathBuf, BuildError> {
    ui.status(
        "Compiling",
        format_args!("`{}` for {} ({})", plan.bin, plan.platform, plan.target),
    );
    let mut artifact = None;
    plan.command().stream(ui, &mut |line| {
        if let Some(path) = executable_in(line, &plan.bin) {
            artifact = Some(path);
        }
    })?;
    artifact.ok_or_else(|| BuildError::NoArtifact {
        bin: plan.bin.clone(),
    })
}

/// The executable a cargo JSON message reports for binary target `bin`, if it is that message.
fn executable_in(line: &str, bin: &str) -> Option<PathBuf> {
    match serde_json::from_str::<Message>(line).ok()? {
        Message::CompilerArtifact(a)
            if a.target.name == bin && a.target.kind.contains(&TargetKind::Bin) =>
        {
            a.executable.map(|p| p.into_std_path_buf())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_executable_of_our_bin_only() {
        let message = |name: &str, kind: &str, exe: &str| {
            format!(
                r#"{{"reason":"compiler-artifact","package_id":"path+file:///p#x@0.1.0","manifest_path":"/p/Cargo.toml","target":{{"kind":["{kind}"],"crate_types":["{kind}"],"name":"{name}","src_path":"/p/src/main.rs","edition":"2021","doc":true,"doctest":false,"test":true}},"profile":{{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false}},"features":[],"filenames":["{exe}"],"executable":{exe_json},"fresh":true}}"#,
                exe_json = if exe.is_empty() {
                    "null".to_string()
                } else {
                    format!("\"{exe}\"")
                }
            )
        };
        let ours = message("hello", "bin", "/p/target/x/release/hello");
        assert_eq!(
            executable_in(&ours, "hello"),
            Some(PathBuf::from("/p/target/x/release/hello"))
        );
        assert_eq!(executable_in(&ours, "other"), None);
        assert_eq!(executable_in(&message("hello", "lib", ""), "hello"), None);
        assert_eq!(executable_in("not json", "hello"), None);
        assert_eq!(
            executable_in(r#"{"reason":"build-finished","success":true}"#, "hello"),
            None
        );
    }
}
