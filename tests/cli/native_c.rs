//! `static-image build` of C projects nobody here wrote, as Debian ships their sources
//! (`apt-get source`), built with no options beyond what a user would guess, for amd64 (run in
//! runc from the image alone) and arm64 (run under qemu). Plus a small Makefile of our own with
//! the habits those projects have (`AR= ar rcu`, `ranlib`, its own `CFLAGS`), built with every
//! compiler strategy.
//!
//! The sources are fetched once into a folder every test (and every run) shares:
//! `$STATIC_IMAGE_DEBIAN_SOURCES`, else `target/debian-sources`. They are unpacked without
//! Debian's patches (`dpkg-source --skip-patches`): the project as its authors release it, not
//! Debian's packaging of it (Lua's patches switch its Makefile to libtool and dpkg-buildflags).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use crate::support::*;

/// One fetch at a time: two tests asking for the same package must not unpack it twice.
static FETCH: Mutex<()> = Mutex::new(());

/// The unpacked upstream sources of Debian source package `package` (the folder
/// `dpkg-source` names `<package>-<version>`), fetched with `apt-get source` unless a previous
/// run did.
fn debian_source(package: &str) -> PathBuf {
    let _one = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let cache = std::env::var_os("STATIC_IMAGE_DEBIAN_SOURCES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/debian-sources"))
        .join(package);
    let done = cache.join(".unpacked");
    if let Ok(dir) = fs::read_to_string(&done) {
        return cache.join(dir.trim());
    }
    let _ = fs::remove_dir_all(&cache);
    fs::create_dir_all(&cache).unwrap();
    let fetch = Command::new("apt-get")
        .args(["source", "--download-only", "-qq", package])
        .current_dir(&cache)
        .output()
        .expect("apt-get runs");
    assert!(
        fetch.status.success(),
        "apt-get source {package} (is there a deb-src entry? see .ci/install): {}",
        String::from_utf8_lossy(&fetch.stderr)
    );
    let dsc = fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".dsc"))
        .expect("a .dsc");
    let unpack = Command::new("dpkg-source")
        .args(["--skip-patches", "-x", &dsc])
        .current_dir(&cache)
        .output()
        .expect("dpkg-source runs");
    assert!(unpack.status.success(), "{unpack:?}");
    let dir = fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .expect("an unpacked folder")
        .file_name()
        .to_string_lossy()
        .into_owned();
    fs::write(&done, &dir).unwrap();
    cache.join(dir)
}

/// A copy of `package`'s sources under `dest`, with the folder name Debian gives it.
fn project_copy(package: &str, dest: &Path) -> PathBuf {
    let source = debian_source(package);
    let to = dest.join(source.file_name().unwrap());
    fs::create_dir_all(dest).unwrap();
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&source)
        .arg(dest)
        .status()
        .unwrap();
    assert!(copied.success());
    to
}

/// Builds `project` for `platform` into `layout:tag` with `extra` flags; returns the verified
/// binary's path (and says how long the build took, for the record).
fn build(project: &Path, platform: &str, layout: &Path, tag: &str, extra: &[&str]) -> String {
    let started = Instant::now();
    let mut words = args![
        "--json",
        "build",
        project.display(),
        "--platform",
        platform,
        "-q",
        "-o",
        format!("oci:{}:{tag}", layout.display()),
    ];
    words.extend(extra.iter().map(|w| w.to_string()));
    let ran = static_image(words).run().ok();
    eprintln!(
        "built `{}` for {platform} in {:.0?}",
        project.file_name().unwrap().to_string_lossy(),
        started.elapsed()
    );
    let outcome: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let verify = &outcome["verify"];
    assert_eq!(verify["linkage"], "static", "{verify}");
    verify["path"].as_str().expect("path").to_string()
}

/// The modification times of the object files under `dir`, but for `-.o`: a compiler reading
/// its source from stdin writes that, and zstd's Makefile probes the compiler so each time make
/// runs.
fn object_times(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut times = BTreeMap::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let (path, meta) = (entry.path(), entry.metadata().unwrap());
            if meta.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "o")
                && path.file_name().is_some_and(|n| n != "-.o")
            {
                times.insert(path, meta.modified().unwrap());
            }
        }
    }
    times
}

/// Builds again what `build` just built into `exe` and checks the build had nothing to do: no
/// object under the build's copy of the project was compiled again (a rerun configure or a
/// dependency file newer than its object would recompile them all).
fn assert_no_op(
    project: &Path,
    platform: &str,
    layout: &Path,
    tag: &str,
    extra: &[&str],
    exe: &str,
) {
    let copy = exe
        .find("/static-image-build/")
        .map(|at| Path::new(&exe[..at]).join("static-image-build"))
        .expect("the binary is in the build's copy");
    let before = object_times(&copy);
    assert!(!before.is_empty(), "no objects under {}", copy.display());
    assert_eq!(build(project, platform, layout, tag, extra), exe);
    let after = object_times(&copy);
    let remade: Vec<_> = after
        .iter()
        .filter(|(path, time)| before.get(*path) != Some(time))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        remade.is_empty(),
        "a no-op build compiled again: {remade:?}"
    );
}

