//! Command-line types (clap derive). No logic: values parse through their own `FromStr`; the
//! app layer turns them into requests (`crate::request`).

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use crate::image::layer::CompressionKind;
use crate::image::spec::{AddSpec, ImagePath, KeyValue, Port, User};
use crate::platform::PlatformName;
use crate::transport::ImageRef;
use crate::transport::MaxBlobSize;
use crate::ui::ColorChoice;

/// `--color`'s values, each with its help: the choice itself is the ui's, free of clap.
fn color_values() -> impl TypedValueParser<Value = ColorChoice> {
    let values = ColorChoice::ALL.map(|c| PossibleValue::new(c.name()).help(c.description()));
    PossibleValuesParser::new(values).try_map(|s| s.parse::<ColorChoice>())
}

/// `keygen --algorithm`'s values.
fn algorithm_values() -> impl TypedValueParser<Value = crate::sign::Algorithm> {
    let values = crate::sign::Algorithm::ALL.map(|a| PossibleValue::new(a.name()));
    PossibleValuesParser::new(values).try_map(|s| s.parse::<crate::sign::Algorithm>())
}

/// `--sbom-format`'s values, each with its help.
fn sbom_format_values() -> impl TypedValueParser<Value = crate::sbom::Format> {
    let values =
        crate::sbom::Format::ALL.map(|f| PossibleValue::new(f.name()).help(f.description()));
    PossibleValuesParser::new(values).try_map(|s| s.parse::<crate::sbom::Format>())
}

/// `--compression`'s values, each with its help.
fn compression_values() -> impl TypedValueParser<Value = CompressionKind> {
    let values = CompressionKind::ALL.map(|k| PossibleValue::new(k.name()).help(k.description()));
    PossibleValuesParser::new(values).try_map(|s| s.parse::<CompressionKind>())
}

/// Build a Go, Rust or C project into a fully static binary, or take a static binary already
/// built, and ship it as a reproducible `FROM scratch` OCI image, with no Docker engine and no
/// network.
#[derive(Debug, Parser)]
#[command(
    name = "static-image",
    version,
    override_usage = "static-image [OPTIONS] [PATH] [-- <BUILD_ARGS>...]\n       static-image [OPTIONS] <COMMAND>",
    subcommand_negates_reqs = true,
    after_help = "\
With no subcommand, `static-image [PATH]` is `static-image build [PATH]`.

Examples:
  static-image                                   build the project here into target/static-image/<name>
  static-image build --platform linux/amd64,linux/arm64 --output oci-archive:app.tar
  static-image build --output docker-archive:app.tar
  static-image verify target/x86_64-unknown-linux-musl/release/app /bin/ls
  static-image package ./app --output oci-archive:app.tar --port 8080
  static-image init                              write a starter config for the project here"
)]
pub struct Cli {
    /// Say more: echo every command run (`+ cargo build …`).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Say nothing but errors; child processes' output is shown only if they fail.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// When to colour messages.
    #[arg(long, value_parser = color_values(), default_value_t, global = true, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub build: BuildArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a Go, Rust or C project statically, verify the binary and package it as a scratch
    /// image.
    #[command(after_help = "\
The project is found by its files: Cargo.toml (Rust), go.mod (Go), CMakeLists.txt, configure
(or configure.ac), Makefile, or a folder of *.c (C). How each is compiled comes from the
toolchain data; `static-image toolchains` shows what this machine can build.

Examples:
  static-image build                                    the project in this directory
  static-image build path/to/project --bin server --port 8080
  static-image build --platform linux/amd64,linux/arm64 --output oci-archive:server.tar
  static-image build -- --features tls                  arguments after `--` go to cargo
  static-image build ./goapp --package ./cmd/server -- -ldflags=-X=main.version=1.0
  static-image build ./goapp --cgo --offline            cgo linked statically with zig cc
  static-image build ./cproject --artifact src/server   C: pick the program the build makes
  static-image build --bin server --bin migrate         two programs in one image (entrypoint: the first)
  static-image build ./zstd --make-target zstd          C: build one make target, not the default
  cargo static-image --bin server                       the same, as a cargo subcommand")]
    Build(BuildArgs),

