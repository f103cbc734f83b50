//! The files a plan lists besides its wrappers (a CMake toolchain file).

use std::fs;

use super::BuildError;
use crate::plan::PlanFile;

/// Writes a plan's file, leaving it untouched when it already says the same (a build script
/// that watches it must not see a change).
pub(super) fn write(file: &PlanFile) -> Result<(), BuildError> {
    if fs::read_to_string(&file.path).is_ok_and(|old| old == file.text) {
        return Ok(());
    }
    let prepare = |source| BuildError::Prepare {
        path: file.path.clone(),
        source,
    };
    if let Some(dir) = file.path.parent() {
        fs::create_dir_all(dir).map_err(prepare)?;
    }
    fs::write(&file.path, &file.text).map_err(prepare)
}
