//! `package --closure`: dynamic programs from Debian's packages (nginx, curl) and one compiled
//! here, packaged with their interpreter and libraries found as the loader finds them, run from
//! scratch in runc; and `verify`'s closure check on images with a library deleted or replaced
//! by one for another machine.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::runc::{RuncServer, run_in_runc, run_in_runc_with};
use crate::support::tls::{TestCa, TlsServer};
use crate::support::tools::{require, test_debs};
use crate::support::*;

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `package --closure ARGS… -o oci:LAYOUT`, timed; (run, seconds).
fn package_closure(layout: &Path, args: Vec<String>) -> (Ran, f64) {
    let mut all = args![
        "package",
        "--closure",
        "-o",
        format!("oci:{}", layout.display())
    ];
    all.extend(args);
    let started = Instant::now();
    let ran = static_image(all).run().ok();
    (ran, started.elapsed().as_secs_f64())
}

/// Every regular file's size in a rootfs (what the image holds uncompressed).
fn file_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        if meta.is_dir() {
            total += file_bytes(&entry.path());
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}

/// Unpacks `layout:latest` with umoci into `dir` (a bundle whose rootfs can be edited).
fn unpack(layout: &Path, dir: &Path) -> PathBuf {
    let image = format!("{}:latest", layout.display());
    tool(
        "umoci",
        &["unpack", "--image", &image, dir.to_str().unwrap()],
    );
    dir.join("rootfs")
}

/// Commits the edited bundle `dir` as a new layer of `layout:latest`.
fn repack(layout: &Path, dir: &Path) {
    let image = format!("{}:latest", layout.display());
    tool(
        "umoci",
        &["repack", "--image", &image, dir.to_str().unwrap()],
    );
}

