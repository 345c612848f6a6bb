//! The helper files a script's backtick commands run, read at import time.
//!
//! packetdrill's scripts set their machine up by running files of their own
//! tree: google's run `../common/defaults.sh`, the kernel's selftests
//! `./defaults.sh`, a company's suite whatever it names. The importer knows
//! none of them by name: a command whose first word is a path is looked up
//! beside the script (relative paths count from the script's directory, as
//! packetdrill runs its commands there), or by its file name in the
//! directories given with `--helpers` (for a tree shipped without its
//! helpers), and its lines take the place of the call, each remembering the
//! helper's file and line for the messages. `source FILE` and `. FILE` are
//! read the same way, in the same shell (its variables, which the importer
//! follows, stay; a helper run as a program sees the exported ones).
//!
//! What the lines become is [`super::convert`]'s business, as for lines
//! written in the script itself.

use std::path::{Path, PathBuf};

/// Helpers may run helpers; deeper than this is a loop.
pub const MAX_DEPTH: usize = 8;

/// Where a line of shell came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The helper file as the script named it (relative), or as found.
    pub file: String,
    pub line: usize,
}

/// A helper found on disk.
#[derive(Debug)]
pub struct Helper {
    pub path: PathBuf,
    pub text: String,
    /// The interpreter its `#!` line names, when it is not a shell.
    pub interpreter: Option<String>,
}

/// Finds the file a command runs: `cmd` as the script wrote it (it holds a
/// `/`), `script_dir` the script's directory (when the script is a file),
/// `helper_dirs` the `--helpers` directories.
pub fn locate(cmd: &str, script_dir: Option<&Path>, helper_dirs: &[PathBuf]) -> Result<PathBuf, String> {
    let p = Path::new(cmd);
    if p.is_absolute() {
        return Err(format!("`{cmd}` is a file outside the script's tree (an absolute path)"));
    }
    let mut looked = Vec::new();
    if let Some(d) = script_dir {
        let here = d.join(p);
        if here.is_file() {
            return Ok(here);
        }
        looked.push(here.display().to_string());
    }
    if let Some(name) = p.file_name() {
        for d in helper_dirs {
            let there = d.join(name);
            if there.is_file() {
                return Ok(there);
            }
            looked.push(there.display().to_string());
        }
    }
    Err(if looked.is_empty() {
        format!("`{cmd}` cannot be looked up: the script is not a file on disk and no --helpers directory was given")
    } else {
        format!(
            "`{cmd}` is not at {}{}",
            looked.join(" nor at "),
            if helper_dirs.is_empty() { "; --helpers DIR names a directory that holds the tree's helpers" } else { "" }
        )
    })
}