/// Copies the files of `from` (one level) into `to`.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        if entry.path().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Runs an arm64 program under qemu; returns its stdout.
fn qemu(exe: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new("qemu-aarch64-static")
        .arg(exe)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// zstd's default make target builds the shared library too; `--make-target zstd` builds the
/// program alone, and of the two copies it leaves (`programs/zstd`, `programs/obj/conf_*/zstd`)
/// the one outside the object folder is taken, without asking. A second build compiles nothing
/// (zig's clang writes each `.d` after its `.o`, which zstd's Makefile lists as a prerequisite).
#[test]
fn zstd_builds_its_program_target_for_amd64_and_arm64() {
    if !require(&["python3", "make", "apt-get", "dpkg-source"]) {
        return;
    }
    let dir = tempdir();
    let project = project_copy("libzstd", dir.path());
    let layout = dir.path().join("layout");
    for (platform, tag) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let extra = ["--make-target", "zstd"];
        let exe = build(&project, platform, &layout, tag, &extra);
        assert!(exe.ends_with("/src/programs/zstd"), "{exe}");
        assert_no_op(&project, platform, &layout, tag, &extra, &exe);
        if tag == "arm64" {
            if require_for(&["qemu-aarch64-static"], "running the arm64 binary") {
                let work = dir.path().join("qemu");
                fs::create_dir_all(&work).unwrap();
                let text = "static images, compressed and back\n".repeat(100);
                fs::write(work.join("in"), &text).unwrap();
                qemu(&exe, &["-q", "-19", "in", "-o", "in.zst"], &work);
                assert!(fs::metadata(work.join("in.zst")).unwrap().len() < 200);
                let back = qemu(&exe, &["-q", "-d", "-c", "in.zst"], &work);
                assert_eq!(back, text);
            }
        } else if require_for(&["root", "runc", "umoci"], "running the amd64 image") {
            let (code, out) =
                run_in_runc_with(&layout, tag, &dir.path().join("run"), &["-V"], false);
            assert_eq!(code, 0, "{out}");
            assert!(out.contains("v1.5.4"), "{out}");
        }
    }
}

/// Lua's Makefile (`make` → `guess` → `linux`) sets its own `CFLAGS` (`-DLUA_USE_LINUX` from the
/// platform target, `-DLUA_COMPAT_5_3`) and archiver (`AR= ar rcu`, `RANLIB= ranlib`). They
/// must all survive: without `LUA_USE_LINUX` the program builds but `io.popen` is missing.
/// Of `lua` and `luac`, the one named as the project is taken.
#[test]
fn lua_builds_with_its_own_flags_and_archiver_for_amd64_and_arm64() {
    if !require(&["python3", "make", "apt-get", "dpkg-source"]) {
        return;
    }
    let dir = tempdir();
    let project = project_copy("lua5.4", dir.path());
    let layout = dir.path().join("layout");
    let script = "print(_VERSION, (pcall(io.popen, 'exit 0')) and 'popen' or 'no-popen', \
                  math.pow and 'compat-5.3' or 'no-compat')";
    let expected = "Lua 5.4\tpopen\tcompat-5.3";
    for (platform, tag) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let exe = build(&project, platform, &layout, tag, &[]);
        assert!(exe.ends_with("/src/src/lua"), "{exe}");
        if tag == "arm64" {
            if require_for(&["qemu-aarch64-static"], "running the arm64 binary") {
                let out = qemu(&exe, &["-e", script], dir.path());
                assert!(out.contains(expected), "{out}");
            }
        } else if require_for(&["root", "runc", "umoci"], "running the amd64 image") {
            let (code, out) = run_in_runc_with(
                &layout,
                tag,
                &dir.path().join("run"),
                &["-e", script],
                false,
            );
            assert_eq!(code, 0, "{out}");
            assert!(out.contains(expected), "{out}");
        }
    }
}

