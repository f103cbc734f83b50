//! `--gconv CHARSET`: the gconv modules glibc's `iconv_open` loads for the character sets a
//! program converts, found in the root's gconv configuration, and the configuration the image
//! gets (only those sets: glibc reads it when the image has no `gconv-modules.cache`).
//!
//! Which sets a program converts cannot be read from the binary (the names are strings at run
//! time), so the user names them. The configuration is glibc's: `gconv-modules` and
//! `gconv-modules.d/*.conf` in the gconv folder, lines `alias FROM TO` and
//! `module FROM TO FILE [COST]`, names upper-cased and ending in `//`, a module's `FILE`
//! relative to the gconv folder with `.so` added. Each file read is capped, as is their number.

use std::collections::BTreeSet;

use super::root::Root;

/// The largest configuration file read.
const MAX_CONF_BYTES: u64 = 1 << 20;

/// The most `gconv-modules.d` files read.
const MAX_CONF_FILES: usize = 64;

/// What `--gconv` adds: module files (paths in the root) and the image's configuration.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selected {
    /// Each module's path in the root.
    pub modules: Vec<String>,
    /// The `gconv-modules` file for the image.
    pub config: String,
}

/// A line of the configuration that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Alias {
        from: String,
        to: String,
    },
    Module {
        from: String,
        to: String,
        file: String,
        line: String,
    },
}

impl Line {
    /// Whether this line is a module converting `set` to or from glibc's internal form.
    fn converts(&self, set: impl Fn(&str) -> bool) -> bool {
        matches!(self, Line::Module { from, to, .. }
            if (set(from) && to == "INTERNAL") || (from == "INTERNAL" && set(to)))
    }
}

/// `name` as the configuration spells it: upper case, ending in `//` unless it names a path.
pub fn canonical(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    if upper.contains('/') {
        upper
    } else {
        format!("{upper}//")
    }
}

/// The configuration of the gconv folder `dir` in `root`: `gconv-modules`, then each
/// `gconv-modules.d/*.conf` in name order, as glibc reads them.
fn read_config(root: &Root, dir: &str) -> Vec<Line> {
    let mut texts: Vec<String> = root
        .read_text(&format!("{dir}/gconv-modules"), MAX_CONF_BYTES)
        .into_iter()
        .collect();
    let conf_dir = format!("{dir}/gconv-modules.d");
    if let Ok(Some(found)) = root.canonical(&conf_dir)
        && let Ok(entries) = std::fs::read_dir(root.host(&found))
    {
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".conf"))
            .collect();
        names.sort();
        names.truncate(MAX_CONF_FILES);
        texts.extend(
            names
                .iter()
                .filter_map(|n| root.read_text(&format!("{conf_dir}/{n}"), MAX_CONF_BYTES)),
        );
    }
    texts.iter().flat_map(|t| parse(t)).collect()
}

fn parse(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["alias", from, to, ..] => lines.push(Line::Alias {
                from: from.to_ascii_uppercase(),
                to: to.to_ascii_uppercase(),
            }),
            ["module", from, to, file, ..] => lines.push(Line::Module {
                from: from.to_ascii_uppercase(),
                to: to.to_ascii_uppercase(),
                file: (*file).to_string(),
                line: words.join("\t"),
            }),
            _ => {}
        }
    }
    lines
}

/// The modules converting each of `names` to and from glibc's internal form, found in the
/// configuration of the gconv folder `dir` in `root`, with the configuration naming them and
/// their aliases. Err: the names no module converts.
pub fn select(root: &Root, dir: &str, names: &[String]) -> Result<Selected, Vec<String>> {
    let config = read_config(root, dir);
    let mut missing = Vec::new();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for given in names {
        let name = canonical(given);
        let target = config
            .iter()
            .find_map(|l| match l {
                Line::Alias { from, to } if *from == name => Some(to.clone()),
                _ => None,
            })
            .unwrap_or(name.clone());
        if config.iter().any(|l| l.converts(|set| set == target)) {
            wanted.insert(target);
        } else {
            missing.push(given.clone());
        }
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    let mut selected = Selected {
        config: "# Written by static-image: the character sets given with --gconv.\n".into(),
        ..Selected::default()
    };
    for line_of in &config {
        match line_of {
            Line::Alias { from, to } if wanted.contains(to) => {
                selected.config.push_str(&format!("alias\t{from}\t{to}\n"));
            }
            Line::Module { file, line, .. } if line_of.converts(|set| wanted.contains(set)) => {
                // A relative module file is in the gconv folder; a path leaving it (`..`) is
                // kept inside the root by the resolver all the same.
                let path = if file.starts_with('/') {
                    format!("{file}.so")
                } else {
                    format!("{dir}/{file}.so")
                };
                if !selected.modules.contains(&path) {
                    selected.modules.push(path);
                }
                selected.config.push_str(line);
                selected.config.push('\n');
            }
            _ => {}
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(main: &str, extra: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let gconv = dir.path().join("usr/lib/x86_64-linux-gnu/gconv");
        std::fs::create_dir_all(gconv.join("gconv-modules.d")).unwrap();
        std::fs::write(gconv.join("gconv-modules"), main).unwrap();
        std::fs::write(gconv.join("gconv-modules.d/extra.conf"), extra).unwrap();
        std::fs::write(
            gconv.join("gconv-modules.d/ignored.txt"),
            "module X// INTERNAL X 1\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn names_resolve_through_aliases_to_their_modules_and_a_small_config() {
        let dir = root_with(
            "# comment\nalias\tLATIN-9//\tISO-8859-15//\n\
             module\tISO-8859-15//\tINTERNAL\tISO8859-15\t1 # trailing\n\
             module\tINTERNAL\tISO-8859-15//\tISO8859-15\t1\n\
             module\tISO-8859-2//\tINTERNAL\tISO8859-2\t1\n",
            "alias\tUTF16LE//\tUTF-16LE//\nmodule\tUTF-16LE//\tINTERNAL\tUTF-16\t1\n\
             module\tINTERNAL\tUTF-16LE//\tUTF-16\t1\n",
        );
        let root = Root::new(dir.path());
        let gconv = "/usr/lib/x86_64-linux-gnu/gconv";
        let selected = select(&root, gconv, &["latin-9".into(), "UTF-16LE".into()]).unwrap();
        assert_eq!(
            selected.modules,
            [
                format!("{gconv}/ISO8859-15.so"),
                format!("{gconv}/UTF-16.so")
            ]
        );
        assert_eq!(
            selected.config,
            "# Written by static-image: the character sets given with --gconv.\n\
             alias\tLATIN-9//\tISO-8859-15//\n\
             module\tISO-8859-15//\tINTERNAL\tISO8859-15\t1\n\
             module\tINTERNAL\tISO-8859-15//\tISO8859-15\t1\n\
             alias\tUTF16LE//\tUTF-16LE//\n\
             module\tUTF-16LE//\tINTERNAL\tUTF-16\t1\n\
             module\tINTERNAL\tUTF-16LE//\tUTF-16\t1\n"
        );
        assert_eq!(
            select(&root, gconv, &["koi8-r".into(), "X".into()]),
            Err(vec!["koi8-r".to_string(), "X".to_string()])
        );
        // No configuration at all: every name is missing.
        assert!(select(&Root::new("/nonexistent"), gconv, &["ISO-8859-15".into()]).is_err());
    }
}
