//! Target platforms, named as OCI and `docker buildx` name them (`linux/amd64`, `linux/arm64`).
//!
//! The platforms are data (`toolchains/platforms.toml`, plus a user's `--toolchains` folder):
//! each ties a name to what every stage needs of it: the ELF machine, class and byte order that
//! `verify` expects, the CPU name toolchain templates use (`{cpu}`, `{rust_cpu}`), and the OCI
//! architecture/variant that `image` records.
//!
//! The table is a value, [`Platforms`], built once per run from the built-in rows and the user's
//! and handed to what looks names up (the command line, the settings file, an ELF's machine, an
//! image's manifest). A [`Platform`] is a small copyable value holding its own row, so the
//! stages that only use one need no table.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

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

/// How many bytes a row's words (name, arch, variant, cpu, rust_cpu) may take together: a
/// platform is copied by value everywhere, so they are held inline, in one small buffer.
pub const MAX_WORDS: usize = 48;

/// The words of a row, in the order they are packed.
const NAME: usize = 0;
const ARCH: usize = 1;
const VARIANT: usize = 2;
const CPU: usize = 3;
const RUST_CPU: usize = 4;

/// A Linux platform the tool builds, verifies and packages for: its row of the table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Platform {
    /// The words, one after another; `ends[i]` is where word `i` ends (an empty variant or
    /// rust_cpu is an absent one).
    words: [u8; MAX_WORDS],
    ends: [u8; 5],
    elf_machine: u16,
    bits: u8,
    little_endian: bool,
}

/// A row of `platforms.toml` that cannot be a platform.
#[derive(Debug, thiserror::Error)]
#[error(
    "platform `{name}`: its name, arch, variant, cpu and rust_cpu take {length} bytes together, \
     more than {MAX_WORDS}"
)]
pub struct RowTooLong {
    /// The row's name (its first characters when the name alone is too long).
    pub name: String,
    /// The length of its words together.
    pub length: usize,
}

impl Platform {
    /// The platform a row of the data describes.
    pub fn from_info(info: &PlatformInfo) -> Result<Platform, RowTooLong> {
        let words = [
            info.name.as_str(),
            &info.arch,
            info.variant.as_deref().unwrap_or_default(),
            &info.cpu,
            info.rust_cpu.as_deref().unwrap_or_default(),
        ];
        let length: usize = words.iter().map(|w| w.len()).sum();
        if length > MAX_WORDS {
            return Err(RowTooLong {
                name: info.name.chars().take(MAX_WORDS).collect(),
                length,
            });
        }
        let mut platform = Platform {
            words: [0; MAX_WORDS],
            ends: [0; 5],
            elf_machine: info.elf_machine,
            bits: info.bits,
            little_endian: info.little_endian,
        };
        let mut end = 0;
        for (i, word) in words.iter().enumerate() {
            platform.words[end..end + word.len()].copy_from_slice(word.as_bytes());
            end += word.len();
            // At most MAX_WORDS, which fits a byte.
            platform.ends[i] = end as u8;
        }
        Ok(platform)
    }

    /// Word `i` of the row.
    fn word(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] } as usize;
        // Copied from whole `&str`s, so every word is UTF-8.
        std::str::from_utf8(&self.words[start..self.ends[i] as usize]).unwrap_or_default()
    }

    /// Word `i`, when the row has it.
    fn optional(&self, i: usize) -> Option<&str> {
        Some(self.word(i)).filter(|w| !w.is_empty())
    }

    /// `linux/amd64`: x86-64 (the first built-in row).
    pub fn amd64() -> Platform {
        builtin().rows[0].platform
    }

    /// `linux/arm64`: AArch64, OCI variant `v8` (the second built-in row).
    pub fn arm64() -> Platform {
        builtin().rows[1].platform
    }

    /// Its name, `linux/amd64`.
    pub fn name(&self) -> &str {
        self.word(NAME)
    }

    /// The OCI `architecture` value (Go's GOARCH).
    pub fn arch(&self) -> &str {
        self.word(ARCH)
    }

    /// The OCI `variant`, if any.
    pub fn variant(&self) -> Option<&str> {
        self.optional(VARIANT)
    }

    /// The ELF `e_machine` of binaries for this platform.
    pub fn elf_machine(&self) -> u16 {
        self.elf_machine
    }

    /// The ELF class of its binaries: 64 or 32.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Whether its binaries are little-endian.
    pub fn little_endian(&self) -> bool {
        self.little_endian
    }

    /// The CPU name as `uname -m` and target triples spell it.
    pub fn cpu(&self) -> &str {
        self.word(CPU)
    }

    /// The CPU part of Rust target triples.
    pub fn rust_cpu(&self) -> &str {
        self.optional(RUST_CPU).unwrap_or(self.cpu())
    }

    /// Whether an image's platform (its OCI architecture and variant) is this one: the same
    /// architecture, and the same variant when both name one.
    pub fn is_oci(&self, arch: &str, variant: Option<&str>) -> bool {
        self.arch() == arch
            && match (self.variant(), variant) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            }
    }
}