/// A Makefile with the habits of real ones: its own `CFLAGS` with a define the program prints,
/// `LDFLAGS` of its own, a library archived with classic command lines (`ar rcu`, `ar cr`) and
/// indexed with `ranlib`, and debug info asked for (`-g`), which the program must not keep: musl
/// builds are stripped whatever the project's flags, the static glibc one keeps its symbols
/// (`verify` reads them) but not its debug info. Built with each compiler strategy for each
/// platform it serves.
#[test]
fn a_makefile_s_own_flags_and_classic_archiver_lines_work_with_every_strategy() {
    if !require(&["python3", "make"]) {
        return;
    }
    let dir = tempdir();
    let project = dir.path().join("greet");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("Makefile"),
        "CFLAGS= -DGREETING='\"made by its Makefile\"' -Wall -g\nLDFLAGS= -L. -g\nAR= ar rcu\n\
         RANLIB= ranlib\n\ngreet: main.o libone.a libtwo.a\n\t$(CC) $(CFLAGS) -o $@ main.o \
         $(LDFLAGS) -lone -ltwo\n\nlibone.a: one.o\n\t$(AR) $@ one.o\n\t$(RANLIB) $@\n\n\
         libtwo.a: two.o\n\tar cr $@ two.o\n\tranlib $@\n",
    )
    .unwrap();
    fs::write(project.join("one.c"), "int one(void) { return 1; }\n").unwrap();
    fs::write(project.join("two.c"), "int two(void) { return 2; }\n").unwrap();
    fs::write(
        project.join("main.c"),
        "#include <stdio.h>\nint one(void); int two(void);\n\
         int main(void) { printf(\"%s %d\\n\", GREETING, one() + two()); return 0; }\n",
    )
    .unwrap();
    let arm64 = require_for(&["qemu-aarch64-static"], "running the arm64 binaries");
    // Each strategy alone: the others turned off in a toolchains folder of its own.
    let strategies = [
        (
            "zig",
            vec!["musl-gcc", "gnu-static"],
            &["linux/amd64", "linux/arm64"][..],
        ),
        ("musl-gcc", vec!["zig", "gnu-static"], &["linux/amd64"][..]),
        (
            "gnu-static",
            vec!["zig", "musl-gcc"],
            &["linux/amd64", "linux/arm64"][..],
        ),
    ];
    for (strategy, off, platforms) in strategies {
        let needs: &[&str] = match strategy {
            "zig" => &[],
            "musl-gcc" => &["musl-gcc"],
            _ => &["x86_64-linux-gnu-gcc", "aarch64-linux-gnu-gcc"],
        };
        if !require_for(needs, strategy) {
            continue;
        }
        let toolchains = toolchains_without(&dir.path().join(strategy), "c.toml", &off);
        // A copy per strategy: make would take another strategy's objects as up to date.
        let copy = dir.path().join(strategy).join("greet");
        copy_tree(&project, &copy);
        for platform in platforms {
            let layout = dir.path().join(format!("layout-{strategy}"));
            let tag = platform.trim_start_matches("linux/");
            let exe = build(
                &copy,
                platform,
                &layout,
                tag,
                &["--toolchains", toolchains.to_str().unwrap()],
            );
            let out = if tag == "arm64" {
                if !arm64 {
                    continue;
                }
                qemu(&exe, &[], dir.path())
            } else {
                let run = Command::new(&exe).output().unwrap();
                String::from_utf8_lossy(&run.stdout).into_owned()
            };
            assert_eq!(out, "made by its Makefile 3\n", "{strategy} {platform}");
            let sections = tool("readelf", &["-S", "-W", &exe]);
            assert!(
                !sections.contains(".debug_"),
                "{strategy} {platform}: {sections}"
            );
            assert_eq!(
                sections.contains(".symtab"),
                strategy == "gnu-static",
                "{strategy} {platform}: {sections}"
            );
        }
    }
}

/// A bootstrap step (`unless = "configure"`) that fails half-way leaves its file behind; the
/// next run must bootstrap again rather than take the broken file as done (jq's `autoreconf`
/// without libtool left a `configure` that failed on `LT_INIT`).
#[test]
fn a_failed_bootstrap_is_run_again() {
    if !require(&["python3"]) {
        return;
    }
    let dir = tempdir();
    let project = dir.path().join("boot");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("bootstrap.sh"),
        "if [ -n \"$BREAK_BOOTSTRAP\" ]; then echo 'exit 1' > configure; exit 1; fi\n\
         echo '\"$1\" -o boot hello.c' > configure\n",
    )
    .unwrap();
    fs::write(
        project.join("hello.c"),
        "#include <stdio.h>\nint main(void) { puts(\"bootstrapped\"); return 0; }\n",
    )
    .unwrap();
    let toolchains = dir.path().join("tc");
    fs::create_dir_all(&toolchains).unwrap();
    fs::write(
        toolchains.join("c.toml"),
        "[[build_system]]\nname = \"bootstrapped\"\nmarkers = [\"bootstrap.sh\"]\nin = \"source\"\n\
         steps = [\n  { run = [\"sh\", \"bootstrap.sh\"], unless = \"configure\" },\n\
         [\"sh\", \"configure\", \"{cc}\"],\n]\n",
    )
    .unwrap();
    let build = |broken: bool| {
        let mut run = static_image(args![
            "build",
            project.display(),
            "--toolchains",
            toolchains.display(),
            "-q",
            "-o",
            format!("oci:{}", dir.path().join("layout").display()),
        ]);
        if broken {
            run = run.env("BREAK_BOOTSTRAP", "1");
        }
        run.run()
    };
    let failed = build(true).code(1);
    assert!(failed.stderr.contains("bootstrap.sh"), "{}", failed.stderr);
    build(false).ok();
    // Once it succeeded, it is not run again (a no-op build stays one).
    fs::write(project.join("bootstrap.sh"), "exit 1\n").unwrap();
    build(false).ok();
}