/// Reads a helper found by [`locate`].
pub fn read(path: &Path) -> Result<Helper, String> {
    let bytes = crate::os::files::read_input(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
    let interpreter = text.lines().next().and_then(|l| l.strip_prefix("#!")).and_then(|l| {
        let mut w = l.split_whitespace();
        let first = w.next()?;
        let prog = match first.rsplit('/').next()? {
            "env" => w.next()?,
            p => p,
        };
        (!matches!(prog, "sh" | "bash" | "dash")).then(|| prog.to_string())
    });
    Ok(Helper { path: path.to_path_buf(), text, interpreter })
}

/// A helper's lines with their numbers: comments and blank lines dropped,
/// `\`-continued lines joined (numbered by their first line), and the shell
/// options that change nothing here (`set -e`, `set -x`, ...) left out.
pub fn lines(text: &str) -> Vec<(usize, String)> {
    joined(text)
        .into_iter()
        .map(|(i, l)| (i + 1, strip_comment(&l).trim().trim_end_matches(';').trim().to_string()))
        .filter(|(_, l)| !l.is_empty() && !is_shell_option(l))
        .collect()
}

/// Shell text's lines with `\`-continued ones joined, each with the index
/// (from 0) of its first line.
pub fn joined(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut cont = false;
    for (i, raw) in text.lines().enumerate() {
        let (body, more) = match raw.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        match out.last_mut() {
            Some((_, l)) if cont => {
                l.push(' ');
                l.push_str(body.trim());
            }
            _ => out.push((i, body.trim_end().to_string())),
        }
        cont = more;
    }
    out
}

/// `set -e`, `set -o pipefail`, `set -eux`: how the shell runs, not what.
fn is_shell_option(l: &str) -> bool {
    let mut w = l.split_whitespace();
    w.next() == Some("set") && w.all(|a| a.starts_with('-') || a.starts_with('+') || a == "pipefail" || a == "errexit")
}

/// A line without its comment: `#` starting a word outside quotes.
pub fn strip_comment(l: &str) -> &str {
    let (mut sq, mut dq, mut prev_space) = (false, false, true);
    for (i, c) in l.char_indices() {
        match c {
            '\'' if !dq => sq = !sq,
            '"' if !sq => dq = !dq,
            '#' if !sq && !dq && prev_space => return &l[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    l
}

/// `$((EXPR))`'s value: integers, `+ - * / %`, unary minus, parentheses
/// (what sysctl values in helpers compute: `$((15*1024*1024))`).
pub fn arith(expr: &str) -> Option<i64> {
    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }
    impl P<'_> {
        fn ws(&mut self) {
            while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
                self.i += 1;
            }
        }
        fn sum(&mut self, depth: usize) -> Option<i64> {
            let mut v = self.product(depth)?;
            loop {
                self.ws();
                match self.s.get(self.i) {
                    Some(b'+') => {
                        self.i += 1;
                        v = v.checked_add(self.product(depth)?)?;
                    }
                    Some(b'-') => {
                        self.i += 1;
                        v = v.checked_sub(self.product(depth)?)?;
                    }
                    _ => return Some(v),
                }
            }
        }
        fn product(&mut self, depth: usize) -> Option<i64> {
            let mut v = self.unary(depth)?;
            loop {
                self.ws();
                match self.s.get(self.i) {
                    Some(b'*') => {
                        self.i += 1;
                        v = v.checked_mul(self.unary(depth)?)?;
                    }
                    Some(b'/') => {
                        self.i += 1;
                        v = v.checked_div(self.unary(depth)?)?;
                    }
                    Some(b'%') => {
                        self.i += 1;
                        v = v.checked_rem(self.unary(depth)?)?;
                    }
                    _ => return Some(v),
                }
            }
        }
        fn unary(&mut self, depth: usize) -> Option<i64> {
            if depth > 32 {
                return None;
            }
            self.ws();
            match self.s.get(self.i)? {
                b'-' => {
                    self.i += 1;
                    self.unary(depth + 1)?.checked_neg()
                }
                b'+' => {
                    self.i += 1;
                    self.unary(depth + 1)
                }
                b'(' => {
                    self.i += 1;
                    let v = self.sum(depth + 1)?;
                    self.ws();
                    (self.s.get(self.i) == Some(&b')')).then(|| self.i += 1)?;
                    Some(v)
                }
                c if c.is_ascii_digit() => {
                    let start = self.i;
                    while self.s.get(self.i).is_some_and(|c| c.is_ascii_alphanumeric()) {
                        self.i += 1;
                    }
                    let t = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                        Some(h) => i64::from_str_radix(h, 16).ok(),
                        None => t.parse().ok(),
                    }
                }
                _ => None,
            }
        }
    }
    let mut p = P { s: expr.as_bytes(), i: 0 };
    let v = p.sum(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_of_sysctl_values() {
        assert_eq!(arith("15*1024*1024"), Some(15_728_640));
        assert_eq!(arith(" 256 * 1024 "), Some(262_144));
        assert_eq!(arith("(1+2)*-3 % 5"), Some(-4));
        assert_eq!(arith("0x10/4"), Some(4));
        assert_eq!(arith("1/0"), None);
        assert_eq!(arith("x+1"), None);
        assert_eq!(arith("(1"), None);
        assert_eq!(arith(&"(".repeat(100)), None);
    }

    #[test]
    fn lines_drop_comments_options_and_join_continuations() {
        let t = "#!/bin/bash\nset -euo pipefail\n# a comment\n\nsysctl -q a=1 \\\n  b=2 # trailing\necho 'x # y'\n";
        assert_eq!(lines(t), vec![(5, "sysctl -q a=1 b=2".to_string()), (7, "echo 'x # y'".to_string())]);
    }

    #[test]
    fn interpreters() {
        let d = std::env::temp_dir().join(format!("helpers-unit-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        for (name, text, want) in [
            ("a.sh", "#!/bin/bash\ntrue\n", None),
            ("b.sh", "true\n", None),
            ("c.py", "#!/usr/bin/env python3\n", Some("python3")),
            ("d", "#!/bin/sh -e\n", None),
        ] {
            std::fs::write(d.join(name), text).unwrap();
            assert_eq!(read(&d.join(name)).unwrap().interpreter.as_deref(), want, "{name}");
        }
        assert!(locate("./a.sh", Some(&d), &[]).is_ok());
        assert!(locate("../common/a.sh", Some(&d.join("x")), std::slice::from_ref(&d)).is_ok());
        let e = locate("../common/zz.sh", Some(&d), &[]).unwrap_err();
        assert!(e.contains("is not at") && e.contains("--helpers"), "{e}");
        assert!(locate("/etc/passwd", Some(&d), &[]).unwrap_err().contains("absolute"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