/// Platforms sort by name: `linux/amd64` before `linux/arm64`, wherever their rows came from.
impl Ord for Platform {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name()).then_with(|| {
            (self.elf_machine, self.bits, self.little_endian).cmp(&(
                other.elf_machine,
                other.bits,
                other.little_endian,
            ))
        })
    }
}

impl PartialOrd for Platform {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform")
            .field("name", &self.name())
            .field("arch", &self.arch())
            .field("variant", &self.variant())
            .field("cpu", &self.cpu())
            .field("rust_cpu", &self.optional(RUST_CPU))
            .field("elf_machine", &self.elf_machine)
            .field("bits", &self.bits)
            .field("little_endian", &self.little_endian)
            .finish()
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

thread_local! {
    /// The table names are read against while [`Platforms::reading`] runs.
    static READING: RefCell<Option<Platforms>> = const { RefCell::new(None) };
}

/// A platform is written as its name; read back, the name is looked up in the table of the
/// [`Platforms::reading`] around the read (serde gives no other way to hand one in), else in
/// the built-in rows.
impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        READING
            .with_borrow(|table| match table {
                Some(table) => table.parse(&text),
                None => builtin().parse(&text),
            })
            .map_err(serde::de::Error::custom)
    }
}

/// A platform as the user spelled it (`--platform`, the settings file), before the run's
/// table is known; [`Platforms::resolve`] turns it into a [`Platform`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlatformName(pub String);

impl FromStr for PlatformName {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(PlatformName(s.to_string()))
    }
}

impl fmt::Display for PlatformName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One row of the table: the platform and the other spellings that name it.
#[derive(Clone, Debug)]
struct Row {
    platform: Platform,
    aliases: Vec<String>,
    /// The row as the data gave it.
    info: PlatformInfo,
}

/// The platform table of a run: the built-in rows first, then the user's.
#[derive(Clone, Debug)]
pub struct Platforms {
    rows: Vec<Row>,
}

/// The built-in table: the rows [`Platform::amd64`] and [`Platform::arm64`] are.
const BUILTIN: &str = include_str!("../toolchains/platforms.toml");

/// The built-in rows, parsed once: they are part of the program, like a constant.
fn builtin() -> &'static Platforms {
    static TABLE: OnceLock<Platforms> = OnceLock::new();
    TABLE.get_or_init(|| {
        #[derive(Deserialize)]
        struct File {
            platform: Vec<PlatformInfo>,
        }
        // Checked by a unit test: the built-in file always parses and has both rows.
        let rows = toml::from_str::<File>(BUILTIN)
            .map(|f| f.platform)
            .unwrap_or_default();
        let mut table = Platforms { rows: Vec::new() };
        // The built-in words are short; a row that is not would fail the unit test.
        let _ = table.add(rows);
        table
    })
}

/// The built-in rows alone.
impl Default for Platforms {
    fn default() -> Self {
        Platforms::builtin()
    }
}

impl Platforms {
    /// The built-in rows alone.
    pub fn builtin() -> Platforms {
        builtin().clone()
    }

