//! The `ld.so.cache` parser and the closure's ELF reader on arbitrary bytes: a truncated or
//! hostile file must be an error, never a panic or an allocation beyond its size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use static_image::closure::{elf, ldcache};

fuzz_target!(|data: &[u8]| {
    if let Ok(cache) = ldcache::parse(data) {
        let _ = cache.lookup("libc.so.6", 62);
        let _ = cache.lookup("libc.so.6", 183);
    }
    let _ = elf::read(std::path::Path::new("fuzz"), data);
});
