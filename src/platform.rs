//! Target platforms, named as OCI and `docker buildx` name them (`linux/amd64`, `linux/arm64`).
//!
//! One table ties each platform to what every stage needs of it: the ELF machine that `verify`
//! expects, the Rust musl triple that `plan` builds for, and the OCI architecture/variant that
//! `image` records. Adding a platform is one row here.

use std::fmt;
use std::str::FromStr;

use goblin::elf::header::{EM_AARCH64, EM_X86_64};
use serde::{Deserialize, Serialize};

/// A Linux platform the tool builds, verifies and packages for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    /// `linux/amd64`: x86-64.
    Amd64,
    /// `linux/arm64`: AArch64 (OCI variant `v8`).
    Arm64,
}

impl Platform {
    /// Every supported platform, in display order.
    pub const ALL: [Platform; 2] = [Platform::Amd64, Platform::Arm64];

    /// The OCI `architecture` value (Go's GOARCH).
    pub fn arch(self) -> &'static str {
        match self {
            Platform::Amd64 => "amd64",
            Platform::Arm64 => "arm64",
        }
    }

    /// The OCI `variant`, where the image-index spec's platform-variants table gives one.
    pub fn variant(self) -> Option<&'static str> {
        match self {
            Platform::Amd64 => None,
            Platform::Arm64 => Some("v8"),
        }
    }

    /// The ELF `e_machine` of binaries for this platform.
    pub fn elf_machine(self) -> u16 {
        match self {
            Platform::Amd64 => EM_X86_64,
            Platform::Arm64 => EM_AARCH64,
        }
    }

    /// The CPU name as `uname -m` and target triples spell it.
    pub fn cpu(self) -> &'static str {
        match self {
            Platform::Amd64 => "x86_64",
            Platform::Arm64 => "aarch64",
        }
    }

    /// The Rust target triple that yields a static binary for this platform.
    pub fn rust_musl_triple(self) -> &'static str {
        match self {
            Platform::Amd64 => "x86_64-unknown-linux-musl",
            Platform::Arm64 => "aarch64-unknown-linux-musl",
        }
    }

    /// The platform whose binaries have this ELF machine, if the tool supports it.
    pub fn from_elf_machine(machine: u16) -> Option<Platform> {
        Platform::ALL
            .into_iter()
            .find(|p| p.elf_machine() == machine)
    }

    /// The platform of the machine this tool runs on, if it is a supported one.
    pub fn host() -> Option<Platform> {
        Platform::ALL
            .into_iter()
            .find(|p| p.cpu() == std::env::consts::ARCH)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "linux/{}", self.arch())
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
    "unsupported platform `{0}`; supported: {supported}",
    supported = supported_list()
)]
pub struct UnknownPlatform(pub String);

fn supported_list() -> String {
    Platform::ALL
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Platform {
    type Err = UnknownPlatform;

    /// Accepts the OCI form (`linux/arm64`, `linux/arm64/v8`) and, because users type them,
    /// the bare architecture (`arm64`) and the CPU names of target triples (`aarch64`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let arch = match lower.split('/').collect::<Vec<_>>().as_slice() {
            ["linux", arch] => *arch,
            ["linux", "arm64", "v8"] => "arm64",
            [arch] => *arch,
            _ => return Err(UnknownPlatform(s.to_string())),
        };
        Platform::ALL
            .into_iter()
            .find(|p| p.arch() == arch || p.cpu() == arch)
            .ok_or_else(|| UnknownPlatform(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_oci_names_and_aliases() {
        for (text, want) in [
            ("linux/amd64", Platform::Amd64),
            ("amd64", Platform::Amd64),
            ("x86_64", Platform::Amd64),
            ("linux/arm64", Platform::Arm64),
            ("linux/arm64/v8", Platform::Arm64),
            ("aarch64", Platform::Arm64),
            ("Linux/ARM64", Platform::Arm64),
        ] {
            assert_eq!(text.parse::<Platform>().ok(), Some(want), "{text}");
        }
    }

    #[test]
    fn rejects_unknown_platforms_and_lists_supported() {
        let err = "windows/amd64".parse::<Platform>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported platform `windows/amd64`; supported: linux/amd64, linux/arm64"
        );
        assert!("linux/riscv64".parse::<Platform>().is_err());
        assert!("linux/amd64/v3/x".parse::<Platform>().is_err());
    }

    #[test]
    fn round_trips_through_display() {
        for p in Platform::ALL {
            assert_eq!(p.to_string().parse::<Platform>().ok(), Some(p));
            assert_eq!(Platform::from_elf_machine(p.elf_machine()), Some(p));
        }
    }
}
