//! Stacking layers and resolving the entrypoint on arbitrary bytes: the input is an
//! entrypoint name, then layer tars, separated by `\n--layer--\n`. Stacking applies
//! whiteouts, opaque directories, hard links and replacements; resolution follows links with
//! a limit. It must never panic, hang or allocate beyond the input's size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use static_image::verify::entrypoint::{self, Program};
use static_image::verify::stack::{self, Tree};

const MARKER: &[u8] = b"\n--layer--\n";

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(MARKER.len()).position(|w| w == MARKER) {
        parts.push(&rest[..at]);
        rest = &rest[at + MARKER.len()..];
    }
    parts.push(rest);
    parts
}

fuzz_target!(|data: &[u8]| {
    let parts = split(data);
    let Some((name, layers)) = parts.split_first() else {
        return;
    };
    let mut tree = Tree::new();
    for (i, layer) in layers.iter().enumerate() {
        let mut reader: &[u8] = layer;
        if let Ok((entries, _)) = stack::layer_entries(&mut reader) {
            tree.apply_layer(i, &entries);
        }
    }
    let program = Program {
        name: String::from_utf8_lossy(name).into_owned(),
        cwd: "/srv".into(),
        path_env: "/usr/bin:bin:/bin".into(),
    };
    if let Ok((resolved, node)) = entrypoint::locate(&tree, &program) {
        let _ = entrypoint::check(&tree, &program, &resolved, node, None);
    }
    for (path, _) in tree.iter() {
        let _ = tree.resolve(path, "/");
    }
});
