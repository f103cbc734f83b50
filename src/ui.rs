//! Messages for people: status lines, warnings, notes and the final error report.
//!
//! Everything here goes to stderr, so stdout carries results only (digests, reports, JSON) and
//! can be piped. Colour follows `--color` (auto: only when stderr is a terminal and `NO_COLOR`
//! is unset, as anstream decides).

use std::borrow::Cow;
use std::fmt::Display;
use std::io::Write;
use std::sync::{Arc, Mutex};

use anstyle::{AnsiColor, Style};

/// Names in backticks, comma-separated, as messages list them: "`a`, `b`". Control
/// characters in the names are escaped (see [`printable`]).
pub fn backticked<T: Display>(names: impl IntoIterator<Item = T>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{}`", printable(&n.to_string())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` with every control character (C0, DEL, C1) escaped (`\n`, `\t`, `\x1b`,
/// `\u{9b}`), for names that come from images and binaries: a file path in a layer or an
/// interpreter path is chosen by whoever made the image, and printed raw an ESC could clear the
/// screen, rewrite earlier lines or forge a verdict, and a newline could add a line of its own.
pub fn printable(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// As [`printable`], but newlines and tabs stay: for whole messages, whose own layout may use
/// them, on their way to the terminal.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, keep_layout: bool) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() && !(keep_layout && (c == '\n' || c == '\t'));
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !escaped(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x80 => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.extend(c.escape_unicode()),
        }
    }
    Cow::Owned(out)
}

/// When to colour messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Every choice, in the order the help lists them.
    pub const ALL: [ColorChoice; 3] = [ColorChoice::Auto, ColorChoice::Always, ColorChoice::Never];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }
    }

    /// What it does.
    pub fn description(self) -> &'static str {
        match self {
            ColorChoice::Auto => "Colour when stderr is a terminal",
            ColorChoice::Always => "Always colour",
            ColorChoice::Never => "Never colour",
        }
    }
}

impl std::fmt::Display for ColorChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ColorChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ColorChoice::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("`{s}` is not auto, always or never"))
    }
}

/// How much to say, and how.
#[derive(Clone, Debug, Default)]
pub struct Ui {
    /// -1 quiet (errors only), 0 normal, 1+ verbose (`+ command` lines).
    verbosity: i8,
    color: ColorChoice,
    /// The spinner on screen while a child runs: lines are printed above it, not through it.
    spinner: Arc<Mutex<Option<indicatif::ProgressBar>>>,
}

const STATUS: Style = AnsiColor::Green.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const ERROR: Style = AnsiColor::Red.on_default().bold();
const DIM: Style = Style::new().dimmed();

impl Ui {
    /// A `Ui` from the global flags: `-q` wins over `-v`.
    pub fn new(verbose: u8, quiet: bool, color: ColorChoice) -> Ui {
        let verbosity = if quiet {
            -1
        } else {
            i8::try_from(verbose).unwrap_or(i8::MAX)
        };
        Ui {
            verbosity,
            color,
            spinner: Arc::default(),
        }
    }

    /// True under `--quiet`: child processes' output is captured, not shown.
    pub fn is_quiet(&self) -> bool {
        self.verbosity < 0
    }

    /// True under `-v`: commands are echoed before they run.
    pub fn is_verbose(&self) -> bool {
        self.verbosity > 0
    }