/// A Go project from before modules (docker/cli's shape: `cmd/docker/*.go`, `vendor/`, a
/// Makefile, no `go.mod`) is named as Go, with how to make it a module, not built as C.
#[test]
fn a_gopath_era_go_project_is_not_taken_for_c() {
    let dir = tempdir();
    let project = dir.path().join("cli");
    fs::create_dir_all(project.join("cmd/docker")).unwrap();
    fs::create_dir_all(project.join("vendor/github.com/x/y")).unwrap();
    fs::write(project.join("Makefile"), "all:\n\tgo build ./cmd/docker\n").unwrap();
    fs::write(
        project.join("cmd/docker/docker.go"),
        "package main\nfunc main() {}\n",
    )
    .unwrap();
    let ran = static_image(args!["build", project.display()])
        .run()
        .code(1);
    assert!(
        ran.stderr.contains("is a Go project without `go.mod`")
            && ran.stderr.contains("it has `vendor/`")
            && ran.stderr.contains("help: make it a module: `go mod init"),
        "{}",
        ran.stderr
    );
}

/// Builds `project` for `platform` like [`build`], with the tool's warnings shown; returns the
/// verified binary's path and what the tool printed on stderr.
fn build_showing_warnings(
    project: &Path,
    platform: &str,
    layout: &Path,
    tag: &str,
) -> (String, String) {
    let started = Instant::now();
    let ran = static_image(args![
        "--json",
        "build",
        project.display(),
        "--platform",
        platform,
        "-o",
        format!("oci:{}:{tag}", layout.display()),
    ])
    .run()
    .ok();
    eprintln!(
        "built `{}` for {platform} in {:.0?}",
        project.file_name().unwrap().to_string_lossy(),
        started.elapsed()
    );
    let outcome: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let verify = &outcome["verify"];
    assert_eq!(verify["linkage"], "static", "{verify}");
    (
        verify["path"].as_str().expect("path").to_string(),
        ran.stderr,
    )
}

/// sqlite's configure looks for Tcl where this machine keeps it (`/usr/lib/tclConfig.sh`,
/// which names this machine's libraries) and for readline in `/usr/include`: a static build
/// for the image must not use them. It is configured as the cross build it is, with
/// pkg-config and the Tcl search pointed away from this machine, and the tool says what the
/// program was built without. Of the executables the build makes (`lemon`, `mksourceid`… are
/// build tools for this machine), `sqlite3` is taken.
#[test]
fn sqlite3_builds_without_this_machine_s_libraries_and_says_what_it_left_out() {
    if !require(&["python3", "make", "apt-get", "dpkg-source", "tclsh"]) {
        return;
    }
    let dir = tempdir();
    let project = project_copy("sqlite3", dir.path());
    let layout = dir.path().join("layout");
    let query = ["/tmp/none.db", "select sqlite_version(), 6*7"];
    for (platform, tag, host) in [
        ("linux/amd64", "amd64", "x86_64-linux-musl"),
        ("linux/arm64", "arm64", "aarch64-linux-musl"),
    ] {
        let (exe, stderr) = build_showing_warnings(&project, platform, &layout, tag);
        assert!(exe.ends_with("/src/sqlite3"), "{exe}");
        assert!(
            stderr.contains(&format!("warning: configure for {host} left out"))
                && stderr.contains("| Can't find Tcl configuration definitions"),
            "{stderr}"
        );
        // The readline this machine has is named as what the program lacks, not linked.
        if Path::new("/usr/include/readline/readline.h").exists()
            && let Some(lib) = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"]
                .iter()
                .map(|d| format!("{d}/libreadline.a"))
                .find(|l| Path::new(l).exists())
        {
            assert!(
                stderr.contains(&format!("`-lreadline` (`{lib}`)")),
                "{stderr}"
            );
        }
        let expected = "3.40.1|42";
        if tag == "arm64" {
            if require_for(&["qemu-aarch64-static"], "running the arm64 binary") {
                let out = qemu(&exe, &[":memory:", query[1]], dir.path());
                assert_eq!(out.trim(), expected);
            }
        } else if require_for(&["root", "runc", "umoci"], "running the amd64 image") {
            let (code, out) = run_in_runc_with(
                &layout,
                tag,
                &dir.path().join("run"),
                &[":memory:", query[1]],
                false,
            );
            assert_eq!(code, 0, "{out}");
            assert!(out.contains(expected), "{out}");
        }
    }
}

