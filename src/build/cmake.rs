//! CMake's "compiler changed" reconfigure failure in a cargo build: when a crate's build folder
//! holds a CMake configuration made with another compiler path, CMake deletes its cache and
//! configures again, which some projects cannot do in a used folder.

/// Whether a failed cargo build's stderr shows CMake throwing away a build folder's cache
/// because the compiler changed (it then reconfigures, which some projects, aws-lc among them,
/// cannot do in a used folder).
pub(super) fn compiler_changed(stderr_tail: &[String]) -> bool {
    stderr_tail.iter().any(|l| {
        l.contains("You have changed variables that require your cache to be deleted")
            || (l.contains("The following variables have changed") && l.contains("COMPILER"))
            || l.contains("Configure will be re-run and you may have to reset some variables")
    })
}

/// The crate whose build script failed, from cargo's `failed to run custom build command for
/// `aws-lc-sys v0.47.0``.
fn failed_build_script(stderr_tail: &[String]) -> Option<&str> {
    stderr_tail.iter().find_map(|l| {
        let rest = l.split("failed to run custom build command for `").nth(1)?;
        rest.split([' ', '`']).next()
    })
}

/// What to do about it: clean the crate whose build folder holds the old configuration.
pub(super) fn help(stderr_tail: &[String]) -> String {
    format!(
        "CMake kept the configuration of another C compiler in the crate's build folder (the \
         compiler's path changes when its command does) and could not configure again: remove \
         that folder with `cargo clean -p {}` and build again",
        failed_build_script(stderr_tail).unwrap_or("CRATE")
    )
}

#[cfg(test)]
mod tests {
    use super::super::BuildError;
    use crate::exec::ExecError;

    #[test]
    fn a_cmake_reconfigure_after_a_compiler_change_says_which_folder_to_clean() {
        let tail: Box<[String]> = [
            "error: failed to run custom build command for `aws-lc-sys v0.47.0`",
            "  You have changed variables that require your cache to be deleted.",
            "  Configure will be re-run and you may have to reset some variables.",
            "  CMake Error at CMakeLists.txt:1034 (add_subdirectory):",
        ]
        .map(String::from)
        .into();
        let error = BuildError::Exec(ExecError::Failed {
            description: "cargo build".into(),
            command: "cargo build".into(),
            status: "exited with status 101".into(),
            stderr_tail: tail,
            shown: true,
        });
        let help = error.help().unwrap();
        assert!(help.contains("`cargo clean -p aws-lc-sys`"), "{help}");
    }
}