    /// Adds rows (from a user's toolchain folder) after the ones there; a name already known
    /// keeps its first row.
    pub fn add(&mut self, rows: Vec<PlatformInfo>) -> Result<(), RowTooLong> {
        for info in rows {
            if self.rows.iter().any(|r| r.platform.name() == info.name) {
                continue;
            }
            let platform = Platform::from_info(&info)?;
            let aliases = info
                .aliases
                .iter()
                .map(|a| a.trim().to_ascii_lowercase())
                .collect();
            self.rows.push(Row {
                platform,
                aliases,
                info,
            });
        }
        Ok(())
    }

    /// Every row as the data gave it, built-in first: what a cache key holds of the table.
    pub fn rows(&self) -> impl Iterator<Item = &PlatformInfo> + '_ {
        self.rows.iter().map(|r| &r.info)
    }

    /// Every platform, built-in first.
    pub fn all(&self) -> impl Iterator<Item = Platform> + '_ {
        self.rows.iter().map(|r| r.platform)
    }

    /// The platform a user's spelling names: the OCI form (`linux/arm64`), an alias
    /// (`linux/arm64/v8`) and, because users type them, the bare architecture (`arm64`) or
    /// CPU name (`aarch64`).
    pub fn parse(&self, text: &str) -> Result<Platform, UnknownPlatform> {
        let lower = text.trim().to_ascii_lowercase();
        let bare = lower.strip_prefix("linux/").unwrap_or(&lower);
        self.rows
            .iter()
            .find(|r| {
                let p = &r.platform;
                p.name() == lower
                    || r.aliases.contains(&lower)
                    || (!bare.contains('/') && (p.arch() == bare || p.cpu() == bare))
            })
            .map(|r| r.platform)
            .ok_or_else(|| UnknownPlatform {
                name: text.to_string(),
                supported: self.names(),
            })
    }

    /// The platforms `names` spell, each once, in the order given.
    pub fn resolve(&self, names: &[PlatformName]) -> Result<Vec<Platform>, UnknownPlatform> {
        let mut out: Vec<Platform> = Vec::new();
        for name in names {
            let platform = self.parse(&name.0)?;
            if !out.contains(&platform) {
                out.push(platform);
            }
        }
        Ok(out)
    }

    /// Runs `read` with platform names read against this table (see the `Deserialize` of
    /// [`Platform`]): records and data files that name a platform of the user's.
    pub fn reading<T>(&self, read: impl FnOnce() -> T) -> T {
        let outer = READING.replace(Some(self.clone()));
        let result = read();
        READING.set(outer);
        result
    }

    /// The platform whose binaries have this ELF machine, if the table has one.
    pub fn from_elf_machine(&self, machine: u16) -> Option<Platform> {
        self.all().find(|p| p.elf_machine == machine)
    }

    /// The platform an image's architecture and variant name (see [`Platform::is_oci`]).
    pub fn from_oci(&self, arch: &str, variant: Option<&str>) -> Option<Platform> {
        self.all().find(|p| p.is_oci(arch, variant))
    }

    /// The platform of the machine this tool runs on, if the table has it.
    pub fn host(&self) -> Option<Platform> {
        self.all().find(|p| p.cpu() == std::env::consts::ARCH)
    }

    /// The names, comma-separated, for messages.
    pub fn names(&self) -> String {
        self.all()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a platform name was not accepted.
#[derive(Debug, thiserror::Error)]
#[error(
    "unsupported platform `{name}`; supported: {supported} (more can be added in a `--toolchains` folder's platforms.toml)"
)]
pub struct UnknownPlatform {
    /// The name as given.
    pub name: String,
    /// The platforms the table has, comma-separated.
    pub supported: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_parses_and_its_first_rows_are_amd64_and_arm64() {
        assert_eq!(Platforms::builtin().all().count(), 2);
        assert_eq!(Platform::amd64().to_string(), "linux/amd64");
        assert_eq!(Platform::arm64().to_string(), "linux/arm64");
        assert_eq!(Platform::arm64().variant(), Some("v8"));
        assert_eq!(
            Platform::amd64().elf_machine(),
            goblin::elf::header::EM_X86_64
        );
        assert_eq!(
            Platform::arm64().elf_machine(),
            goblin::elf::header::EM_AARCH64
        );
        assert!(Platform::amd64() < Platform::arm64());
    }