    /// Show what `build` would run (strategy, commands, environment, artifact) without running it.
    #[command(after_help = "\
Examples:
  static-image plan
  static-image plan --platform linux/arm64 --json")]
    Plan(ProjectArgs),

    /// Write a commented starter config for the project: `[package.metadata.static-image]` in
    /// Cargo.toml, or `static-image.toml` for Go and C.
    #[command(after_help = "\
Examples:
  static-image init
  static-image init path/to/goapp --force
  static-image init --policy                   the starter of `verify --policy`")]
    Init(InitArgs),

    /// Show which toolchain builds each language for each platform here, or what to install.
    #[command(after_help = "\
Examples:
  static-image toolchains
  static-image toolchains --json
  static-image toolchains --toolchains ./corp-toolchains")]
    Toolchains(ToolchainsArgs),

    /// Check that binaries are fully static (no interpreter, no needed libraries), or every ELF
    /// file of every platform of an image.
    #[command(after_help = "\
An image is named as an output is (oci:DIR[:TAG], oci-archive:FILE[:TAG],
docker-archive:FILE, docker://HOST/REPO[:TAG|@DIGEST]); each platform's files are checked
against that platform, and its entrypoint must be there.

Exit status: 0 all static, 1 some not static (or not for the platform), 2 one could not be read.

Examples:
  static-image verify target/x86_64-unknown-linux-musl/release/app
  static-image verify --platform linux/arm64 build/app-arm64
  static-image verify --json app /bin/ls
  static-image verify oci-archive:app.tar docker://registry.example/team/app:1.0
  static-image verify --key static-image.pub oci:target/static-image/app:latest
  static-image verify --key release.pub --require-provenance --forbid-shells --forbid-root IMAGE
  static-image verify --key release.pub --policy deploy-policy.toml docker://registry.example/app:1.0")]
    Verify(VerifyArgs),

    /// Print the SBOM an image carries at /usr/share/sbom/<name>.spdx.json (SPDX 2.3 JSON) or
    /// <name>.cdx.json (CycloneDX 1.6 JSON).
    #[command(after_help = "\
An image is named as an output is (oci:DIR[:TAG], oci-archive:FILE[:TAG],
docker-archive:FILE, docker://HOST/REPO[:TAG|@DIGEST]). Every image static-image makes carries
one per platform, listing the program, what is linked into it (Go modules, Cargo dependencies
for the target, the C library) and the compilers that made it.

Examples:
  static-image sbom oci:target/static-image/app:latest
  static-image sbom --platform linux/arm64 oci-archive:app.tar > app-arm64.spdx.json
  static-image sbom docker://registry.example/team/app:1.0")]
    Sbom(SbomArgs),

    /// Package already-built static binaries (one per platform, or with `--platform` several
    /// programs in one image) as a scratch image.
    #[command(after_help = "\
Examples:
  static-image package ./app
  static-image package ./app-amd64 ./app-arm64 --output oci-archive:app.tar   one image, two platforms
  static-image package --platform linux/amd64 ./server ./migrate                two programs, one image
  static-image package ./app --output docker-archive:app.tar:app:1.0 --port 8080/tcp
  static-image package ./app --output oci:images:v1 --add LICENSE:/licenses/ --extra-ca corp-ca.pem")]
    Package(PackageArgs),

    /// Write a signing key pair: PREFIX.key (private, mode 0600) and PREFIX.pub (public, 0644).
    #[command(after_help = "\
The private key is PKCS#8 PEM, or cosign's encrypted format when STATIC_IMAGE_KEY_PASSWORD (or
COSIGN_PASSWORD) is set; `cosign verify --key PREFIX.pub` and `static-image verify --key` read
the public one. Existing files are never replaced.

Examples:
  static-image keygen
  static-image keygen --output keys/release --algorithm ed25519")]
    Keygen(KeygenArgs),
}

/// `keygen` arguments.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the pair: PREFIX.key and PREFIX.pub.
    #[arg(
        long,
        short = 'o',
        value_name = "PREFIX",
        default_value = "static-image"
    )]
    pub output: PathBuf,

    /// The signature algorithm.
    #[arg(long, value_parser = algorithm_values(), default_value = "ecdsa-p256", value_name = "ALG")]
    pub algorithm: crate::sign::Algorithm,
}