/// jq as its authors release it: autotools with no `configure` yet (`autoreconf` runs, which
/// needs libtool), and Oniguruma bundled under `modules/oniguruma`, configured by jq's own
/// configure as a sub-configure. Debian's source leaves that folder empty (Debian links its
/// own libonig), so Debian's Oniguruma source is put there, as jq's release tarball has it.
/// Regular expressions working proves the bundled library is in.
#[test]
fn jq_builds_with_its_bundled_oniguruma_for_amd64_and_arm64() {
    if !require(&[
        "python3",
        "make",
        "apt-get",
        "dpkg-source",
        "autoreconf",
        "libtoolize",
    ]) {
        return;
    }
    let dir = tempdir();
    let project = project_copy("jq", dir.path());
    let bundled = project.join("modules/oniguruma");
    let _ = fs::remove_dir(&bundled);
    let onig = debian_source("libonig");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&onig)
        .arg(&bundled)
        .status()
        .unwrap();
    assert!(copied.success());
    let layout = dir.path().join("layout");
    let program = r#"{"a":[1,2]} | (.a | tojson), ("static image" | test("i[a-z]+e$"))"#;
    for (platform, tag) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let exe = build(&project, platform, &layout, tag, &[]);
        assert!(exe.ends_with("/src/jq"), "{exe}");
        if tag == "arm64" {
            if require_for(&["qemu-aarch64-static"], "running the arm64 binary") {
                let out = Command::new("sh")
                    .arg("-c")
                    .arg(format!(
                        "echo '{{\"a\":[1,2]}}' | qemu-aarch64-static {exe} -c .a"
                    ))
                    .output()
                    .unwrap();
                assert_eq!(String::from_utf8_lossy(&out.stdout), "[1,2]\n", "{out:?}");
                let out = qemu(&exe, &["-nr", program], dir.path());
                assert_eq!(out, "[1,2]\ntrue\n");
            }
        } else if require_for(&["root", "runc", "umoci"], "running the amd64 image") {
            let (code, out) = run_in_runc_with(
                &layout,
                tag,
                &dir.path().join("run"),
                &["-nr", program],
                false,
            );
            assert_eq!(code, 0, "{out}");
            assert!(out.contains("[1,2]\ntrue"), "{out}");
        }
    }
}

/// A project with no `configure` whose `configure.ac` uses libtool cannot be bootstrapped
/// without `libtoolize`: the build stops before anything runs, naming the program, the macro
/// and the package (the tool's data, here a toolchains folder that makes it missing).
#[test]
fn a_bootstrap_that_needs_a_missing_program_stops_before_the_build() {
    let dir = tempdir();
    let project = dir.path().join("lt");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("configure.ac"),
        "AC_INIT([lt], [1.0])\nAM_INIT_AUTOMAKE([foreign])\ndnl LT_INIT in a comment\n\
         AC_PROG_CC\nLT_INIT([static])\nAC_OUTPUT\n",
    )
    .unwrap();
    let toolchains = dir.path().join("tc");
    fs::create_dir_all(&toolchains).unwrap();
    fs::write(
        toolchains.join("tools.toml"),
        "[tool.libtoolize]\nrun = [[\"no-such-libtoolize\"]]\ninstall = \"`apt-get install libtool`\"\n",
    )
    .unwrap();
    let ran = static_image(args![
        "build",
        project.display(),
        "--toolchains",
        toolchains.display(),
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr
            .contains("making one needs `libtoolize` (its `configure.ac` uses `LT_INIT`)")
            && ran
                .stderr
                .contains("help: install it: `apt-get install libtool`")
            && !ran.stderr.contains("Compiling"),
        "{}",
        ran.stderr
    );
    assert!(!project.join("target/static-image-build/amd64/src").exists());
    // The same fact in the table.
    let table = static_image(args!["toolchains"])
        .env("STATIC_IMAGE_TOOLCHAINS", &toolchains)
        .run()
        .ok();
    assert!(
        table
            .stdout
            .contains("libtoolize     missing; install: `apt-get install libtool`"),
        "{}",
        table.stdout
    );
}

/// make compares file times, not flags: a build with other flags (here the user's `-- ARGS`)
/// would link the objects the previous build compiled. It starts from a clean copy instead,
/// while a build planned like the last one recompiles nothing.
#[test]
fn a_build_with_other_flags_starts_afresh_and_a_same_one_recompiles_nothing() {
    if !require(&["python3", "make"]) {
        return;
    }
    let dir = tempdir();
    let project = dir.path().join("say");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("Makefile"),
        "say: main.o\n\t$(CC) -o $@ main.o\n\nmain.o: main.c\n\t$(CC) $(CFLAGS) -c main.c\n",
    )
    .unwrap();
    fs::write(
        project.join("main.c"),
        "#include <stdio.h>\nint main(void) { puts(WORD); return 0; }\n",
    )
    .unwrap();
    let object = project.join("target/static-image-build/amd64/src/main.o");
    let say = |word: &str| {
        // Make passes the backslashes to the shell, which leaves the quotes to the compiler.
        let flags = format!("CFLAGS=-DWORD=\\\"{word}\\\"");
        let ran = static_image(args![
            "--json",
            "build",
            project.display(),
            "--platform",
            "linux/amd64",
            "-q",
            "-o",
            format!("oci:{}", dir.path().join("layout").display()),
            "--",
            flags,
        ])
        .run()
        .ok();
        let outcome: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
        let exe = outcome["verify"]["path"].as_str().unwrap().to_string();
        let out = Command::new(&exe).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(say("one"), "one\n");
    assert_eq!(say("two"), "two\n");
    let compiled = fs::metadata(&object).unwrap().modified().unwrap();
    assert_eq!(say("two"), "two\n");
    assert_eq!(fs::metadata(&object).unwrap().modified().unwrap(), compiled);
}

