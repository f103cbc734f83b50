//! What a command asks for, as plain values: the app layer fills them from the command line and
//! the project's settings file; the stages read them. Nothing here knows how they were given
//! (no clap), so a stage is called the same way from the command line, from a test, or from a
//! second build of `--check-reproducible`.

use std::path::PathBuf;

use crate::image::layer::CompressionKind;
use crate::image::spec::{AddSpec, ImagePath, KeyValue, Port, User};
use crate::platform::PlatformName;
use crate::registry::{Deadlines, RegistryOptions};
use crate::sbom::Component;
use crate::transport::ImageRef;
use crate::transport::MaxBlobSize;

/// Which project to build, and how.
#[derive(Clone, Debug, Default)]
pub struct ProjectRequest {
    /// The project directory, or its `Cargo.toml` or `go.mod` (`.` when not given).
    pub path: Option<PathBuf>,
    /// The platforms to build for, as given (may repeat; empty: this machine's); the run's
    /// table resolves them.
    pub platforms: Vec<PlatformName>,
    /// Build without touching the network.
    pub offline: bool,
    /// Rust: the binary targets, in the order given (the first is the entrypoint).
    pub bin: Vec<String>,
    /// Go: the main packages, in the order given.
    pub package: Vec<String>,
    /// Go: build with cgo.
    pub cgo: bool,
    /// C: the programs to package, relative to where the build ran, in the order given.
    pub artifact: Vec<PathBuf>,
    /// C, make: the make target to build instead of the default one.
    pub make_target: Option<String>,
    /// A folder of toolchain files read before the built-in ones.
    pub toolchains: Option<PathBuf>,
    /// Arguments for the build tool.
    pub build_args: Vec<String>,
}

impl ProjectRequest {
    /// The project path, `.` when none was given.
    pub fn path(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| PathBuf::from("."))
    }
}

/// What goes into the image and where it is written (shared by `build` and `package`).
#[derive(Clone, Debug, Default)]
pub struct ImageRequest {
    /// Where to write (empty: the default layout).
    pub output: Vec<ImageRef>,
    /// Tags for outputs that name none.
    pub tag: Vec<String>,
    /// The application's name.
    pub name: Option<String>,
    /// Where the binary goes in the image.
    pub entrypoint_path: Option<ImagePath>,
    /// The image's default arguments (Cmd).
    pub args: Vec<String>,
    /// Environment variables.
    pub env: Vec<KeyValue>,
    /// Exposed ports.
    pub port: Vec<Port>,
    /// Labels.
    pub label: Vec<KeyValue>,
    /// The user to run as.
    pub user: Option<User>,
    /// The working directory.
    pub workdir: Option<ImagePath>,
    /// Host files copied into the image.
    pub add: Vec<AddSpec>,
    /// The CA bundle replacing the host's (`builtin`: the compiled-in roots).
    pub ca_bundle: Option<PathBuf>,
    /// Certificates appended to the CA bundle.
    pub extra_ca: Vec<PathBuf>,
    /// The private key that signs the images and their provenance.
    pub sign_key: Option<PathBuf>,
    /// How layers are compressed.
    pub compression: CompressionKind,
    /// The compression level.
    pub compression_level: Option<i32>,
    /// Compress every layer again instead of reusing the layer cache.
    pub no_cache: bool,
    /// The image to put our layers on, as given.
    pub base: Option<String>,
    /// How registries are reached.
    pub registry: RegistryRequest,
    /// Packages the SBOM lists besides what the binary and the build tell.
    pub sbom_package: Vec<Component>,
    /// Leave the SBOM out.
    pub no_sbom: bool,
    /// The SBOM's standard.
    pub sbom_format: crate::sbom::Format,
    /// `--closure`: package dynamic programs with their libraries.
    pub closure: bool,
    /// `--sysroot`: where `--closure` finds them instead of the host's `/`.
    pub sysroot: Option<PathBuf>,
    /// `--add-lib`: libraries loaded with dlopen, for `--closure`.
    pub add_lib: Vec<PathBuf>,
    /// `--gconv`: character sets whose gconv modules `--closure` adds.
    pub gconv: Vec<String>,
    /// Also write the debug variant (`<tag>-debug`, with busybox).
    pub debug_variant: bool,
    /// The busybox files for the debug variant, one per platform; empty: the host's.
    pub debug_shell: Vec<PathBuf>,
}