/// `verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The files or images to check.
    #[arg(required = true, value_name = "BIN|IMAGE")]
    pub files: Vec<PathBuf>,

    /// Also require the machine of this platform (linux/amd64, linux/arm64) of files.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<PlatformName>,

    /// Images: also require the index and every platform manifest signed by this public key
    /// (PEM), their provenance and SBOMs signed by it and about them.
    #[arg(long, value_name = "PUB.pem")]
    pub key: Option<PathBuf>,

    /// Images: a policy file (TOML; keys as the flags below) the image must meet.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Images: every manifest and the index must be signed by --key.
    #[arg(long)]
    pub require_signature: bool,

    /// Images: every manifest and the index must carry an SLSA provenance by --key.
    #[arg(long)]
    pub require_provenance: bool,

    /// Images: every platform manifest must have an SBOM artifact.
    #[arg(long)]
    pub require_sbom: bool,

    /// Images: no shell (sh, bash, busybox…), script (#!) or interpreter (python, perl, node…).
    #[arg(long)]
    pub forbid_shells: bool,

    /// Images: the config's user must not be root.
    #[arg(long)]
    pub forbid_root: bool,

    /// Images: the base image (its manifest digest) must be one of these; repeat.
    #[arg(long, value_name = "DIGEST")]
    pub allowed_base: Vec<String>,

    /// Images: dynamic ELF files pass when their interpreter and every needed library are in
    /// the image, for their machine (as in an image `package --closure` made).
    #[arg(long)]
    pub allow_dynamic: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `sbom` arguments.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// The image.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// The platform whose SBOM to print, for an image of several.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<PlatformName>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `package` arguments.
#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The static binary to package; several (one per platform) make a multi-platform image, or
    /// with `--platform`, one image holding them all (each at /app/<file name>, the first the
    /// entrypoint).
    #[arg(value_name = "BIN", required = true)]
    pub binaries: Vec<PathBuf>,

    /// The image's platform, which the binaries must match [default: each binary's own]; with
    /// several binaries, they all go into this platform's one image.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<PlatformName>,

    #[command(flatten)]
    pub image: ImageArgs,
}

/// `init` arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project directory, or its Cargo.toml or go.mod.
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    /// Replace an existing static-image.toml (a Cargo.toml section is never replaced).
    #[arg(long)]
    pub force: bool,

    /// Write a starter verify policy, static-image-policy.toml, instead of the settings.
    #[arg(long)]
    pub policy: bool,
}

/// `toolchains` arguments.
#[derive(Clone, Debug, Args)]
pub struct ToolchainsArgs {
    /// A folder of toolchain files (rust.toml, go.toml, c.toml, tools.toml) whose entries come
    /// before the built-in ones.
    #[arg(long, value_name = "DIR", env = "STATIC_IMAGE_TOOLCHAINS")]
    pub toolchains: Option<PathBuf>,
}

/// Which project to build, and how.
#[derive(Clone, Debug, Args)]
pub struct ProjectArgs {
    /// The project directory, or its Cargo.toml or go.mod.
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    /// The platforms to build for, comma-separated (linux/amd64, linux/arm64); several make a
    /// multi-platform image [default: this machine's].
    #[arg(long, value_name = "PLATFORM", value_delimiter = ',')]
    pub platform: Vec<PlatformName>,

    /// Build without touching the network (cargo --offline; Go: GOPROXY=off, GOTOOLCHAIN=local).
    #[arg(long)]
    pub offline: bool,

    /// Rust: the binary target to build, when the project has several; repeat to put several
    /// in the image (each at /app/<name>, the first is the entrypoint).
    #[arg(long, value_name = "NAME")]
    pub bin: Vec<String>,

