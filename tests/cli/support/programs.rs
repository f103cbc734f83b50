//! Small static programs compiled in the test (C with gcc or musl-gcc), for `package` and
//! `verify` to work on without a project build.

use std::fs;
use std::path::{Path, PathBuf};

use super::run::tool;

/// Compiles a C program with `compiler` and `flags` into `dir/name`.
pub fn compile_c(compiler: &str, flags: &[&str], source: &str, dir: &Path, name: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    fs::write(&src, source).expect("write source");
    let out = dir.join(name);
    let mut args: Vec<&str> = flags.to_vec();
    let (src_s, out_s) = (src.to_str().expect("utf8"), out.to_str().expect("utf8"));
    args.extend(["-o", out_s, src_s]);
    tool(compiler, &args);
    out
}

/// A static musl program that prints `message`, compiled into `dir` as `app`.
pub fn musl_app(dir: &Path, message: &str) -> PathBuf {
    let source = format!("#include <stdio.h>\nint main(void){{puts(\"{message}\");return 0;}}\n");
    compile_c("musl-gcc", &["-static"], &source, dir, "app")
}

/// The smallest static musl program (it returns 0), compiled into `dir` as `tiny`.
pub fn tiny(dir: &Path) -> PathBuf {
    compile_c(
        "musl-gcc",
        &["-static"],
        "int main(void){return 0;}\n",
        dir,
        "tiny",
    )
}

/// C source of a program that prints `hello`.
pub const HELLO_C: &str = "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n";

/// A static binary that needs no extra tool to make: glibc static-pie, no NSS, as `dir/hello`.
pub fn static_binary(dir: &Path) -> PathBuf {
    compile_c("gcc", &["-static-pie", "-O2"], HELLO_C, dir, "hello")
}

/// A static binary of about `megabytes` MB: a musl hello world followed by `seed`-dependent
/// bytes that compress poorly (packaging cost depends on bytes, not on what they do).
pub fn padded_binary(dir: &Path, name: &str, megabytes: usize, seed: u64) -> PathBuf {
    let hello = compile_c(
        "musl-gcc",
        &["-static", "-O2"],
        "int main(void){return 0;}\n",
        dir,
        &format!("{name}-seed"),
    );
    let mut bytes = fs::read(&hello).unwrap();
    let mut state = seed | 1;
    bytes.extend((0..megabytes << 17).flat_map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state.to_le_bytes()
    }));
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}
