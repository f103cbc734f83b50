//! Target platforms, named as OCI and `docker buildx` name them (`linux/amd64`, `linux/arm64`).
//!
//! The platforms are data (`toolchains/platforms.toml`, plus a user's `--toolchains` folder):
//! each ties a name to what every stage needs of it: the ELF machine, class and byte order that
//! `verify` expects, the CPU name toolchain templates use (`{cpu}`, `{rust_cpu}`), and the OCI
//! architecture/variant that `image` records. A [`Platform`] is a small copyable handle into
//! that table; the built-in rows are registered first and never move, so `Platform::AMD64` and
//! `Platform::ARM64` are constants.

use std::fmt;
use std::str::FromStr;
use std::sync::{OnceLock, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

/// One platform, as the data describes it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformInfo {
    /// `linux/amd64`.
    pub name: String,
    /// The OCI `architecture` value (Go's GOARCH).
    pub arch: String,
    /// The OCI `variant`, where the image-index spec's platform-variants table gives one.
    pub variant: Option<String>,
    /// The CPU name as `uname -m`, GNU triples and zig targets spell it.
    pub cpu: String,
    /// The CPU part of Rust target triples, when it differs (`riscv64gc`).
    pub rust_cpu: Option<String>,
    /// The ELF `e_machine` of its binaries.
    pub elf_machine: u16,
    /// ELF class: 64 or 32.
    #[serde(default = "default_bits")]
    pub bits: u8,
    /// Byte order.
    #[serde(default = "default_little_endian")]
    pub little_endian: bool,
    /// Other spellings users type (`linux/arm64/v8`, `aarch64`).
    #[serde(default)]
    pub aliases: Vec<String>,
}

fn default_bits() -> u8 {
    64
}

fn default_little_endian() -> bool {
    true
}

/// The built-in table: the rows `Platform::AMD64` and `Platform::ARM64` index.
const BUILTIN: &str = include_str!("../toolchains/platforms.toml");

/// The table as loaded: built-in rows first, then rows from the user's folder. Rows are
/// leaked so a `Platform` can hand out `&'static` data; a run loads the table once or twice.
fn table() -> &'static RwLock<Vec<&'static PlatformInfo>> {
    static TABLE: OnceLock<RwLock<Vec<&'static PlatformInfo>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        #[derive(Deserialize)]
        struct File {
            platform: Vec<PlatformInfo>,
        }
        // Checked by a unit test: the built-in file always parses.
        let rows = toml::from_str::<File>(BUILTIN)
            .map(|f| f.platform)
            .unwrap_or_default();
        RwLock::new(rows.into_iter().map(|p| &*Box::leak(Box::new(p))).collect())
    })
}

/// How many platforms are known.
fn count() -> usize {
    table().read().unwrap_or_else(PoisonError::into_inner).len()
}

/// Adds platforms (from a user's toolchain folder); a name already known is left as it is.
pub fn register(platforms: Vec<PlatformInfo>) {
    let mut t = table().write().unwrap_or_else(PoisonError::into_inner);
    for p in platforms {
        if !t.iter().any(|known| known.name == p.name) {
            t.push(Box::leak(Box::new(p)));
        }
    }
}

/// A Linux platform the tool builds, verifies and packages for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform(usize);

impl Platform {
    /// `linux/amd64`: x86-64 (the first built-in row).
    pub const AMD64: Platform = Platform(0);
    /// `linux/arm64`: AArch64, OCI variant `v8` (the second built-in row).
    pub const ARM64: Platform = Platform(1);

    /// Every known platform, built-in first.
    pub fn all() -> Vec<Platform> {
        (0..count()).map(Platform).collect()
    }