    /// Go: the main package to build (e.g. ./cmd/server) [default: the module root, or the only
    /// cmd/*]; repeat to put several in the image (the first is the entrypoint).
    #[arg(long, value_name = "PKG")]
    pub package: Vec<String>,

    /// Go: build with cgo, linked statically (zig cc against musl) [default: only when a
    /// dependency needs it].
    #[arg(long)]
    pub cgo: bool,

    /// C: the program to package, relative to where the build ran [default: the one executable
    /// the build made]; repeat to put several in the image (the first is the entrypoint).
    #[arg(long, value_name = "PATH")]
    pub artifact: Vec<PathBuf>,

    /// C, make: the make target to build, when the default one builds more than the program
    /// (e.g. shared libraries, which cannot link with `-static`) [default: make's default].
    #[arg(long, value_name = "TARGET")]
    pub make_target: Option<String>,

    #[command(flatten)]
    pub toolchains: ToolchainsArgs,

    /// Arguments after `--`: for cargo, `go build`, CMake's or configure's configure step, make,
    /// or the compiler of a bare C folder.
    #[arg(last = true, value_name = "BUILD_ARGS")]
    pub build_args: Vec<String>,
}

/// `build` arguments.
#[derive(Clone, Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    #[command(flatten)]
    pub image: ImageArgs,

    /// Build a second time, in a fresh copy of the project at another path and with no cache,
    /// and fail with the differing files if the images differ.
    #[arg(long)]
    pub check_reproducible: bool,
}

/// What goes into the image and where it is written (shared by `build` and `package`).
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Image")]
pub struct ImageArgs {
    /// Where to write: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REPO:TAG],
    /// or push: docker://HOST[:PORT]/REPO[:TAG]. Repeat to write several
    /// [default: oci:<target dir>/static-image/<name>].
    #[arg(short, long, value_name = "SPEC")]
    pub output: Vec<ImageRef>,

    /// Tag for outputs whose SPEC names none; repeat for several [default: latest].
    #[arg(short, long, value_name = "TAG")]
    pub tag: Vec<String>,

    /// The application's name: image title, default entrypoint /app/<name>, docker repository.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Where the binary goes in the image [default: /app/<name>].
    #[arg(long, value_name = "PATH")]
    pub entrypoint_path: Option<ImagePath>,

    /// A default argument (the image's Cmd); repeat for several.
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    pub args: Vec<String>,

    /// An environment variable, KEY=VALUE; repeat for several.
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<KeyValue>,

    /// A port to expose, N[/tcp|udp]; repeat for several.
    #[arg(short, long, value_name = "PORT")]
    pub port: Vec<Port>,

    /// A label, KEY=VALUE; repeat for several.
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub label: Vec<KeyValue>,

    /// The user to run as: uid[:gid], or root / nonroot [default: 65532:65532].
    #[arg(short, long, value_name = "USER")]
    pub user: Option<User>,

    /// The working directory of the process.
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<ImagePath>,

    /// Copy a host file or directory into the image, SRC:DEST (DEST ending in / means into it).
    #[arg(long, value_name = "SRC:DEST")]
    pub add: Vec<AddSpec>,

    /// The CA bundle to ship, replacing the host's; `builtin` picks the compiled-in Mozilla roots.
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,

    /// A certificate file (PEM or DER) to append to the CA bundle; repeat for several.
    #[arg(long, value_name = "FILE")]
    pub extra_ca: Vec<PathBuf>,

    /// Sign every manifest, the index and each SBOM with this private key (PEM: ECDSA P-256 or
    /// Ed25519; cosign's encrypted keys open with STATIC_IMAGE_KEY_PASSWORD), and attach an
    /// SLSA provenance for each; both as Sigstore bundles referring to what they sign.
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,

    /// How layers are compressed (docker-archive takes gzip or none).
    #[arg(long, value_parser = compression_values(), default_value_t, value_name = "KIND")]
    pub compression: CompressionKind,