/// The error part of a failed build's stderr: from `error:` to the end.
fn failure_report(stderr: &str) -> &str {
    stderr
        .rfind("\nerror: ")
        .map_or(stderr, |at| &stderr[at + 1..])
}

/// `build PROJECT -q -o OUTPUT [--platform P] EXTRA…`, which must fail (exit 1); its report.
fn failed_build(project: &Path, platform: Option<&str>, output: String, extra: &[&str]) -> String {
    let mut words = args!["build", project.display(), "-q", "-o", output];
    if let Some(platform) = platform {
        words.extend(args!["--platform", platform]);
    }
    words.extend(extra.iter().map(|w| w.to_string()));
    let ran = static_image(words).run().code(1);
    failure_report(&ran.stderr).to_string()
}

/// Asserts that `report` starts with `start` and holds each of `parts`.
fn assert_report(report: &str, start: &str, parts: &[&str]) {
    assert!(report.starts_with(start), "{report}");
    for part in parts {
        assert!(report.contains(part), "no {part:?} in\n{report}");
    }
}

/// A build that fails early and then prints pages of output: the report shows the first error
/// (the tail alone would have lost it), the step, and a next step, under `-q` as without it.
#[test]
fn a_failed_make_shows_its_first_error_and_a_next_step() {
    if !require(&["python3", "make"]) {
        return;
    }
    let dir = tempdir();
    let project = dir.path().join("noisy");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("main.c"),
        "#include <zlib.h>\nint main(void) { return 0; }\n",
    )
    .unwrap();
    fs::write(
        project.join("Makefile"),
        "noisy: main.c\n\t$(CC) -o noisy main.c || { i=0; while [ $$i -lt 60 ]; do \
         echo \"  cleaning up $$i\" >&2; i=$$((i+1)); done; exit 1; }\n",
    )
    .unwrap();
    for quiet in [true, false] {
        let mut words = args!["build", project.display(), "-o", "oci:layout"];
        if quiet {
            words.push("-q".into());
        }
        let ran = static_image(words).cwd(dir.path()).run().code(1);
        let report = failure_report(&ran.stderr);
        assert_report(
            report,
            "error: make (make) failed: exited with status 2\n  command: `",
            &[
                "\n  where it went wrong:\n  | main.c:1:10: fatal error: 'zlib.h' file not found\n",
                "  | make: *** [Makefile:2: noisy] Error 1",
            ],
        );
        assert!(!report.contains("cleaning up"), "{report}");
        assert!(
            report.contains("\nhelp: the first error above is where the build went wrong"),
            "{report}"
        );
    }
}

/// A Makefile that runs a bundled library's autoconf `configure` without `--host` (redis and
/// jemalloc): built for arm64 it works, the script having read `host_alias` from the
/// environment; started without it, its "cannot run C compiled programs" is what the report
/// shows, above make's own last error, with what to do.
#[test]
fn a_bundled_configure_cross_compiles_and_its_failure_is_surfaced() {
    if !require(&["python3", "make", "autoconf"]) {
        return;
    }
    let dir = tempdir();
    let project = dir.path().join("outer");
    let dep = project.join("dep");
    fs::create_dir_all(&dep).unwrap();
    fs::write(
        dep.join("configure.ac"),
        "AC_INIT([dep], [1.0])\nAC_PROG_CC\nAC_SUBST([cross_compiling])\n\
         AC_CONFIG_FILES([dep.h])\nAC_OUTPUT\n",
    )
    .unwrap();
    fs::write(
        dep.join("dep.h.in"),
        "#define CROSS \"@cross_compiling@\"\n",
    )
    .unwrap();
    tool("sh", &["-c", &format!("cd {} && autoconf", dep.display())]);
    fs::write(
        project.join("main.c"),
        "#include <stdio.h>\n#include \"dep/dep.h\"\n\
         int main(void) { printf(\"cross: %s\\n\", CROSS); return 0; }\n",
    )
    .unwrap();
    // `SUBENV` lets the test start the sub-configure as some Makefiles do: with an
    // environment of their own.
    fs::write(
        project.join("Makefile"),
        "outer: dep/dep.h main.c\n\t$(CC) -o outer main.c\n\n\
         dep/dep.h:\n\tcd dep && $(SUBENV) ./configure CC=\"$(CC)\"\n",
    )
    .unwrap();
    let layout = dir.path().join("layout");
    let exe = build(&project, "linux/arm64", &layout, "arm64", &[]);
    if require_for(&["qemu-aarch64-static"], "running the arm64 binary") {
        assert_eq!(qemu(&exe, &[], dir.path()), "cross: yes\n");
    }
    let broken = dir.path().join("broken");
    copy_tree(&project, &broken);
    copy_tree(&dep, &broken.join("dep"));
    let report = failed_build(
        &broken,
        Some("linux/arm64"),
        format!("oci:{}", layout.display()),
        &["--", "SUBENV=host_alias="],
    );
    assert_report(
        &report,
        "error: ",
        &[
            "  | configure: error: cannot run C compiled programs.\n  | If you meant to cross compile, use `--host'.",
            "  | make: *** [Makefile:5: dep/dep.h] Error 77",
            "\nhelp: a `configure` run inside the build",
            "linux/arm64",
        ],
    );
}

