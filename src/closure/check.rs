//! `verify IMAGE`'s closure check: every dynamic ELF object of an image must find its program
//! interpreter and each `DT_NEEDED` library **inside the image**, for its own machine, by the
//! loader's search (`DT_RPATH` when there is no `DT_RUNPATH`, the programs' `DT_RPATH`,
//! `DT_RUNPATH`, the image's own `/etc/ld.so.cache` when it has one, the default directories;
//! `$ORIGIN` is the object's directory).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::elf::DynInfo;
use super::ldcache::LdCache;
use super::resolve::{Target, expand};
use super::root::{join, normalise, parent};
use crate::verify::stack::{Kind, Tree};

/// Where a content lives in the image's layers (layer, entry position).
pub type ContentKey = (usize, usize);

/// A library or interpreter the image lacks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Missing {
    /// The library name (or the interpreter's path).
    pub library: String,
    /// Every file needing it.
    pub needed_by: Vec<String>,
    /// Files by that name the loader would skip for being for another machine.
    pub wrong_machine: Vec<String>,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not in the image (needed by {})",
            self.library,
            crate::ui::backticked(&self.needed_by)
        )?;
        if !self.wrong_machine.is_empty() {
            write!(
                f,
                "; {} is for another machine",
                crate::ui::backticked(&self.wrong_machine)
            )?;
        }
        Ok(())
    }
}

/// Checks every dynamic object of `objects` (each content's path and loading facts) against
/// the image's `tree`; returns what is missing, sorted.
pub fn check(
    tree: &Tree,
    objects: &HashMap<ContentKey, (String, DynInfo)>,
    cache: Option<&LdCache>,
) -> Vec<Missing> {
    let mut missing: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    // The programs' DT_RPATH applies to every object they load that has no DT_RUNPATH.
    let program_rpath: Vec<String> = objects
        .values()
        .filter(|(_, info)| {
            info.interpreter.is_some() && info.soname.is_none() && info.runpath.is_empty()
        })
        .flat_map(|(path, info)| {
            info.rpath
                .iter()
                .map(|r| normalise(&expand(r, parent(path), &Target::of(info))))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut sorted: Vec<&(String, DynInfo)> = objects.values().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, info) in sorted {
        if !info.loadable || !info.is_dynamic() {
            continue;
        }
        let target = Target::of(info);
        let fits = |candidate: &str, wrong: &mut BTreeSet<String>| {
            let Ok((resolved, node)) = tree.resolve(candidate, "/") else {
                return false;
            };
            if node.kind != Kind::File {
                return false;
            }
            match node.content.and_then(|c| objects.get(&c)) {
                Some((_, other)) if Target::of(other) == target => true,
                Some(_) => {
                    wrong.insert(resolved);
                    false
                }
                None => false,
            }
        };
        // A library's own interpreter is used only when it is run as a program.
        if let (Some(interpreter), None) = (&info.interpreter, &info.soname) {
            let mut wrong = BTreeSet::new();
            if !fits(interpreter, &mut wrong) {
                let entry = missing.entry(interpreter.clone()).or_default();
                entry.0.insert(path.clone());
                entry.1.extend(wrong);
            }
        }
        let own = |list: &[String]| -> Vec<String> {
            list.iter()
                .map(|r| normalise(&expand(r, parent(path), &target)))
                .collect()
        };
        let mut dirs = Vec::new();
        if info.runpath.is_empty() {
            dirs.extend(own(&info.rpath));
            dirs.extend(program_rpath.iter().cloned());
        }
        dirs.extend(own(&info.runpath));
        let defaults = target.default_dirs();
        for name in &info.needed {
            let mut wrong = BTreeSet::new();
            let cached = || {
                cache
                    .map(|c| c.lookup(name, target.machine))
                    .unwrap_or_default()
            };
            let found = if name.contains('/') {
                fits(&normalise(name), &mut wrong)
            } else {
                dirs.iter().any(|dir| fits(&join(dir, name), &mut wrong))
                    || cached()
                        .into_iter()
                        .any(|path| fits(&normalise(path), &mut wrong))
                    || defaults
                        .iter()
                        .any(|dir| fits(&join(dir, name), &mut wrong))
            };
            if !found {
                let entry = missing.entry(name.clone()).or_default();
                entry.0.insert(path.clone());
                entry.1.extend(wrong);
            }
        }
    }
    missing
        .into_iter()
        .map(|(library, (by, wrong))| Missing {
            library,
            needed_by: by.into_iter().collect(),
            wrong_machine: wrong.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::stack::LayerEntry;

    fn file(path: &str) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind: Kind::File,
            link: None,
            mode: 0o755,
        }
    }

    fn object(machine: u16, interpreter: Option<&str>, needed: &[&str], soname: bool) -> DynInfo {
        DynInfo {
            machine,
            bits: 64,
            little_endian: true,
            interpreter: interpreter.map(str::to_string),
            needed: needed.iter().map(|n| n.to_string()).collect(),
            runpath: vec!["$ORIGIN/../plugins".into()],
            soname: soname.then(|| "lib.so".to_string()),
            loadable: true,
            ..DynInfo::default()
        }
    }

    #[test]
    fn every_missing_library_is_named_with_the_files_needing_it() {
        let mut tree = Tree::new();
        tree.apply_layer(
            0,
            &[
                file("app/server"),
                file("lib/x86_64-linux-gnu/libc.so.6"),
                file("plugins/libplug.so"),
                file("lib/x86_64-linux-gnu/libz.so.1"),
                LayerEntry {
                    path: "lib64/ld-linux-x86-64.so.2".into(),
                    kind: Kind::Symlink("/lib/x86_64-linux-gnu/ld.so".into()),
                    link: None,
                    mode: 0o777,
                },
            ],
        );
        let mut objects = HashMap::new();
        let interp = Some("/lib64/ld-linux-x86-64.so.2");
        objects.insert(
            (0, 0),
            (
                "/app/server".to_string(),
                object(62, interp, &["libc.so.6", "libplug.so", "libz.so.1"], false),
            ),
        );
        // libc carries an interpreter too, but as a library it is not asked for one.
        objects.insert(
            (0, 1),
            (
                "/lib/x86_64-linux-gnu/libc.so.6".to_string(),
                object(62, interp, &[], true),
            ),
        );
        // Found through $ORIGIN of the program's DT_RUNPATH.
        objects.insert(
            (0, 2),
            (
                "/plugins/libplug.so".to_string(),
                object(62, None, &["libc.so.6", "libm.so.6"], true),
            ),
        );
        // The right name for the wrong machine.
        objects.insert(
            (0, 3),
            (
                "/lib/x86_64-linux-gnu/libz.so.1".to_string(),
                object(183, None, &[], true),
            ),
        );
        let missing = check(&tree, &objects, None);
        let names: Vec<&str> = missing.iter().map(|m| m.library.as_str()).collect();
        assert_eq!(
            names,
            ["/lib64/ld-linux-x86-64.so.2", "libm.so.6", "libz.so.1"]
        );
        assert_eq!(missing[0].needed_by, ["/app/server"]);
        assert_eq!(missing[1].needed_by, ["/plugins/libplug.so"]);
        assert_eq!(
            missing[2].wrong_machine,
            ["/lib/x86_64-linux-gnu/libz.so.1"]
        );
        assert!(missing[2].to_string().contains("is for another machine"));
    }
}