    /// The compression level: gzip 0–9 [default: 3], zstd 1–19 [default: 3].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub compression_level: Option<i32>,

    /// Compress every layer again instead of reusing the layer cache
    /// (`<target dir>/static-image-cache`, or STATIC_IMAGE_CACHE_DIR).
    #[arg(long)]
    pub no_cache: bool,

    /// The image to put our layers on [default: none, `FROM scratch`]: oci:DIR[:TAG],
    /// oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG|@DIGEST]; its config is merged under
    /// ours.
    #[arg(long, value_name = "SPEC")]
    pub base: Option<String>,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// A package for the SBOM to list besides what the binary and the build tell (a vendored C
    /// library): NAME@VERSION or a package URL (pkg:TYPE/[NAMESPACE/]NAME@VERSION); repeat for
    /// several.
    #[arg(long, value_name = "PACKAGE")]
    pub sbom_package: Vec<crate::sbom::Component>,

    /// Leave the SBOM out: no /usr/share/sbom/<name>.spdx.json in the image, no referrer.
    #[arg(long)]
    pub no_sbom: bool,

    /// The SBOM's standard, for the file in the image and the referrer.
    #[arg(long, value_parser = sbom_format_values(), default_value_t, value_name = "FORMAT")]
    pub sbom_format: crate::sbom::Format,
    /// Package dynamic programs with their library closure: the program interpreter and every
    /// shared library, found as the dynamic loader finds them (RPATH/RUNPATH, ld.so.cache, the
    /// default directories), and glibc's NSS modules; the image is labelled as such.
    #[arg(long)]
    pub closure: bool,

    /// With --closure: find the libraries in this root (a cross sysroot, an unpacked
    /// distribution image) instead of the host's `/`.
    #[arg(long, value_name = "DIR")]
    pub sysroot: Option<PathBuf>,

    /// With --closure: a library loaded with dlopen (a plugin, an NSS or gconv module), added
    /// at its path with its own closure; repeat for several.
    #[arg(long, value_name = "PATH")]
    pub add_lib: Vec<PathBuf>,

    /// With --closure: a character set the program converts with iconv (`ISO-8859-15`,
    /// `UTF-16LE`): glibc's gconv module for it goes in, with a gconv configuration naming
    /// only the sets given; repeat for several.
    #[arg(long, value_name = "CHARSET")]
    pub gconv: Vec<String>,

    /// Also write a debug variant beside the image, tagged `<tag>-debug`: the same layers plus
    /// a static busybox at /busybox/busybox with its applets in /busybox/, PATH extended with
    /// /busybox (archives go to a sibling `<file>-debug.tar`).
    #[arg(long)]
    pub debug_variant: bool,

    /// The static busybox for the debug variant, instead of the host's; repeat with one per
    /// platform (each file's machine names its platform).
    #[arg(long, value_name = "FILE")]
    pub debug_shell: Vec<PathBuf>,
}

/// How images are fetched from registries and read: the flags every command that reads or
/// pushes an image shares.
#[derive(Clone, Debug, Args)]
pub struct RegistryArgs {
    /// A registry (HOST[:PORT]) that may be reached over plain HTTP or with an unverified TLS
    /// certificate; repeat for several. Others are always verified.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub insecure: Vec<String>,

    /// The most seconds a registry may take over a request; connecting may take the lesser of
    /// it and 10 s, a stall the lesser of it and 30 s, and a blob's body must keep 16 KiB/s on
    /// average past it.
    #[arg(
        long,
        value_name = "SECS",
        env = "STATIC_IMAGE_REGISTRY_TIMEOUT",
        default_value_t = crate::registry::DEFAULT_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub registry_timeout: u64,
    /// The largest blob (layer) an image read may claim, in bytes or KiB, MiB, GiB, TiB; a
    /// layer may expand to 4 times it when decompressed [default: 8GiB].
    #[arg(long, value_name = "SIZE", env = "STATIC_IMAGE_MAX_BLOB_SIZE")]
    pub max_blob_size: Option<MaxBlobSize>,
}