/// A `configure` that autoconf did not write (nginx's kind) is run as it is: the compiler in
/// `CC`, none of autoconf's options, the arguments after `--` as the user wrote them (one with
/// a space stays one); a library it cannot find is named, with what to do.
#[test]
fn a_configure_of_its_own_gets_the_user_s_arguments_as_written() {
    if !require(&["python3", "make"]) {
        return;
    }
    let dir = tempdir();
    let project = dir.path().join("hello");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("configure"),
        "#!/bin/sh\n# Not autoconf's: options of its own, in nginx's manner.\ngreeting=hello\nshout=1\n\
         for option do\n  case \"$option\" in\n    --with-greeting=*) greeting=\"${option#*=}\" ;;\n\
         \x20   --without-shout) shout=0 ;;\n    --with-zlib) echo 'checking for zlib library ... not found'\n\
         \x20     echo \"$0: error: the gzip module requires the zlib library.\"; exit 1 ;;\n\
         \x20   *) echo \"$0: error: invalid option \\\"$option\\\"\"; exit 1 ;;\n  esac\ndone\n\
         echo \"checking for C compiler ... ${CC:?CC is not set}\"\n\
         printf 'hello: hello.c\\n\\t%s -DGREETING=\\047\"%s\"\\047 -DSHOUT=%s -o hello hello.c\\n' \
         \"$CC\" \"$greeting\" \"$shout\" > Makefile\n",
    )
    .unwrap();
    let mode: fs::Permissions = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    fs::set_permissions(project.join("configure"), mode).unwrap();
    fs::write(
        project.join("hello.c"),
        "#include <stdio.h>\nint main(void) { printf(SHOUT ? \"%s!\\n\" : \"%s\\n\", GREETING); return 0; }\n",
    )
    .unwrap();
    let plan = static_image(args!["plan", project.display(), "--json"])
        .run()
        .ok();
    assert!(plan.stdout.contains("\"./configure\""), "{}", plan.stdout);
    assert!(!plan.stdout.contains("--host"), "{}", plan.stdout);
    let layout = dir.path().join("layout");
    let exe = build(
        &project,
        "linux/amd64",
        &layout,
        "amd64",
        &["--", "--with-greeting=static hi", "--without-shout"],
    );
    let out = Command::new(&exe).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "static hi\n");
    let report = failed_build(
        &project,
        None,
        format!("oci:{}", layout.display()),
        &["--", "--with-zlib"],
    );
    assert_report(
        &report,
        "error: configure (configure) failed: exited with status 1",
        &[
            "  | ./configure: error: the gzip module requires the zlib library.",
            "help: a static build cannot use this machine's libraries",
        ],
    );
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Sends `request` to 127.0.0.1:`port` once the server listens (up to 30 s), returns the answer.
fn ask(port: u16, request: &[u8], alive: &mut dyn FnMut() -> bool) -> String {
    use std::io::{Read, Write};
    let started = Instant::now();
    loop {
        if let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            conn.write_all(request).unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            // Read until the server closes or has answered a whole line.
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 {
                    break;
                }
                answer.extend_from_slice(&buf[..n]);
                if request.starts_with(b"PING") && answer.ends_with(b"\r\n") {
                    break;
                }
            }
            return String::from_utf8_lossy(&answer).into_owned();
        }
        assert!(alive(), "the server ended before it listened on {port}");
        assert!(
            started.elapsed().as_secs() < 30,
            "nothing listens on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// nginx's `configure` is its own (no autoconf, no `--host`): it is run with the compiler in
/// `CC` and the user's options as written, here turning off what needs PCRE and zlib (not
/// on a static build's search path) and `-Werror` (zig's clang warns on musl's `CMSG_NXTHDR`).
/// The image serves a page on 127.0.0.1 from runc, with its rootfs alone. For arm64 the
/// configure fails (it runs every test program it compiles) and the report says so. A second
/// build runs neither configure (which rewrites the config header) nor the compiler.
#[test]
fn nginx_builds_with_its_own_configure_and_serves_a_page() {
    if !require(&["python3", "make", "apt-get", "dpkg-source"]) {
        return;
    }
    let dir = tempdir();
    let project = project_copy("nginx", dir.path());
    let layout = dir.path().join("layout");
    let site = dir.path().join("site");
    fs::create_dir_all(&site).unwrap();
    fs::write(site.join("index.html"), "served by a static nginx\n").unwrap();
    let port = free_port();
    fs::write(
        site.join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process off;\nerror_log stderr;\npid /tmp/nginx.pid;\n\
             events {{ worker_connections 16; }}\nhttp {{\n  access_log off;\n  \
             server {{ listen 127.0.0.1:{port}; root /www; }}\n}}\n"
        ),
    )
    .unwrap();
    let options = [
        "--add",
        &format!("{}:/www/", site.join("index.html").display()),
        "--add",
        &format!("{}:/etc/nginx/", site.join("nginx.conf").display()),
        "--",
        "--without-http_rewrite_module",
        "--without-http_gzip_module",
        "--with-cc-opt=-Wno-error",
    ]
    .map(|s| s.to_string());
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let exe = build(&project, "linux/amd64", &layout, "amd64", &options);
    assert!(exe.ends_with("/src/objs/nginx"), "{exe}");
    assert_no_op(&project, "linux/amd64", &layout, "amd64", &options, &exe);
    if require_for(&["root", "runc", "umoci"], "serving from the amd64 image") {
        let mut server = RuncServer::start(
            &layout,
            "amd64",
            &dir.path().join("run"),
            &["-e", "stderr", "-p", "/tmp/", "-c", "/etc/nginx/nginx.conf"],
        );
        let answer = ask(port, b"GET / HTTP/1.0\r\n\r\n", &mut || !server.exited());
        assert!(
            answer.starts_with("HTTP/1.1 200 OK"),
            "{answer}\n{}",
            server.log()
        );
        assert!(answer.ends_with("served by a static nginx\n"), "{answer}");
    }
    let report = failed_build(
        &project,
        Some("linux/arm64"),
        format!("oci:{}:arm64", layout.display()),
        &[
            "--",
            "--without-http_rewrite_module",
            "--without-http_gzip_module",
        ],
    );
    assert_report(
        &report,
        "error: configure (configure) failed",
        &["error: C compiler", "runs each test program it compiles"],
    );
}