    /// Whether our stderr shows colours, so a child writing to it through a pipe can be told to.
    pub fn stderr_colored(&self) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
            }
        }
    }

    /// A cargo-style progress line: a right-aligned verb, then what it acts on.
    pub fn status(&self, verb: &str, what: impl Display) {
        if self.verbosity >= 0 {
            let what = what.to_string();
            let what = printable_lines(&what);
            self.line(format_args!("{STATUS}{verb:>12}{STATUS:#} {what}"));
        }
    }

    /// A byte-count progress bar for a long step (compress, push), drawn only when stderr is
    /// a terminal and not under `--quiet`; elsewhere it draws nothing and the step's status
    /// lines stand alone.
    pub fn progress(&self, verb: &str, what: &str, total: u64) -> Progress {
        self.drawn(
            verb,
            what,
            "[{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            || {
                indicatif::ProgressBar::with_draw_target(
                    Some(total),
                    indicatif::ProgressDrawTarget::stderr(),
                )
            },
        )
    }

    /// A spinner with the time taken, for a step whose length is unknown (a build), drawn as
    /// [`Ui::progress`] is. The child's output and our lines print above it while it turns.
    pub fn spinner(&self, verb: &str, what: &str) -> Progress {
        let progress = self.drawn(
            verb,
            what,
            "{spinner} {elapsed}",
            indicatif::ProgressBar::new_spinner,
        );
        if let Some(bar) = &progress.0 {
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            *self.spinner.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        }
        progress
    }

    /// A bar from `make`, drawn `VERB what <rest>` in the status lines' style, when stderr is a
    /// terminal and not under `--quiet`; else nothing.
    fn drawn(
        &self,
        verb: &str,
        what: &str,
        rest: &str,
        make: impl FnOnce() -> indicatif::ProgressBar,
    ) -> Progress {
        use std::io::IsTerminal;
        if self.verbosity < 0 || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = make();
        let prefix = if self.stderr_colored() {
            "{prefix:>12.green.bold}"
        } else {
            "{prefix:>12}"
        };
        if let Ok(style) =
            indicatif::ProgressStyle::with_template(&format!("{prefix} {{msg}} {rest}"))
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(verb.to_string());
        bar.set_message(what.to_string());
        Progress(Some(bar))
    }

    /// Writes raw bytes (a child's line) to stderr, above the spinner if one turns.
    pub fn write_stderr(&self, bytes: &[u8]) {
        let write = || {
            let mut err = std::io::stderr().lock();
            // A closed stderr leaves nowhere to report to; dropping the line is all we can do.
            let _ = err.write_all(bytes);
        };
        let spinner = self
            .spinner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match spinner.filter(|s| !s.is_finished()) {
            Some(spinner) => spinner.suspend(write),
            None => write(),
        }
    }

    /// A warning, shown unless `--quiet`.
    pub fn warn(&self, message: impl Display) {
        if self.verbosity >= 0 {
            let message = message.to_string();
            let message = printable_lines(&message);
            self.line(format_args!("{WARNING}warning{WARNING:#}: {message}"));
        }
    }

    /// Detail shown only under `-v` (the `+ command` echo, chosen defaults).
    pub fn verbose(&self, message: impl Display) {
        if self.is_verbose() {
            let message = message.to_string();
            let message = printable_lines(&message);
            self.line(format_args!("{DIM}{message}{DIM:#}"));
        }
    }

    /// A line a child process printed on its stdout, passed through to stderr unless `--quiet`.
    pub fn child_output(&self, line: &str) {
        if self.verbosity >= 0 {
            self.write_stderr(format!("{line}\n").as_bytes());
        }
    }

    /// The final report of a failure: the error, each cause, and an optional `help:` line.
    /// Always shown, even under `--quiet`.
    /// Control characters other than newlines and tabs are escaped: messages quote names
    /// from images and project files.
    pub fn error(&self, message: &str, causes: &[String], help: Option<&str>) {
        let message = printable_lines(message);
        self.line(format_args!("{ERROR}error{ERROR:#}: {message}"));
        for cause in causes {
            let cause = printable_lines(cause);
            self.line(format_args!("  caused by: {cause}"));
        }
        if let Some(help) = help {
            self.line(format_args!("{STATUS}help{STATUS:#}: {help}"));
        }
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        let choice = match self.color {
            // Judged on stderr, where the buffer goes, not on the buffer itself.
            ColorChoice::Auto => anstream::AutoStream::choice(&std::io::stderr()),
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        };
        let mut buffer = anstream::AutoStream::new(Vec::new(), choice);
        let _ = writeln!(buffer, "{text}");
        self.write_stderr(&buffer.into_inner());
    }
}

/// A progress bar from [`Ui::progress`]; a no-op where none is drawn.
#[derive(Debug)]
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// Counts `bytes` more done.
    pub fn add(&self, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(bytes);
        }
    }

    /// Whether a bar is drawn.
    pub fn is_drawn(&self) -> bool {
        self.0.is_some()
    }

    /// Removes the bar (the status line that follows says what was done).
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(printable("/lib/ld.so"), Cow::Borrowed(_)));
        assert_eq!(
            printable("/lib/\x1b[2J\nx\u{7f}\u{9b}é"),
            "/lib/\\x1b[2J\\nx\\x7f\\u{9b}é"
        );
        assert_eq!(printable_lines("a\n\tb\x1b"), "a\n\tb\\x1b");
        assert_eq!(backticked(["a\nb"]), "`a\\nb`");
    }
}