#[test]
fn debian_nginx_serves_a_page_from_scratch_as_a_non_root_user() {
    if !require(&["umoci", "runc", "curl", "dpkg-deb", "nginx-deb"]) {
        return;
    }
    let dir = tempdir();
    let deb = test_debs().join("nginx.deb");
    tool(
        "dpkg-deb",
        &[
            "-x",
            deb.to_str().unwrap(),
            dir.path().join("pkg").to_str().unwrap(),
        ],
    );
    let port = free_port();
    let conf = dir.path().join("nginx.conf");
    fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid /tmp/nginx.pid;\nerror_log stderr;\n\
             events {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  \
             client_body_temp_path /tmp/body;\n  proxy_temp_path /tmp/proxy;\n  \
             fastcgi_temp_path /tmp/fastcgi;\n  uwsgi_temp_path /tmp/uwsgi;\n  \
             scgi_temp_path /tmp/scgi;\n  server {{\n    listen 127.0.0.1:{port};\n    \
             location / {{ root /srv/www; }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let page = dir.path().join("index.html");
    fs::write(&page, "nginx from Debian, in a scratch image\n").unwrap();
    let layout = dir.path().join("layout");
    let (ran, seconds) = package_closure(
        &layout,
        args![
            dir.path().join("pkg/usr/sbin/nginx").display(),
            "--port",
            format!("{port}/tcp"),
            "--add",
            format!("{}:/etc/nginx/nginx.conf", conf.display()),
            "--add",
            format!("{}:/srv/www/index.html", page.display()),
            "--arg",
            "-e",
            "--arg",
            "stderr",
            "--arg",
            "-c",
            "--arg",
            "/etc/nginx/nginx.conf",
        ],
    );
    assert!(
        ran.stderr.contains("Resolved the library closure"),
        "{}",
        ran.stderr
    );
    let inspect = skopeo_inspect(&format!("oci:{}:latest", layout.display()), true);
    let config = &inspect["config"];
    assert_eq!(config["User"], "65532:65532", "{inspect}");
    assert!(
        config["ExposedPorts"][format!("{port}/tcp")].is_object(),
        "{inspect}"
    );
    assert_eq!(config["Labels"]["dev.static-image.closure"], "true");

    let work = dir.path().join("run");
    let mut server = RuncServer::start(&layout, "latest", &work, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "2"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            !server.exited() && Instant::now() < deadline,
            "nginx did not answer: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(body, "nginx from Debian, in a scratch image\n");
    drop(server);

    // What the image holds, beside the hand-written Dockerfile that copies the same files.
    let rootfs = unpack(&layout, &dir.path().join("bundle"));
    let compressed: u64 = manifest_for(&layout, "latest")["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    eprintln!(
        "nginx closure image: {} bytes of files, {compressed} bytes of compressed layers, \
         packaged in {seconds:.2} s",
        file_bytes(&rootfs)
    );
    assert!(rootfs.join("lib64/ld-linux-x86-64.so.2").exists());
    assert!(rootfs.join("lib/x86_64-linux-gnu/libpcre2-8.so.0").exists());
    static_image(args!["verify", format!("oci:{}", layout.display())])
        .run()
        .ok();
}

#[test]
fn debian_curl_fetches_https_through_the_test_ca_and_packages_reproducibly() {
    if !require(&["umoci", "runc", "openssl", "python3", "curl", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let ca = TestCa::new(&dir.path().join("ca"));
    let server = TlsServer::start(&ca, &dir.path().join("www"));
    let package = |name: &str| {
        let layout = dir.path().join(name);
        let (ran, _) = package_closure(
            &layout,
            args!["/usr/bin/curl", "--extra-ca", ca.cert_pem.display()],
        );
        (layout, ran.digest())
    };
    let (layout, first) = package("one");
    let (_, second) = package("two");
    assert_eq!(first, second, "the same closure gives the same image");
    // Never answered from the record of the last run: the libraries may have changed since.
    let (again, _) = package_closure(
        &layout,
        args!["/usr/bin/curl", "--extra-ca", ca.cert_pem.display()],
    );
    assert!(
        again.stderr.contains("Resolved the library closure"),
        "{}",
        again.stderr
    );
    assert_eq!(again.digest(), first);

    let (code, out) = run_in_runc_with(
        &layout,
        "latest",
        &dir.path().join("run"),
        &["-sS", "-o", "/dev/stdout", &server.url()],
        true,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("static-image served this over TLS"), "{out}");
    assert_eq!(
        out.matches("static-image served this over TLS\n").count(),
        40,
        "{out}"
    );

    // Scanners see the Debian packages the libraries came from.
    let sbom = static_image(args!["sbom", format!("oci:{}", layout.display())])
        .run()
        .ok()
        .stdout;
    for package in ["libcurl4", "libc6", "libssl3", "zlib1g"] {
        let purl = format!("pkg:deb/debian/{package}@");
        assert!(sbom.contains(&purl), "{purl} missing from\n{sbom}");
    }
    assert!(sbom.contains("?arch=amd64"), "{sbom}");
    // glibc is a file of the image (libc6), not code linked into curl.
    assert!(!sbom.contains("linked statically"), "{sbom}");
}

#[test]
fn glibc_programs_static_and_dynamic_resolve_a_host_name_through_nss() {
    if !require(&["umoci", "runc", "gcc"]) {
        return;
    }
    let dir = tempdir();
    let source = r#"
#include <netdb.h>
#include <stdio.h>
#include <arpa/inet.h>
int main(int argc, char **argv) {
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_INET;
    int rc = getaddrinfo(argv[1], NULL, &hints, &res);
    if (rc) { printf("lookup failed: %s\n", gai_strerror(rc)); return 1; }
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, text, sizeof text);
    printf("%s is %s\n", argv[1], text);
    return 0;
}
"#;
    let hosts = dir.path().join("hosts");
    fs::write(
        &hosts,
        "127.0.0.1 localhost\n10.20.30.40 backend.internal\n",
    )
    .unwrap();
    // `compat` is a module glibc has no built-in copy of (`files` and `dns` are built in).
    let nsswitch = dir.path().join("nsswitch.conf");
    fs::write(
        &nsswitch,
        "hosts: files dns\npasswd: compat\ngroup: compat\n",
    )
    .unwrap();
    for (name, flags) in [
        ("dynamic", &["-O1"][..]),
        ("static", &["-O1", "-static"][..]),
    ] {
        let work = dir.path().join(name);
        fs::create_dir_all(&work).unwrap();
        let exe = compile_c("gcc", flags, source, &work, "lookup");
        let layout = work.join("layout");
        package_closure(
            &layout,
            args![
                exe.display(),
                "--add",
                format!("{}:/etc/hosts", hosts.display()),
                "--add",
                format!("{}:/etc/nsswitch.conf", nsswitch.display()),
                "--arg",
                "backend.internal",
            ],
        );
        let (code, out) = run_in_runc(&layout, "latest", &work.join("run"));
        assert_eq!(code, 0, "{name}: {out}");
        assert_eq!(out, "backend.internal is 10.20.30.40\n", "{name}");
        let rootfs = unpack(&layout, &work.join("bundle"));
        let module = |m: &str| rootfs.join("lib/x86_64-linux-gnu").join(m).is_file();
        if name == "dynamic" {
            // It imports getaddrinfo only: the modules nsswitch.conf names for hosts.
            assert!(module("libnss_files.so.2") && module("libnss_dns.so.2"));
            assert!(!module("libnss_compat.so.2"));
        } else {
            // A static program's lookups are not listed: every database's modules that are
            // not built in, with the libc they load.
            assert!(module("libnss_compat.so.2") && module("libc.so.6"));
            assert!(!module("libnss_files.so.2"));
        }
        static_image(args!["verify", format!("oci:{}:latest", layout.display())])
            .run()
            .ok();
    }
}

/// A program converting with iconv: without `--gconv` a warning says what to add and the image
/// converts nothing but glibc's built-in sets; with it, the named sets (an alias too) convert
/// in runc, from a gconv configuration naming only them. A set no module converts is refused,
/// naming it, and nothing is written.
#[test]
fn iconv_converts_the_character_sets_gconv_names_and_only_those() {
    if !require(&["umoci", "runc", "gcc"]) {
        return;
    }
    let dir = tempdir();
    let source = r#"
#include <iconv.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        iconv_t cd = iconv_open(argv[i], "UTF-8");
        if (cd == (iconv_t)-1) { printf("%s: unsupported\n", argv[i]); continue; }
        char in[] = "h\xc3\xa9", out[16], *ip = in, *op = out;
        size_t il = strlen(in), ol = sizeof out;
        if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) printf("%s: failed\n", argv[i]);
        else printf("%s: %zu bytes\n", argv[i], sizeof out - ol);
    }
    return 0;
}
"#;
    let exe = compile_c("gcc", &["-O1"], source, dir.path(), "conv");
    let sets = ["UTF-8", "LATIN-9", "UTF-16LE", "CP1252"];
    let run = |name: &str, gconv: &[&str]| {
        let layout = dir.path().join(name);
        let mut words = args![exe.display()];
        for set in sets {
            words.extend(args!["--arg", set]);
        }
        for set in gconv {
            words.extend(args!["--gconv", set]);
        }
        let (ran, _) = package_closure(&layout, words);
        let (code, out) = run_in_runc(&layout, "latest", &dir.path().join(format!("run-{name}")));
        assert_eq!(code, 0, "{out}");
        (
            ran.stderr,
            out,
            unpack(&layout, &dir.path().join(format!("bundle-{name}"))),
        )
    };

    let (stderr, out, _) = run("without", &[]);
    assert!(
        stderr.contains("uses `iconv_open`") && stderr.contains("`--gconv CHARSET`"),
        "{stderr}"
    );
    assert_eq!(
        out,
        "UTF-8: 3 bytes\nLATIN-9: unsupported\nUTF-16LE: unsupported\nCP1252: unsupported\n"
    );

    let (stderr, out, rootfs) = run("with", &["iso-8859-15", "UTF-16LE"]);
    assert!(!stderr.contains("iconv_open"), "{stderr}");
    assert_eq!(
        out,
        "UTF-8: 3 bytes\nLATIN-9: 2 bytes\nUTF-16LE: 4 bytes\nCP1252: unsupported\n"
    );
    let gconv = rootfs.join("usr/lib/x86_64-linux-gnu/gconv");
    let mut files: Vec<String> = fs::read_dir(&gconv)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["ISO8859-15.so", "UTF-16.so", "gconv-modules"]);
    let config = fs::read_to_string(gconv.join("gconv-modules")).unwrap();
    assert!(
        config.contains("alias\tLATIN-9//\tISO-8859-15//\n"),
        "{config}"
    );
    assert!(!config.contains("CP1252"), "{config}");

    let layout = dir.path().join("refused");
    let ran = static_image(args![
        "package",
        "--closure",
        exe.display(),
        "--gconv",
        "KOI9-Q",
        "-o",
        format!("oci:{}", layout.display())
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr
            .contains("--gconv KOI9-Q: no gconv module in `/usr/lib/x86_64-linux-gnu/gconv`"),
        "{}",
        ran.stderr
    );
    assert!(!layout.exists());
}

#[test]
fn origin_rpath_libraries_are_found_and_missing_ones_named() {
    if !require(&["umoci", "runc", "gcc"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    fs::create_dir_all(d.join("vendor/bin")).unwrap();
    fs::create_dir_all(d.join("vendor/lib")).unwrap();
    fs::write(
        d.join("greet.c"),
        "const char *greeting(void){return \"hi from $ORIGIN\";}\n",
    )
    .unwrap();
    fs::write(
        d.join("main.c"),
        "#include <stdio.h>\nconst char *greeting(void);\nint main(void){puts(greeting());return 0;}\n",
    )
    .unwrap();
    let cc = |args: &[&str]| {
        let out = Command::new("gcc")
            .current_dir(d)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    cc(&[
        "-shared",
        "-fPIC",
        "-Wl,-soname,libgreet.so.1",
        "-o",
        "vendor/lib/libgreet.so.1",
        "greet.c",
    ]);
    cc(&[
        "-o",
        "vendor/bin/app",
        "main.c",
        "-Lvendor/lib",
        "-l:libgreet.so.1",
        "-Wl,-rpath,$ORIGIN/../lib",
    ]);
    cc(&[
        "-o",
        "norpath",
        "main.c",
        "-Lvendor/lib",
        "-l:libgreet.so.1",
    ]);

    // $ORIGIN of the program is its directory in the image (/app): the library goes to /lib.
    let layout = d.join("layout");
    package_closure(&layout, args![d.join("vendor/bin/app").display()]);
    let (code, out) = run_in_runc(&layout, "latest", &d.join("run"));
    assert_eq!((code, out.as_str()), (0, "hi from $ORIGIN\n"));
    assert!(
        unpack(&layout, &d.join("bundle"))
            .join("lib/libgreet.so.1")
            .is_file()
    );

    // A library the program dlopens goes in at its path with --add-lib; a relative one is
    // refused.
    let gconv = "/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so";
    let with_plugin = d.join("plugin");
    package_closure(
        &with_plugin,
        args![d.join("vendor/bin/app").display(), "--add-lib", gconv],
    );
    assert!(
        unpack(&with_plugin, &d.join("plugin-bundle"))
            .join(gconv.trim_start_matches('/'))
            .is_file()
    );
    let ran = static_image(args![
        "package",
        "--closure",
        d.join("vendor/bin/app").display(),
        "--add-lib",
        "libz.so.1",
        "-o",
        format!("oci:{}", d.join("relative").display())
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr
            .contains("--add-lib `libz.so.1`: give an absolute path"),
        "{}",
        ran.stderr
    );

    // Without a search path, nothing finds it: the error names the library and its user.
    let ran = static_image(args![
        "package",
        "--closure",
        d.join("norpath").display(),
        "-o",
        format!("oci:{}", d.join("bad").display())
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr
            .contains("`libgreet.so.1` (needed by `/app/norpath`)"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("--add-lib"), "{}", ran.stderr);
    assert!(!d.join("bad").exists(), "nothing is written");

    // A static program is refused without --closure, and --sysroot needs --closure.
    let ran = static_image(args!["package", d.join("norpath").display()])
        .run()
        .code(1);
    assert!(ran.stderr.contains("is not static"), "{}", ran.stderr);
    let ran = static_image(args![
        "package",
        d.join("norpath").display(),
        "--sysroot",
        "/"
    ])
    .run()
    .code(2);
    assert!(
        ran.stderr
            .contains("`--sysroot` (`sysroot`) needs `--closure`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn verify_names_a_deleted_library_and_every_file_needing_it() {
    if !require(&["umoci", "skopeo"]) {
        return;
    }
    let dir = tempdir();
    let layout = dir.path().join("layout");
    package_closure(&layout, args!["/usr/bin/curl"]);
    let spec = format!("oci:{}", layout.display());
    let ran = static_image(args!["verify", spec]).run().ok();
    assert!(
        ran.stdout
            .contains("ok (dynamic, with its library closure)"),
        "{}",
        ran.stdout
    );

    // Without the closure label, a complete closure is reported, but only --allow-dynamic
    // accepts it.
    let unlabelled = format!("{}:unlabelled", layout.display());
    tool(
        "umoci",
        &[
            "config",
            "--image",
            &format!("{}:latest", layout.display()),
            "--tag",
            "unlabelled",
            "--clear=config.labels",
        ],
    );
    let ran = static_image(args!["verify", format!("oci:{unlabelled}")])
        .run()
        .code(1);
    assert!(
        ran.stdout.contains("is complete in the image"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("/app/curl: dynamic, NOT STATIC"),
        "{}",
        ran.stdout
    );
    static_image(args![
        "verify",
        "--allow-dynamic",
        format!("oci:{unlabelled}")
    ])
    .run()
    .ok();

    let bundle = dir.path().join("bundle");
    let rootfs = unpack(&layout, &bundle);
    fs::remove_file(rootfs.join("lib/x86_64-linux-gnu/libz.so.1.2.13")).unwrap();
    repack(&layout, &bundle);
    let ran = static_image(args!["verify", format!("oci:{}:latest", layout.display())])
        .run()
        .code(1);
    let line = ran
        .stdout
        .lines()
        .find(|l| l.contains("`libz.so.1` is not in the image"))
        .unwrap_or_else(|| panic!("{}", ran.stdout));
    for needing in ["`/app/curl`", "libcurl.so.4", "libssh2.so.1"] {
        assert!(line.contains(needing), "{needing} not named: {line}");
    }
    let json: serde_json::Value = serde_json::from_str(
        &static_image(args![
            "verify",
            "--json",
            format!("oci:{}:latest", layout.display())
        ])
        .run()
        .code(1)
        .stdout,
    )
    .unwrap();
    let platform = &json[0]["platforms"][0];
    assert_eq!(platform["closure_complete"], false, "{platform}");
    assert_eq!(platform["missing_libraries"][0]["library"], "libz.so.1");
    let needed_by = platform["missing_libraries"][0]["needed_by"]
        .as_array()
        .unwrap();
    assert!(needed_by.iter().any(|p| p == "/app/curl"), "{platform}");
}

#[test]
fn verify_refuses_a_library_for_another_machine() {
    let arm64_libc = Path::new("/usr/aarch64-linux-gnu/lib/libc.so.6");
    if !require(&["umoci", "skopeo", "aarch64-linux-gnu-gcc"]) {
        return;
    }
    let dir = tempdir();
    let layout = dir.path().join("layout");
    package_closure(&layout, args!["/usr/bin/curl"]);
    let bundle = dir.path().join("bundle");
    let rootfs = unpack(&layout, &bundle);
    // The right library, built for the wrong machine.
    fs::copy(arm64_libc, rootfs.join("lib/x86_64-linux-gnu/libc.so.6")).unwrap();
    repack(&layout, &bundle);
    let ran = static_image(args!["verify", format!("oci:{}:latest", layout.display())])
        .run()
        .code(1);
    let line = ran
        .stdout
        .lines()
        .find(|l| l.contains("`libc.so.6` is not in the image"))
        .unwrap_or_else(|| panic!("{}", ran.stdout));
    assert!(line.contains("`/app/curl`"), "{line}");
    assert!(
        line.contains("`/lib/x86_64-linux-gnu/libc.so.6` is for another machine"),
        "{line}"
    );
}

#[test]
fn a_cross_sysroot_gives_an_arm64_closure_and_links_cannot_leave_it() {
    if !require(&[
        "umoci",
        "skopeo",
        "aarch64-linux-gnu-gcc",
        "qemu-aarch64-static",
    ]) {
        return;
    }
    let sysroot = Path::new("/usr/aarch64-linux-gnu");
    let dir = tempdir();
    let exe = compile_c(
        "aarch64-linux-gnu-gcc",
        &["-O1"],
        "#include <stdio.h>\nint main(void){puts(\"hello from an arm64 closure\");return 0;}\n",
        dir.path(),
        "hello",
    );
    let layout = dir.path().join("layout");
    package_closure(
        &layout,
        args![exe.display(), "--sysroot", sysroot.display()],
    );
    let inspect = skopeo_inspect(&format!("oci:{}:latest", layout.display()), false);
    assert_eq!(inspect["Architecture"], "arm64", "{inspect}");
    static_image(args!["verify", format!("oci:{}:latest", layout.display())])
        .run()
        .ok();
    // The loader and libc came from the sysroot, at the paths its loader searches.
    let rootfs = unpack(&layout, &dir.path().join("bundle"));
    for file in ["lib/ld-linux-aarch64.so.1", "lib/libc.so.6"] {
        assert_eq!(
            fs::read(rootfs.join(file)).unwrap(),
            fs::read(sysroot.join(file)).unwrap(),
            "{file}"
        );
    }
    // A sysroot without a dpkg database gives no package paragraphs nor release files.
    assert!(!rootfs.join("var/lib/dpkg").exists());
    assert!(!rootfs.join("etc/debian_version").exists());
    let out = Command::new("qemu-aarch64-static")
        .arg("-L")
        .arg(&rootfs)
        .arg(rootfs.join("app/hello"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from an arm64 closure\n"
    );

    // A libc for another machine comes first in the search: skipped, as the loader skips it.
    let mixed = dir.path().join("mixed");
    fs::create_dir_all(mixed.join("lib/aarch64-linux-gnu")).unwrap();
    fs::create_dir_all(mixed.join("usr/lib")).unwrap();
    fs::copy(
        sysroot.join("lib/ld-linux-aarch64.so.1"),
        mixed.join("lib/ld-linux-aarch64.so.1"),
    )
    .unwrap();
    let host_libc = fs::canonicalize("/lib/x86_64-linux-gnu/libc.so.6").unwrap();
    fs::copy(&host_libc, mixed.join("lib/aarch64-linux-gnu/libc.so.6")).unwrap();
    fs::copy(
        sysroot.join("lib/libc.so.6"),
        mixed.join("usr/lib/libc.so.6"),
    )
    .unwrap();
    let mixed_layout = dir.path().join("mixed-layout");
    package_closure(
        &mixed_layout,
        args![exe.display(), "--sysroot", mixed.display()],
    );
    let rootfs = unpack(&mixed_layout, &dir.path().join("mixed-bundle"));
    assert!(rootfs.join("usr/lib/libc.so.6").is_file());
    assert!(!rootfs.join("lib/aarch64-linux-gnu/libc.so.6").exists());
    // A gconv configuration naming a module the sysroot lacks: the module is named, and
    // nothing is written.
    let gconv = mixed.join("usr/lib/aarch64-linux-gnu/gconv");
    fs::create_dir_all(&gconv).unwrap();
    fs::write(
        gconv.join("gconv-modules"),
        "module\tISO-8859-15//\tINTERNAL\tISO8859-15\t1\n",
    )
    .unwrap();
    let refused = dir.path().join("gconv-refused");
    let ran = static_image(args![
        "package",
        "--closure",
        exe.display(),
        "--sysroot",
        mixed.display(),
        "--gconv",
        "ISO-8859-15",
        "-o",
        format!("oci:{}", refused.display())
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr.contains(
            "--gconv: the gconv configuration names the module \
             `/usr/lib/aarch64-linux-gnu/gconv/ISO8859-15.so`, which is not found"
        ),
        "{}",
        ran.stderr
    );
    assert!(!refused.exists());
    fs::remove_file(mixed.join("usr/lib/libc.so.6")).unwrap();
    let ran = static_image(args![
        "package",
        "--closure",
        exe.display(),
        "--sysroot",
        mixed.display(),
        "-o",
        format!("oci:{}", dir.path().join("mixed-bad").display())
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr.contains(
            "`libc.so.6` (needed by `/app/hello`; skipped for another machine: \
             `/lib/aarch64-linux-gnu/libc.so.6`)"
        ),
        "{}",
        ran.stderr
    );

    // A sysroot whose libc is a link to an absolute path: followed inside the root, where
    // nothing is, never to the host's file of that name.
    let evil = dir.path().join("evil");
    fs::create_dir_all(evil.join("lib")).unwrap();
    fs::copy(
        sysroot.join("lib/ld-linux-aarch64.so.1"),
        evil.join("lib/ld-linux-aarch64.so.1"),
    )
    .unwrap();
    std::os::unix::fs::symlink(sysroot.join("lib/libc.so.6"), evil.join("lib/libc.so.6")).unwrap();
    let ran = static_image(args![
        "package",
        "--closure",
        exe.display(),
        "--sysroot",
        evil.display(),
        "-o",
        format!("oci:{}", dir.path().join("bad").display())
    ])
    .run()
    .code(1);
    assert!(
        ran.stderr.contains("`libc.so.6` (needed by `/app/hello`)"),
        "{}",
        ran.stderr
    );
}

/// A glibc `ld.so.cache` (new format) mapping each `(soname, path)` for aarch64.
fn aarch64_ld_cache(entries: &[(&str, &str)]) -> Vec<u8> {
    let table = 48 + entries.len() * 24;
    let (mut rows, mut strings) = (Vec::new(), Vec::new());
    for (name, path) in entries {
        let key = (table + strings.len()) as u32;
        strings.extend_from_slice(name.as_bytes());
        strings.push(0);
        let value = (table + strings.len()) as u32;
        strings.extend_from_slice(path.as_bytes());
        strings.push(0);
        rows.extend_from_slice(&0x0a03u32.to_le_bytes()); // FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64
        rows.extend_from_slice(&key.to_le_bytes());
        rows.extend_from_slice(&value.to_le_bytes());
        rows.extend_from_slice(&[0u8; 12]); // osversion, hwcap
    }
    let mut out = b"glibc-ld.so.cache1.1".to_vec();
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    out.extend_from_slice(&[2, 0, 0, 0]);
    out.extend_from_slice(&[0u8; 16]);
    out.extend(rows);
    out.extend(strings);
    out
}

#[test]
fn a_sysroot_cache_is_read_and_a_damaged_one_ignored() {
    if !require(&[
        "umoci",
        "skopeo",
        "aarch64-linux-gnu-gcc",
        "qemu-aarch64-static",
    ]) {
        return;
    }
    let cross = Path::new("/usr/aarch64-linux-gnu/lib");
    let dir = tempdir();
    let exe = compile_c(
        "aarch64-linux-gnu-gcc",
        &["-O1"],
        "#include <stdio.h>\nint main(void){puts(\"found through the cache\");return 0;}\n",
        dir.path(),
        "hello",
    );
    // libc only where the cache says: outside every default directory.
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("lib")).unwrap();
    fs::create_dir_all(root.join("opt/odd")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::copy(
        cross.join("ld-linux-aarch64.so.1"),
        root.join("lib/ld-linux-aarch64.so.1"),
    )
    .unwrap();
    fs::copy(cross.join("libc.so.6"), root.join("opt/odd/libc.so.6")).unwrap();
    fs::write(
        root.join("etc/ld.so.cache"),
        aarch64_ld_cache(&[("libc.so.6", "/opt/odd/libc.so.6")]),
    )
    .unwrap();
    let layout = dir.path().join("layout");
    package_closure(&layout, args![exe.display(), "--sysroot", root.display()]);
    let rootfs = unpack(&layout, &dir.path().join("bundle"));
    assert!(rootfs.join("opt/odd/libc.so.6").is_file());
    assert!(!rootfs.join("etc/ld.so.cache").exists());
    // The image has no cache: its loader finds libc through a link in its first directory.
    assert_eq!(
        fs::read_link(rootfs.join("lib/aarch64-linux-gnu/libc.so.6")).unwrap(),
        Path::new("../../opt/odd/libc.so.6")
    );
    let out = Command::new("qemu-aarch64-static")
        .arg("-L")
        .arg(&rootfs)
        .arg(rootfs.join("app/hello"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "found through the cache\n"
    );
    let verify = || static_image(args!["verify", format!("oci:{}:latest", layout.display())]);
    verify().run().ok();
    // verify resolves as that loader does: without the links, libc is missing, unless the
    // image has an ld.so.cache of its own that names it.
    let bundle = dir.path().join("bundle");
    fs::remove_file(rootfs.join("lib/aarch64-linux-gnu/libc.so.6")).unwrap();
    fs::remove_file(rootfs.join("lib/libc.so.6")).unwrap();
    repack(&layout, &bundle);
    let ran = verify().run().code(1);
    assert!(
        ran.stdout
            .contains("`libc.so.6` is not in the image (needed by `/app/hello`)"),
        "{}",
        ran.stdout
    );
    fs::copy(root.join("etc/ld.so.cache"), rootfs.join("etc/ld.so.cache")).unwrap();
    repack(&layout, &bundle);
    verify().run().ok();

    // A damaged cache is ignored with a warning, as the loader ignores it; the default
    // directories still serve.
    let mut cut = aarch64_ld_cache(&[("libc.so.6", "/lib/libc.so.6")]);
    cut.truncate(60);
    fs::write(root.join("etc/ld.so.cache"), cut).unwrap();
    fs::rename(root.join("opt/odd/libc.so.6"), root.join("lib/libc.so.6")).unwrap();
    let (ran, _) = package_closure(
        &dir.path().join("second"),
        args![exe.display(), "--sysroot", root.display()],
    );
    assert!(
        ran.stderr.contains("ld.so.cache` is truncated or damaged")
            && ran.stderr.contains("it is ignored"),
        "{}",
        ran.stderr
    );
}
