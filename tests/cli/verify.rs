//! `static-image verify` on real binaries: musl static, glibc static-pie, a dynamic system
//! binary, an arm64 binary, and files that are not binaries at all.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::*;

const HELLO_C: &str = "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n";
const NSS_C: &str = "#include <netdb.h>\n#include <pwd.h>\n#include <stdio.h>\n\
    int main(int c, char **v) { struct addrinfo *r; if (c > 9) { getaddrinfo(v[1], 0, 0, &r); getpwnam(v[2]); } puts(\"x\"); return 0; }\n";

#[test]
fn musl_static_binary_is_static() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let exe = compile_c(
        "musl-gcc",
        &["-static", "-O2"],
        HELLO_C,
        dir.path(),
        "hello-musl",
    );
    let ran = static_image(args!["verify", exe.display()]).run().ok();
    let path = exe.display();
    assert!(
        ran.stdout.starts_with(&format!("{path}: static, ok\n")),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("interpreter: none\n  needed:      none\n"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("libc:        musl"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("warning"), "{}", ran.stdout);
}

#[test]
fn glibc_static_pie_is_static_and_its_nss_use_is_a_hazard() {
    let dir = tempdir();
    let plain = compile_c("gcc", &["-static-pie", "-O2"], HELLO_C, dir.path(), "plain");
    let nss = compile_c("gcc", &["-static-pie", "-O2"], NSS_C, dir.path(), "nss");
    let ran = static_image(args!["verify", plain.display(), nss.display()])
        .run()
        .ok();
    let out = &ran.stdout;
    assert!(
        out.contains(&format!("{}: static-pie, ok", plain.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: static-pie, ok", nss.display())),
        "{out}"
    );
    // The plain program warns about nothing; the one using NSS is told why it will break.
    let (plain_part, nss_part) = out.split_at(out.find(&format!("{}:", nss.display())).unwrap());
    assert!(!plain_part.contains("warning"), "{out}");
    assert!(
        nss_part
            .contains("warning:     static glibc binary contains the NSS functions `getaddrinfo`"),
        "{out}"
    );
    assert!(nss_part.contains("`getpwnam`"), "{out}");

    let json: serde_json::Value = serde_json::from_str(
        &static_image(args!["verify", "--json", nss.display()])
            .run()
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(json[0]["linkage"], "static-pie");
    assert_eq!(json[0]["libc"], "glibc");
    assert_eq!(json[0]["hazards"][0]["code"], "static-glibc-nss");
    assert_eq!(json[0]["ok"], true);
}

#[test]
fn a_direct_dlopen_call_is_a_hazard_but_libc_defining_dlopen_is_not() {
    let dir = tempdir();
    let with_call = compile_c(
        "gcc",
        &["-static"],
        "#include <dlfcn.h>\nint main(int c, char **v) { return dlopen(v[0], 0) != 0; }\n",
        dir.path(),
        "dl",
    );
    let without = compile_c("gcc", &["-static"], HELLO_C, dir.path(), "nodl");
    let ran = static_image(args![
        "verify",
        "--json",
        with_call.display(),
        without.display(),
    ])
    .run()
    .ok();
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(
        json[0]["hazards"][0]["code"], "static-glibc-dlopen",
        "{json}"
    );
    assert_eq!(json[1]["hazards"], serde_json::json!([]), "{json}");
}

#[test]
fn dynamic_binary_names_its_interpreter_and_libraries() {
    let ls = "/bin/ls";
    let ran = static_image(["verify", ls]).run().code(1);
    let interp = tool("readelf", &["-lW", ls]);
    let interp = interp
        .split("Requesting program interpreter: ")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .expect("ls has an interpreter");
    assert!(
        ran.stdout.starts_with("/bin/ls: dynamic, NOT STATIC\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!("interpreter: {interp}\n")),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("libc.so.6"), "{}", ran.stdout);

    let json: serde_json::Value =
        serde_json::from_str(&static_image(["verify", "--json", ls]).run().code(1).stdout).unwrap();
    assert_eq!(json[0]["interpreter"], interp);
    assert!(
        json[0]["needed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "libc.so.6")
    );
    assert_eq!(json[0]["problems"][0]["kind"], "interpreter");
}

#[test]
fn debian_musl_gcc_static_pie_trap_is_caught_and_explained() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let exe = compile_c("musl-gcc", &["-static-pie"], HELLO_C, dir.path(), "trap");
    let ran = static_image(args!["verify", exe.display()]).run().code(1);
    assert!(
        ran.stdout.contains("interpreter: /lib/ld-musl-x86_64.so.1"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("hint:        musl-gcc's `-static-pie`"),
        "{}",
        ran.stdout
    );
}

#[test]
fn bad_input_gets_one_line_naming_the_file_and_exit_2() {
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("script.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::write(d.join("empty"), "").unwrap();
    let ls = fs::read("/bin/ls").unwrap();
    fs::write(d.join("truncated"), &ls[..200]).unwrap();
    fs::write(d.join("app.exe"), b"MZ\x90\x00\x03\x00\x00\x00").unwrap();
    fs::write(
        d.join("app.macho"),
        b"\xcf\xfa\xed\xfe\x07\x00\x00\x01\x03\x00\x00\x00",
    )
    .unwrap();
    fs::create_dir(d.join("a-dir")).unwrap();
    let cases = [
        (
            "script.sh",
            "error: `[TMP]/script.sh`: is a script (`#!/bin/sh`), not an ELF binary",
        ),
        ("empty", "error: `[TMP]/empty`: is empty, not a binary"),
        (
            "truncated",
            "error: `[TMP]/truncated`: is a truncated or malformed ELF file: Buffer is too short for 13 program headers",
        ),
        (
            "app.exe",
            "error: `[TMP]/app.exe`: is a Windows (PE) executable, not an ELF binary",
        ),
        (
            "app.macho",
            "error: `[TMP]/app.macho`: is a Mach-O (macOS) binary, not an ELF binary",
        ),
        (
            "a-dir",
            "error: `[TMP]/a-dir`: is a directory, not a binary",
        ),
        ("missing", "error: `[TMP]/missing`: no such file"),
    ];
    for (name, expected) in cases {
        let path = d.join(name);
        let ran = static_image(args!["verify", path.display()]).run().code(2);
        // One line, naming the file.
        assert_output(&ran.stderr, expected);
    }
    // An unreadable file among good ones still reports the good ones, and exits 2.
    let ran = static_image(args!["verify", d.join("empty").display(), "/bin/ls",])
        .run()
        .code(2);
    assert!(ran.stdout.contains("/bin/ls: dynamic"), "{}", ran.stdout);
}

const GO_NET: &str = "package main\n\nimport (\n\t\"fmt\"\n\t\"net\"\n\t\"os\"\n)\n\n\
    func main() {\n\tif len(os.Args) > 5 {\n\t\tnet.LookupHost(os.Args[1])\n\t}\n\tfmt.Println(\"hi\")\n}\n";

#[test]
fn go_binaries_report_their_toolchain_and_cgo_is_a_hazard() {
    if !require(&["go"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let pure = build_go(
        GO_NET,
        d,
        "pure",
        &[("CGO_ENABLED", "0")],
        &["-trimpath", "-ldflags=-s -w -buildid="],
    );
    let cgo = build_go(
        GO_NET,
        d,
        "cgo",
        &[("CGO_ENABLED", "1")],
        &["-ldflags=-linkmode external -extldflags -static"],
    );
    let pie = build_go(
        GO_NET,
        d,
        "pie",
        &[("CGO_ENABLED", "0")],
        &["-buildmode=pie"],
    );
    let ran = static_image(args![
        "verify",
        "--json",
        pure.display(),
        cgo.display(),
        pie.display(),
    ])
    .run()
    .code(1);
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let go_version = json[0]["go"]["go_version"].as_str().unwrap();
    assert!(go_version.starts_with("go1."), "{go_version}");
    // CGO off: static, no C library, nothing to warn about.
    assert_eq!(json[0]["linkage"], "static");
    assert_eq!(json[0]["libc"], serde_json::Value::Null);
    assert_eq!(json[0]["hazards"], serde_json::json!([]));
    assert_eq!(json[0]["go"]["package"], "example.com/pure");
    // cgo linked statically against glibc: static, but both hazards named.
    assert_eq!(json[1]["linkage"], "static");
    assert_eq!(json[1]["libc"], "glibc");
    let codes: Vec<&str> = json[1]["hazards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["go-cgo", "static-glibc-nss"]);
    // The PIE trap: an interpreter and no libraries, with the fix in the hint.
    assert_eq!(json[2]["linkage"], "dynamic");
    assert_eq!(json[2]["needed"], serde_json::json!([]));
    assert!(
        json[2]["hint"].as_str().unwrap().contains("-buildmode=pie"),
        "{}",
        json[2]
    );
}

/// A program whose worker thread and main thread both allocate and free.
const THREADED_ALLOC: &str = r#"
#include <pthread.h>
#include <stdlib.h>
void *volatile keep;
static void *work(void *arg) {
    for (int i = 0; i < 1000; i++) { keep = malloc((size_t)(long)arg + i); free(keep); }
    return 0;
}
int main(int argc, char **argv) {
    pthread_t t;
    pthread_create(&t, 0, work, (void *)(long)(argc + 15));
    work((void *)16L);
    pthread_join(t, 0);
    return 0;
}
"#;

fn hazard_codes(path: &Path) -> Vec<String> {
    let ran = static_image(args!["verify", "--json", path.display()])
        .run()
        .ok();
    let reports: Value = serde_json::from_str(&ran.stdout).unwrap();
    reports[0]["hazards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn musl_malloc_in_a_threaded_program_is_a_hazard_with_the_fix_named() {
    if !require(&["musl-gcc"]) {
        return;
    }
    let dir = tempdir();
    let threaded = compile_c(
        "musl-gcc",
        &["-static", "-O2"],
        THREADED_ALLOC,
        dir.path(),
        "threaded",
    );
    assert_eq!(hazard_codes(&threaded), ["musl-malloc-threads"]);
    let ran = static_image(args!["verify", threaded.display()]).run().ok();
    assert!(ran.stdout.contains("global_allocator"), "{}", ran.stdout);

    // One thread: no contention, no warning.
    let single = THREADED_ALLOC
        .replace(
            "pthread_create(&t, 0, work, (void *)(long)(argc + 15));",
            "",
        )
        .replace("pthread_join(t, 0);", "");
    let single = compile_c(
        "musl-gcc",
        &["-static", "-O2"],
        &single,
        dir.path(),
        "single",
    );
    assert!(hazard_codes(&single).is_empty());

    // The program brings its own malloc (a strong definition overriding musl's weak one):
    // musl's lock is not on its allocation path.
    let own = format!(
        "{THREADED_ALLOC}\n{}",
        r#"
static char arena[1 << 20]; static unsigned long used;
void *malloc(size_t n) { void *p = arena + used; used += (n + 15) & ~15UL; return p; }
void free(void *p) { (void)p; }
void *calloc(size_t a, size_t b) { return malloc(a * b); }
void *realloc(void *p, size_t n) { (void)p; return malloc(n); }
"#
    );
    let own = compile_c(
        "musl-gcc",
        &["-static", "-O2"],
        &own,
        dir.path(),
        "own-malloc",
    );
    assert!(hazard_codes(&own).is_empty());
}

/// The host's glibc release, from `getconf` (`glibc 2.36` → `2.36`).
fn host_glibc() -> String {
    tool("getconf", &["GNU_LIBC_VERSION"])
        .trim()
        .trim_start_matches("glibc ")
        .to_string()
}

fn release(v: &str) -> Vec<u32> {
    v.split('.').map(|p| p.parse().unwrap()).collect()
}

#[test]
fn static_glibc_binaries_report_their_glibc_release() {
    if !require(&["gcc"]) {
        return;
    }
    let dir = tempdir();
    let host = host_glibc();
    let asks = "#include <stdio.h>\n#include <gnu/libc-version.h>\nint main(void){puts(gnu_get_libc_version());return 0;}\n";
    for (name, flags) in [
        ("asks", vec!["-static"]),
        ("asks-stripped", vec!["-static", "-s"]),
    ] {
        let exe = compile_c("gcc", &flags, asks, dir.path(), name);
        let ran = static_image(args!["verify", "--json", exe.display()])
            .run()
            .ok();
        let report: Value = serde_json::from_str(&ran.stdout).unwrap();
        assert_eq!(report[0]["glibc"]["version"], host.as_str(), "{report}");
        assert_eq!(report[0]["glibc"]["exact"], true, "{report}");
    }
    // A program that never asks carries no version string: a lower bound, said as one.
    let plain = "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n";
    let mut compilers = vec![("gcc", "plain")];
    if require_for(&["aarch64-linux-gnu-gcc"], "the arm64 program") {
        compilers.push(("aarch64-linux-gnu-gcc", "plain-arm64"));
    }
    for (cc, name) in compilers {
        let exe = compile_c(cc, &["-static"], plain, dir.path(), name);
        let ran = static_image(args!["verify", "--json", exe.display()])
            .run()
            .ok();
        let report: Value = serde_json::from_str(&ran.stdout).unwrap();
        let bound = report[0]["glibc"]["version"]
            .as_str()
            .unwrap_or_else(|| panic!("{report}"));
        assert_eq!(report[0]["glibc"]["exact"], false);
        assert!(release(bound) <= release(&host), "{bound} > {host}");
        let human = static_image(args!["verify", exe.display()]).run().ok();
        assert!(
            human
                .stdout
                .contains(&format!("glibc:       {bound} or later")),
            "{}",
            human.stdout
        );
    }
}

/// `verify IMAGE`: every ELF file of every platform, in images this tool made and in ones
/// another tool (umoci) changed: a dynamic binary added, a file whited out, an entrypoint that
/// is not there.
#[test]
fn images_are_verified_file_by_file_for_every_platform() {
    if !require(&["musl-gcc", "umoci", "aarch64-linux-gnu-gcc"]) {
        return;
    }
    let dir = tempdir();
    let amd = compile_c(
        "musl-gcc",
        &["-static", "-O2"],
        "int main(void){return 0;}\n",
        dir.path(),
        "app",
    );
    let arm = compile_c(
        "aarch64-linux-gnu-gcc",
        &["-static", "-O2"],
        "int main(void){return 0;}\n",
        dir.path(),
        "app-arm64",
    );
    let multi = dir.path().join("multi");
    static_image(args![
        "package",
        amd.display(),
        arm.display(),
        "--name",
        "app",
        "--output",
        format!("oci:{}:v1", multi.display()),
    ])
    .run()
    .ok();
    let ran = static_image(args!["verify", format!("oci:{}:v1", multi.display())])
        .run()
        .ok();
    assert!(ran.stdout.contains("linux/amd64 sha256:"), "{}", ran.stdout);
    assert!(ran.stdout.contains("linux/arm64 sha256:"), "{}", ran.stdout);
    assert_eq!(
        ran.stdout.matches("1 ELF file, all static").count(),
        2,
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("/app/app: static"), "{}", ran.stdout);

    // One platform, then umoci adds the host's dynamic `ls` in a layer of its own.
    let layout = dir.path().join("single");
    let image = |tag: &str| format!("{}:{tag}", layout.display());
    static_image(args![
        "package",
        amd.display(),
        "--output",
        format!("oci:{}", image("v1")),
    ])
    .run()
    .ok();
    tool(
        "umoci",
        &["insert", "--image", &image("v1"), "/bin/ls", "/usr/bin/ls"],
    );
    let ran = static_image(args!["--json", "verify", format!("oci:{}", image("v1"))])
        .run()
        .code(1);
    let verdicts: Value = serde_json::from_str(&ran.stdout).unwrap();
    let files = verdicts[0]["platforms"][0]["files"].as_array().unwrap();
    let ls = files.iter().find(|f| f["path"] == "/usr/bin/ls").unwrap();
    assert_eq!(ls["linkage"], "dynamic");
    assert!(ls["interpreter"].as_str().unwrap().contains("ld-linux"));
    assert_eq!(verdicts[0]["ok"], false);

    // A whiteout in a higher layer removes it again: the image is fine.
    tool(
        "umoci",
        &[
            "insert",
            "--image",
            &image("v1"),
            "--whiteout",
            "/usr/bin/ls",
        ],
    );
    let ran = static_image(args!["verify", format!("oci:{}", image("v1"))])
        .run()
        .ok();
    assert!(!ran.stdout.contains("/usr/bin/ls"), "{}", ran.stdout);

    // An entrypoint that is not in the image is the classic `exec … no such file`.
    tool(
        "umoci",
        &[
            "config",
            "--image",
            &image("v1"),
            "--config.entrypoint",
            "/app/missing",
        ],
    );
    let ran = static_image(args!["verify", format!("oci:{}", image("v1"))])
        .run()
        .code(1);
    assert!(
        ran.stdout.contains("`/app/missing` is not in the image"),
        "{}",
        ran.stdout
    );

    // Archives are read too; a missing image is exit 2 with the path named.
    let archive = dir.path().join("app.tar");
    static_image(args![
        "package",
        amd.display(),
        "--output",
        format!("docker-archive:{}", archive.display()),
    ])
    .run()
    .ok();
    static_image(args![
        "verify",
        format!("docker-archive:{}", archive.display())
    ])
    .run()
    .ok();
    let ran = static_image(args!["verify", "oci-archive:/nonexistent.tar"])
        .run()
        .code(2);
    assert!(ran.stderr.contains("/nonexistent.tar"), "{}", ran.stderr);
}
