//! C (and the C side of cgo): the program is named by the build system, not by the folder, and
//! the C library linked in is asked of the compiler the plan chose.

use std::path::Path;

use crate::sbom::Facts;
use crate::ui::Ui;

/// The name of a C build's program: the file its build system made.
pub fn default_name(artifact: &Path) -> Option<String> {
    artifact
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// The C library the compiler `c_compiler` links, for the SBOM; nothing when the build has no C
/// compiler or it does not tell.
pub fn c_library(c_compiler: Option<&[String]>, ui: &Ui) -> Facts {
    c_compiler
        .map(|compiler| crate::sbom::c::facts(compiler, ui))
        .unwrap_or_default()
}