/// redis builds jemalloc with a `configure` its Makefile starts without `--host`: for arm64 it
/// cross-compiles all the same (the environment's `host_alias`), its C++ part with the
/// target's compiler. The program taken is `redis-server` (`--artifact`: the build makes six
/// redis programs and Lua's two), stripped; it answers PING on 127.0.0.1 in runc, and under
/// qemu for arm64.
#[test]
fn redis_builds_with_its_jemalloc_and_answers_ping() {
    if !require(&["python3", "make", "apt-get", "dpkg-source"]) {
        return;
    }
    let dir = tempdir();
    let project = project_copy("redis", dir.path());
    let layout = dir.path().join("layout");
    let arm64 = require_for(&["qemu-aarch64-static"], "running the arm64 binary");
    for (platform, tag) in [("linux/arm64", "arm64"), ("linux/amd64", "amd64")] {
        let exe = build(
            &project,
            platform,
            &layout,
            tag,
            &["--artifact", "src/redis-server"],
        );
        assert!(exe.ends_with("/src/src/redis-server"), "{exe}");
        let sections = tool("readelf", &["-S", "-W", &exe]);
        assert!(!sections.contains(".debug_"), "{sections}");
        assert!(!sections.contains(".symtab"), "{sections}");
        let port = free_port();
        let serve = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(|s| s.to_string());
        let serve: Vec<&str> = serve.iter().map(String::as_str).collect();
        if tag == "arm64" {
            if !arm64 {
                continue;
            }
            assert!(qemu(&exe, &["--version"], dir.path()).contains("Redis server v=7.0.15"),);
            let mut server = Command::new("qemu-aarch64-static")
                .arg(&exe)
                .args(&serve)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let answer = ask(port, b"PING\r\n", &mut || {
                matches!(server.try_wait(), Ok(None))
            });
            let _ = server.kill();
            let _ = server.wait();
            assert_eq!(answer, "+PONG\r\n");
        } else if require_for(&["root", "runc", "umoci"], "running the amd64 image") {
            let (code, out) = run_in_runc_with(
                &layout,
                tag,
                &dir.path().join("version"),
                &["--version"],
                false,
            );
            assert_eq!(code, 0, "{out}");
            assert!(out.contains("Redis server v=7.0.15"), "{out}");
            let mut server = RuncServer::start(&layout, tag, &dir.path().join("serve"), &serve);
            let answer = ask(port, b"PING\r\n", &mut || !server.exited());
            assert_eq!(answer, "+PONG\r\n", "{}", server.log());
        }
    }
}