    #[test]
    fn parses_oci_names_and_aliases() {
        let table = Platforms::builtin();
        for (text, want) in [
            ("linux/amd64", Platform::amd64()),
            ("amd64", Platform::amd64()),
            ("x86_64", Platform::amd64()),
            ("linux/arm64", Platform::arm64()),
            ("linux/arm64/v8", Platform::arm64()),
            ("aarch64", Platform::arm64()),
            ("Linux/ARM64", Platform::arm64()),
        ] {
            assert_eq!(table.parse(text).ok(), Some(want), "{text}");
        }
    }

    #[test]
    fn rejects_unknown_platforms_and_lists_the_tables_rows() {
        let mut table = Platforms::builtin();
        let err = table.parse("windows/amd64").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported platform `windows/amd64`; supported: linux/amd64, linux/arm64 (more can \
             be added in a `--toolchains` folder's platforms.toml)"
        );
        assert!(table.parse("linux/amd64/v3/x").is_err());
        table.add(vec![riscv()]).unwrap();
        let err = table.parse("s390x").unwrap_err();
        assert_eq!(err.supported, "linux/amd64, linux/arm64, linux/riscv64");
    }

    fn riscv() -> PlatformInfo {
        PlatformInfo {
            name: "linux/riscv64".into(),
            arch: "riscv64".into(),
            variant: None,
            cpu: "riscv64".into(),
            rust_cpu: Some("riscv64gc".into()),
            elf_machine: 243,
            bits: 64,
            little_endian: true,
            aliases: Vec::new(),
        }
    }

    #[test]
    fn rows_added_are_in_this_table_only_and_a_known_name_keeps_its_row() {
        let mut table = Platforms::builtin();
        let mut again = riscv();
        again.name = "linux/amd64".into();
        again.elf_machine = 1;
        table.add(vec![riscv(), again]).unwrap();
        let riscv = table.parse("riscv64").unwrap();
        assert_eq!(riscv.rust_cpu(), "riscv64gc");
        assert_eq!(table.from_elf_machine(243), Some(riscv));
        assert_eq!(table.from_elf_machine(62), Some(Platform::amd64()));
        // Another run's table (here: the built-in one) never sees these rows.
        assert!(Platforms::builtin().parse("riscv64").is_err());
        assert_eq!(Platforms::builtin().from_elf_machine(243), None);
    }

    #[test]
    fn names_read_back_against_the_table_in_scope() {
        let mut table = Platforms::builtin();
        table.add(vec![riscv()]).unwrap();
        let read = || serde_json::from_str::<Vec<Platform>>(r#"["linux/riscv64","arm64"]"#);
        assert!(read().is_err());
        let both = table.reading(read).unwrap();
        assert_eq!(both, [table.parse("riscv64").unwrap(), Platform::arm64()]);
        assert!(read().is_err(), "the scope ends with the call");
        let names = ["arm64", "linux/arm64", "amd64"].map(|n| PlatformName(n.into()));
        assert_eq!(
            table.resolve(&names).unwrap(),
            [Platform::arm64(), Platform::amd64()]
        );
    }

    #[test]
    fn a_row_too_long_to_hold_is_an_error_naming_it() {
        let mut long = riscv();
        long.cpu = "x".repeat(22);
        let err = Platforms::builtin().add(vec![long]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "platform `linux/riscv64`: its name, arch, variant, cpu and rust_cpu take 51 bytes \
             together, more than 48"
        );
        assert!(std::mem::size_of::<Platform>() <= 64);
    }

    #[test]
    fn round_trips_through_display_and_the_elf_machine() {
        let table = Platforms::builtin();
        for p in table.all() {
            assert_eq!(table.parse(&p.to_string()).ok(), Some(p));
            assert_eq!(table.from_elf_machine(p.elf_machine()), Some(p));
            assert_eq!(table.from_oci(p.arch(), p.variant()), Some(p));
        }
        assert_eq!(table.from_oci("arm64", None), Some(Platform::arm64()));
        assert_eq!(table.from_oci("arm64", Some("v7")), None);
    }
}