impl ImageRequest {
    /// What `--closure` asks for, if given; `--sysroot` or `--add-lib` without it is a usage
    /// error (they would be ignored).
    pub fn closure_request(&self) -> Result<Option<crate::closure::ClosureRequest>, String> {
        if !self.closure {
            return match (
                &self.sysroot,
                self.add_lib.is_empty(),
                self.gconv.is_empty(),
            ) {
                (Some(_), _, _) => Err("`--sysroot` (`sysroot`) needs `--closure`".into()),
                (None, false, _) => Err("`--add-lib` (`add-libs`) needs `--closure`".into()),
                (None, true, false) => Err("`--gconv` (`gconv`) needs `--closure`".into()),
                (None, true, true) => Ok(None),
            };
        }
        Ok(Some(crate::closure::ClosureRequest {
            sysroot: self.sysroot.clone(),
            add_libs: self.add_lib.clone(),
            gconv: self.gconv.clone(),
        }))
    }
}

/// How images are fetched from and pushed to registries.
#[derive(Clone, Debug)]
pub struct RegistryRequest {
    /// Registries (`HOST[:PORT]`) that may be reached over plain HTTP or unverified TLS.
    pub insecure: Vec<String>,
    /// The most seconds a registry may take over a request.
    pub timeout_secs: u64,
    /// The largest blob an image read may claim (the default when not given).
    pub max_blob_size: Option<MaxBlobSize>,
}

impl Default for RegistryRequest {
    /// The defaults of the flags.
    fn default() -> RegistryRequest {
        RegistryRequest {
            insecure: Vec::new(),
            timeout_secs: crate::registry::DEFAULT_TIMEOUT_SECS,
            max_blob_size: None,
        }
    }
}

impl RegistryRequest {
    /// The options the registry client and the image readers take.
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            insecure: self.insecure.clone(),
            deadlines: Deadlines::from_secs(self.timeout_secs),
            max_blob_size: self.max_blob_size.unwrap_or_default(),
        }
    }
}

/// `build`: a project built, verified and packaged.
#[derive(Clone, Debug, Default)]
pub struct BuildRequest {
    /// Which project, and how to build it.
    pub project: ProjectRequest,
    /// What image to make of it.
    pub image: ImageRequest,
    /// Build a second time elsewhere and compare the images.
    pub check_reproducible: bool,
}

/// `package`: already-built binaries packaged.
#[derive(Clone, Debug)]
pub struct PackageRequest {
    /// The binaries, one per platform.
    pub binaries: Vec<PathBuf>,
    /// The platform of a single binary, when given.
    pub platform: Option<PlatformName>,
    /// What image to make of them.
    pub image: ImageRequest,
}

/// `verify`: files and images checked.
#[derive(Clone, Debug)]
pub struct VerifyRequest {
    /// The files and image references, as given.
    pub files: Vec<PathBuf>,
    /// The public key images must be signed with.
    pub key: Option<PathBuf>,
    /// A policy file images must meet.
    pub policy_file: Option<PathBuf>,
    /// The policy rules given as flags.
    pub policy: crate::verify::policy::Policy,
    /// The platform files must be for.
    pub platform: Option<PlatformName>,
    /// How image references are read.
    pub registry: RegistryRequest,
    /// Images: dynamic ELF files pass when their library closure is in the image.
    pub allow_dynamic: bool,
}

/// `sbom`: the SBOM an image carries.
#[derive(Clone, Debug)]
pub struct SbomRequest {
    /// The image reference.
    pub image: String,
    /// The platform whose SBOM to print.
    pub platform: Option<PlatformName>,
    /// How the image is read.
    pub registry: RegistryRequest,
}

/// `init`: a starter settings file.
#[derive(Clone, Debug)]
pub struct InitRequest {
    /// The project path.
    pub path: Option<PathBuf>,
    /// Replace an existing `static-image.toml`.
    pub force: bool,
    /// Write the starter verify policy instead.
    pub policy: bool,
}