    /// Its row of the table.
    pub fn info(self) -> &'static PlatformInfo {
        // A Platform is only made from an index of the table, which only grows.
        table().read().unwrap_or_else(PoisonError::into_inner)[self.0]
    }

    /// The OCI `architecture` value (Go's GOARCH).
    pub fn arch(self) -> &'static str {
        &self.info().arch
    }

    /// The OCI `variant`, if any.
    pub fn variant(self) -> Option<&'static str> {
        self.info().variant.as_deref()
    }

    /// The ELF `e_machine` of binaries for this platform.
    pub fn elf_machine(self) -> u16 {
        self.info().elf_machine
    }

    /// The CPU name as `uname -m` and target triples spell it.
    pub fn cpu(self) -> &'static str {
        &self.info().cpu
    }

    /// The CPU part of Rust target triples.
    pub fn rust_cpu(self) -> &'static str {
        self.info().rust_cpu.as_deref().unwrap_or(self.cpu())
    }

    /// The platform whose binaries have this ELF machine, if the tool knows one.
    pub fn from_elf_machine(machine: u16) -> Option<Platform> {
        Platform::all()
            .into_iter()
            .find(|p| p.elf_machine() == machine)
    }

    /// The platform of the machine this tool runs on, if it is a known one.
    pub fn host() -> Option<Platform> {
        Platform::all()
            .into_iter()
            .find(|p| p.cpu() == std::env::consts::ARCH)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.info().name)
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a platform name was not accepted.
#[derive(Debug, thiserror::Error)]
#[error(
    "unsupported platform `{0}`; supported: {supported} (more can be added in a `--toolchains` folder's platforms.toml)",
    supported = supported_list()
)]
pub struct UnknownPlatform(pub String);

fn supported_list() -> String {
    Platform::all()
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Platform {
    type Err = UnknownPlatform;

    /// Accepts the OCI form (`linux/arm64`), its aliases (`linux/arm64/v8`) and, because users
    /// type them, the bare architecture (`arm64`) and the CPU name (`aarch64`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let bare = lower.strip_prefix("linux/").unwrap_or(&lower);
        Platform::all()
            .into_iter()
            .find(|p| {
                let info = p.info();
                info.name == lower
                    || info.aliases.contains(&lower)
                    || (!bare.contains('/') && (info.arch == bare || info.cpu == bare))
            })
            .ok_or_else(|| UnknownPlatform(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_parses_and_its_first_rows_are_the_constants() {
        assert_eq!(Platform::AMD64.to_string(), "linux/amd64");
        assert_eq!(Platform::ARM64.to_string(), "linux/arm64");
        assert_eq!(Platform::ARM64.variant(), Some("v8"));
        assert_eq!(
            Platform::AMD64.elf_machine(),
            goblin::elf::header::EM_X86_64
        );
        assert_eq!(
            Platform::ARM64.elf_machine(),
            goblin::elf::header::EM_AARCH64
        );
    }

    #[test]
    fn parses_oci_names_and_aliases() {
        for (text, want) in [
            ("linux/amd64", Platform::AMD64),
            ("amd64", Platform::AMD64),
            ("x86_64", Platform::AMD64),
            ("linux/arm64", Platform::ARM64),
            ("linux/arm64/v8", Platform::ARM64),
            ("aarch64", Platform::ARM64),
            ("Linux/ARM64", Platform::ARM64),
        ] {
            assert_eq!(text.parse::<Platform>().ok(), Some(want), "{text}");
        }
    }

    #[test]
    fn rejects_unknown_platforms_and_lists_supported() {
        let err = "windows/amd64".parse::<Platform>().unwrap_err();
        assert!(
            err.to_string().starts_with(
                "unsupported platform `windows/amd64`; supported: linux/amd64, linux/arm64"
            ),
            "{err}"
        );
        assert!("linux/amd64/v3/x".parse::<Platform>().is_err());
    }

    #[test]
    fn round_trips_through_display() {
        for p in Platform::all() {
            assert_eq!(p.to_string().parse::<Platform>().ok(), Some(p));
            assert_eq!(Platform::from_elf_machine(p.elf_machine()), Some(p));
        }
    }
}
