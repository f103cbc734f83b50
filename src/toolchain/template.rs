//! `{variable}` templates in toolchain files.
//!
//! A variable holds one word or a list of words. In an argument list, an element that is exactly
//! `{list}` becomes the list's words (so `{cflags}` adds several arguments, or none); anywhere
//! else a list is joined with spaces (`-DCMAKE_C_FLAGS={cflags}`). An unknown variable is an
//! error when the file is loaded, not when a build needs it.

use std::collections::BTreeMap;

/// Every variable a template may name.
pub const KNOWN: &[&str] = &[
    "cpu",
    "rust_cpu",
    "cpu_debian",
    "arch",
    "rust_target",
    "TARGET",
    "host",
    "zig",
    "cc",
    "ar",
    "cxx",
    "ranlib",
    "cmake_toolchain",
    "cflags",
    "ldflags",
    "src",
    "build",
    "name",
    "sources",
    "jobs",
    "args",
    "make_target",
    "build_cpu",
    "build_triple",
    "sysroot",
];

/// A variable's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// One word.
    One(String),
    /// Several words.
    Many(Vec<String>),
}

/// Values for expansion.
#[derive(Clone, Debug, Default)]
pub struct Vars(BTreeMap<String, Value>);

impl Vars {
    /// Sets a one-word variable.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Vars {
        self.0.insert(name.to_string(), Value::One(value.into()));
        self
    }

    /// Sets a list variable.
    pub fn set_list(&mut self, name: &str, value: Vec<String>) -> &mut Vars {
        self.0.insert(name.to_string(), Value::Many(value));
        self
    }

    /// Whether `name` has a value.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Expands a string; lists are joined with spaces.
    pub fn expand(&self, template: &str) -> Result<String, String> {
        let mut out = String::new();
        for piece in Template::pieces(template)? {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => match self.0.get(v) {
                    Some(Value::One(s)) => out.push_str(s),
                    Some(Value::Many(words)) => out.push_str(&words.join(" ")),
                    None => return Err(format!("`{{{v}}}` has no value here")),
                },
            }
        }
        Ok(out)
    }

    /// Expands an argument list; an element that is exactly `{list}` splices the list in.
    pub fn expand_args(&self, templates: &[String]) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for t in templates {
            let whole = t
                .strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'))
                .filter(|v| !v.contains(['{', '}']));
            match whole.and_then(|v| self.0.get(v)) {
                Some(Value::Many(words)) => out.extend(words.iter().cloned()),
                _ => out.push(self.expand(t)?),
            }
        }
        Ok(out)
    }
}

enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Template syntax checks.
pub struct Template;

impl Template {
    /// Checks that `template` is well-formed and names only known variables.
    pub fn check(template: &str) -> Result<(), String> {
        for piece in Template::pieces(template)? {
            if let Piece::Var(v) = piece
                && !KNOWN.contains(&v)
            {
                return Err(format!(
                    "`{template}` names `{{{v}}}`, which is not a variable (known: {})",
                    KNOWN.join(", ")
                ));
            }
        }
        Ok(())
    }

    fn pieces(template: &str) -> Result<Vec<Piece<'_>>, String> {
        let mut pieces = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("`{template}` has a `}}` without a `{{`"));
            }
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or_else(|| format!("`{template}` has a `{{` without a `}}`"))?;
            if open > 0 {
                pieces.push(Piece::Text(&rest[..open]));
            }
            pieces.push(Piece::Var(&rest[open + 1..close]));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest));
        }
        Ok(pieces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_lists_expand_as_documented() {
        let mut vars = Vars::default();
        vars.set("cpu", "aarch64")
            .set_list("cflags", vec!["-O2".into(), "-g0".into()])
            .set_list("args", vec![]);
        let args: Vec<String> = [
            "{cc}",
            "{cflags}",
            "-DF={cflags}",
            "--host={cpu}-linux",
            "{args}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert!(vars.expand_args(&args).is_err(), "cc has no value");
        vars.set("cc", "/w/cc");
        assert_eq!(
            vars.expand_args(&args).unwrap(),
            ["/w/cc", "-O2", "-g0", "-DF=-O2 -g0", "--host=aarch64-linux"]
        );
    }

    #[test]
    fn malformed_and_unknown_templates_are_refused() {
        assert!(Template::check("{cpu}-linux-{cc}").is_ok());
        assert!(Template::check("{cpu").is_err());
        assert!(Template::check("cpu}").is_err());
        assert!(Template::check("{gopath}").unwrap_err().contains("gopath"));
    }
}
