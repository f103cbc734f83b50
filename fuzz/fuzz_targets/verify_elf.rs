//! The ELF verifier on arbitrary bytes, against each platform: it must report or refuse, never
//! panic or hang.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use static_image::platform::{Platform, Platforms};
use static_image::verify::verify_bytes;

fuzz_target!(|data: &[u8]| {
    let _ = verify_bytes(Path::new("fuzz"), data, None, &Platforms::builtin());
    let _ = verify_bytes(
        Path::new("fuzz"),
        data,
        Some(Platform::arm64()),
        &Platforms::builtin(),
    );
});
