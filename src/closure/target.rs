//! The machine a closure is resolved for, what the loader's search paths expand to on it
//! (`$ORIGIN`, `$LIB`, `$PLATFORM`), and its default directories (Debian's multiarch ones first).

use super::elf::DynInfo;

/// The machine every object must be for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// `e_machine`.
    pub machine: u16,
    /// 32 or 64.
    pub bits: u8,
    /// Byte order.
    pub little_endian: bool,
}

impl Target {
    /// Of an object's facts.
    pub fn of(info: &DynInfo) -> Target {
        Target {
            machine: info.machine,
            bits: info.bits,
            little_endian: info.little_endian,
        }
    }

    /// The multiarch triple of the machine, where Debian has one.
    pub fn triple(&self) -> Option<&'static str> {
        match (self.machine, self.bits) {
            (62, 64) => Some("x86_64-linux-gnu"),
            (183, 64) => Some("aarch64-linux-gnu"),
            (40, 32) => Some("arm-linux-gnueabihf"),
            (3, 32) => Some("i386-linux-gnu"),
            _ => None,
        }
    }

    /// What `$PLATFORM` expands to.
    fn platform(&self) -> &'static str {
        match self.machine {
            62 => "x86_64",
            183 => "aarch64",
            40 => "arm",
            3 => "i686",
            _ => "unknown",
        }
    }

    /// The loader's default directories for the machine (the multiarch ones first).
    pub fn default_dirs(&self) -> Vec<String> {
        let mut dirs = Vec::new();
        if let Some(triple) = self.triple() {
            dirs.push(format!("/lib/{triple}"));
            dirs.push(format!("/usr/lib/{triple}"));
        }
        if self.bits == 64 {
            dirs.push("/lib64".into());
            dirs.push("/usr/lib64".into());
        }
        dirs.push("/lib".into());
        dirs.push("/usr/lib".into());
        dirs
    }

    /// Whether an ELF header (the first 20 bytes) is for this machine.
    pub fn matches(&self, head: &[u8]) -> bool {
        if head.len() < 20 || !head.starts_with(b"\x7fELF") {
            return false;
        }
        let bits = match head[4] {
            1 => 32,
            2 => 64,
            _ => return false,
        };
        let little = head[5] == 1;
        let machine = if little {
            u16::from_le_bytes([head[18], head[19]])
        } else {
            u16::from_be_bytes([head[18], head[19]])
        };
        (machine, bits, little) == (self.machine, self.bits, self.little_endian)
    }
}

/// Expands `$ORIGIN`, `$LIB` and `$PLATFORM` (bare or braced) in a search path entry.
pub fn expand(entry: &str, origin: &str, target: &Target) -> String {
    let lib = match target.triple() {
        Some(triple) => format!("lib/{triple}"),
        None => "lib".to_string(),
    };
    let mut out = entry.to_string();
    for (token, value) in [
        ("ORIGIN", origin),
        ("LIB", lib.as_str()),
        ("PLATFORM", target.platform()),
    ] {
        out = out
            .replace(&format!("${{{token}}}"), value)
            .replace(&format!("${token}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::closure::root::normalise;

    const AMD64: Target = Target {
        machine: 62,
        bits: 64,
        little_endian: true,
    };

    #[test]
    fn origin_and_friends_expand() {
        assert_eq!(expand("$ORIGIN/../lib", "/app", &AMD64), "/app/../lib");
        assert_eq!(normalise(&expand("$ORIGIN/../lib", "/app", &AMD64)), "/lib");
        assert_eq!(expand("${ORIGIN}/x", "/opt/v", &AMD64), "/opt/v/x");
        assert_eq!(
            expand("/usr/$LIB/p", "", &AMD64),
            "/usr/lib/x86_64-linux-gnu/p"
        );
        assert_eq!(expand("/opt/${PLATFORM}", "", &AMD64), "/opt/x86_64");
    }

    #[test]
    fn headers_match_their_machine() {
        let mut head = [0u8; 20];
        head[..4].copy_from_slice(b"\x7fELF");
        head[4] = 2;
        head[5] = 1;
        head[18..20].copy_from_slice(&62u16.to_le_bytes());
        assert!(AMD64.matches(&head));
        head[18..20].copy_from_slice(&183u16.to_le_bytes());
        assert!(!AMD64.matches(&head));
        head[18..20].copy_from_slice(&62u16.to_le_bytes());
        head[4] = 1;
        assert!(!AMD64.matches(&head));
        assert!(!AMD64.matches(b"\x7fELF"));
    }
}
