//! Filter expressions (`--filter`, `-E`): which (script, target) pairs a
//! command takes, in the spirit of cargo-nextest's filtersets.
//!
//! ```text
//! expr   := term (("or" | "|") term)*
//! term   := unary (("and" | "&") unary)*
//! unary  := ("not" | "!") unary | "(" expr ")" | atom
//! atom   := KEY ":" value          a predicate on one property
//!         | value ["[" pairs "]"]  a path, and a matrix variant
//! value  := 'text' | "text" | a word (no space, no ( ) [ ] & | !)
//! ```
//!
//! | key | true when | example |
//! |---|---|---|
//! | `path` | the script's path contains the value, or a glob (`*` within a directory, `**` across, `?`) matches the path or a tail of it starting at a directory | `path:handshake/`, `path:'grid/*-wait*.yaml'` |
//! | `name` | the script's `name:` contains the value (any case), or a glob matches it | `name:'zero window'` |
//! | `variant` | every `key=value` listed is one of the matrix variant's (values may be globs) | `variant:'kind=SYN, pos=right'` |
//! | `rfc` | one of the script's `rfc:` IDs is the value (any case), or a glob matches one | `rfc:MUST-13`, `rfc:'MUST-*'` |
//! | `target` | the run is on that target | `target:linux` |
//! | `tag` | one of the script's `tags:` is the value, or a glob matches one | `tag:slow` |
//!
//! A bare value is a `path`; `PATH [k=v, ...]` (as reports print a variant's
//! id) is `path:PATH and variant:'k=v, ...'`. A filter given more than once
//! takes what any of them takes.

use crate::script::{Script, TargetKind};
use crate::suite::glob;

/// A parsed filter expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    Path(String),
    Name(String),
    /// `key=value` pairs that must all be in the variant.
    Variant(Vec<(String, String)>),
    Rfc(String),
    Target(TargetKind),
    Tag(String),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

/// An expression that does not parse: the column (1-based, in characters)
/// and what was wrong there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("filter `{expr}`, column {column}: {message}")]
pub struct FilterError {
    pub expr: String,
    pub column: usize,
    pub message: String,
}

const KEYS: [&str; 6] = ["path", "name", "variant", "rfc", "target", "tag"];

impl Filter {
    /// Parses an expression (the grammar in the module's documentation).
    pub fn parse(expr: &str) -> Result<Filter, FilterError> {
        let toks = lex(expr)?;
        let mut p = Parser { expr, toks, at: 0 };
        if p.toks.is_empty() {
            return Err(p.error_at(0, "an empty filter: write a predicate such as `path:handshake/` or `rfc:MUST-13`"));
        }
        let f = p.or()?;
        match p.toks.get(p.at) {
            None => Ok(f),
            Some(t) => Err(p.error_at(t.col, &format!("expected `and`, `or` or the end, found {}", t.describe()))),
        }
    }

    /// Whether the filter takes `script` run on `target`.
    pub fn matches(&self, script: &Script, target: TargetKind) -> bool {
        match self {
            Filter::Path(v) => path_matches(v, &script.path.to_string_lossy()),
            Filter::Name(v) => text_matches(v, &script.name),
            Filter::Variant(pairs) => {
                let Some(variant) = &script.variant else { return false };
                let have = split_pairs(variant).unwrap_or_default();
                pairs.iter().all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && (v == hv || glob(v, hv))))
            }
            Filter::Rfc(v) => script.rfc.iter().any(|r| id_matches(v, r)),
            Filter::Target(t) => *t == target,
            Filter::Tag(v) => script.tags.iter().any(|t| id_matches(v, t)),
            Filter::Not(f) => !f.matches(script, target),
            Filter::And(a, b) => a.matches(script, target) && b.matches(script, target),
            Filter::Or(a, b) => a.matches(script, target) || b.matches(script, target),
        }
    }

    /// Whether the filter takes `script` on any of `targets`.
    pub fn matches_any(&self, script: &Script, targets: &[TargetKind]) -> bool {
        targets.iter().any(|t| self.matches(script, *t))
    }
}

/// Several `--filter`s: a pair is taken when any of them takes it; none
/// takes everything.
pub fn any_matches(filters: &[Filter], script: &Script, target: TargetKind) -> bool {
    filters.is_empty() || filters.iter().any(|f| f.matches(script, target))
}

fn has_glob(v: &str) -> bool {
    v.contains(['*', '?'])
}

fn path_matches(v: &str, path: &str) -> bool {
    if !has_glob(v) {
        return path.contains(v);
    }
    glob(v, path) || path.match_indices('/').any(|(i, _)| glob(v, &path[i + 1..]))
}

fn text_matches(v: &str, text: &str) -> bool {
    if has_glob(v) {
        glob(&v.to_lowercase(), &text.to_lowercase())
    } else {
        text.to_lowercase().contains(&v.to_lowercase())
    }
}

fn id_matches(v: &str, id: &str) -> bool {
    if has_glob(v) {
        glob(&v.to_lowercase(), &id.to_lowercase())
    } else {
        v.eq_ignore_ascii_case(id)
    }
}

/// A variant's `key=value` pairs, separated by commas; a piece without
/// `=` continues the value before it (a value may hold a comma).
fn split_pairs(v: &str) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in v.split(',') {
        match part.trim().split_once('=') {
            Some((k, val)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
                out.push((k.to_string(), val.trim().to_string()))
            }
            _ if part.trim().is_empty() => {}
            _ => {
                let last = out.last_mut()?;
                last.1.push(',');
                last.1.push_str(part.trim_end());
            }
        }
    }
    Some(out)
}

/// The pairs of a variant filter.
fn pairs(v: &str) -> Result<Vec<(String, String)>, String> {
    match split_pairs(v) {
        Some(p) if !p.is_empty() && p.iter().all(|(_, v)| !v.is_empty()) => Ok(p),
        _ => Err(format!(
            "`{v}` is not `key=value, ...` (matrix variables and their values), e.g. variant:'kind=SYN, pos=right'"
        )),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Colon,
    Open,
    Close,
    /// `[...]` after a value: its text.
    Brackets(String),
    And,
    Or,
    Not,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// 1-based column, in characters.
    col: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.tok {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Quoted(w) => format!("'{w}'"),
            Tok::Colon => "`:`".into(),
            Tok::Open => "`(`".into(),
            Tok::Close => "`)`".into(),
            Tok::Brackets(b) => format!("`[{b}]`"),
            Tok::And => "`and`".into(),
            Tok::Or => "`or`".into(),
            Tok::Not => "`not`".into(),
        }
    }
}

fn lex(expr: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = expr.chars().collect();
    let err = |col: usize, message: String| FilterError { expr: expr.to_string(), column: col, message };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let simple = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ':' => Some(Tok::Colon),
            '(' => Some(Tok::Open),
            ')' => Some(Tok::Close),
            '&' => Some(Tok::And),
            '|' => Some(Tok::Or),
            '!' => Some(Tok::Not),
            _ => None,
        };
        if let Some(tok) = simple {
            out.push(Token { tok, col });
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' => {
                let Some(end) = chars[i + 1..].iter().position(|&x| x == c) else {
                    return Err(err(col, format!("this {c} is never closed")));
                };
                out.push(Token { tok: Tok::Quoted(chars[i + 1..i + 1 + end].iter().collect()), col });
                i += end + 2;
            }
            '[' => {
                let Some(end) = chars[i + 1..].iter().position(|&x| x == ']') else {
                    return Err(err(col, "this `[` is never closed".into()));
                };
                out.push(Token { tok: Tok::Brackets(chars[i + 1..i + 1 + end].iter().collect()), col });
                i += end + 2;
            }
            ']' => return Err(err(col, "a `]` without its `[`".into())),
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !":()[]&|!'\"".contains(chars[i]) {
                    i += 1;
                }
                let w: String = chars[start..i].iter().collect();
                let tok = match w.as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Word(w),
                };
                out.push(Token { tok, col });
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    expr: &'a str,
    toks: Vec<Token>,
    at: usize,
}

impl Parser<'_> {
    fn error_at(&self, column: usize, message: &str) -> FilterError {
        FilterError { expr: self.expr.to_string(), column, message: message.to_string() }
    }

    fn end_col(&self) -> usize {
        self.expr.chars().count() + 1
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut f = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            f = Filter::Or(Box::new(f), Box::new(self.and()?));
        }
        Ok(f)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut f = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            f = Filter::And(Box::new(f), Box::new(self.unary()?));
        }
        Ok(f)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        let Some(t) = self.toks.get(self.at).cloned() else {
            return Err(self.error_at(self.end_col(), "the expression ends where a predicate should follow"));
        };
        self.at += 1;
        match t.tok {
            Tok::Not => Ok(Filter::Not(Box::new(self.unary()?))),
            Tok::Open => {
                let f = self.or()?;
                match self.toks.get(self.at) {
                    Some(Token { tok: Tok::Close, .. }) => {
                        self.at += 1;
                        Ok(f)
                    }
                    Some(other) => Err(self.error_at(other.col, &format!("expected `)`, found {}", other.describe()))),
                    None => Err(self.error_at(t.col, "this `(` is never closed")),
                }
            }
            Tok::Word(w) if self.peek() == Some(&Tok::Colon) => {
                self.at += 1;
                let (value, vcol) = self.value(&w)?;
                let f = self.keyed(&w, t.col, value, vcol)?;
                if w == "path" {
                    return self.variant_after(f);
                }
                Ok(f)
            }
            Tok::Word(v) | Tok::Quoted(v) => self.variant_after(Filter::Path(v)),
            _ => Err(self.error_at(t.col, &format!("expected a predicate, found {}", t.describe()))),
        }
    }

    /// A path, and the variant in brackets after it if there is one.
    fn variant_after(&mut self, path: Filter) -> Result<Filter, FilterError> {
        if let Some(Token { tok: Tok::Brackets(b), col }) = self.toks.get(self.at).cloned() {
            self.at += 1;
            let pairs = pairs(&b).map_err(|m| self.error_at(col, &m))?;
            return Ok(Filter::And(Box::new(path), Box::new(Filter::Variant(pairs))));
        }
        Ok(path)
    }

    fn value(&mut self, key: &str) -> Result<(String, usize), FilterError> {
        match self.toks.get(self.at).cloned() {
            Some(Token { tok: Tok::Word(v) | Tok::Quoted(v), col }) => {
                self.at += 1;
                Ok((v, col))
            }
            Some(t) => Err(self.error_at(t.col, &format!("`{key}:` needs a value, found {}", t.describe()))),
            None => Err(self.error_at(self.end_col(), &format!("`{key}:` needs a value"))),
        }
    }

    fn keyed(&self, key: &str, kcol: usize, value: String, vcol: usize) -> Result<Filter, FilterError> {
        Ok(match key {
            "path" => Filter::Path(value),
            "name" => Filter::Name(value),
            "variant" => Filter::Variant(pairs(&value).map_err(|m| self.error_at(vcol, &m))?),
            "rfc" => Filter::Rfc(value),
            "tag" => Filter::Tag(value),
            "target" => match TargetKind::from_name(&value) {
                Some(t) => Filter::Target(t),
                None => {
                    let hint = crate::script::mean(&value, TargetKind::ALL.iter().map(|k| k.name()));
                    return Err(self.error_at(
                        vcol,
                        &format!("`{value}` is not a target: {hint}targets: {}", TargetKind::names()),
                    ));
                }
            },
            _ => {
                let hint = crate::script::mean(key, KEYS);
                return Err(self.error_at(kcol, &format!("`{key}:` is not a key: {hint}keys: {}", KEYS.join(", "))));
            }
        })
    }
}

/// Quotes `s` for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The `--filter` that selects exactly this script's variant (none when
/// the script has no variant: its path alone selects it).
pub fn variant_filter(script: &Script) -> Option<String> {
    script.variant.as_ref().map(|v| format!("variant:\"{v}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(path: &str, variant: Option<&str>, rfc: &[&str], tags: &[&str]) -> Script {
        let text = "name: a zero window test\nsteps:\n  - call: socket() = 3\n";
        let mut s = crate::script::parse(std::path::Path::new(path), text).expect("parses").remove(0);
        s.variant = variant.map(String::from);
        s.rfc = rfc.iter().map(|r| r.to_string()).collect();
        s.tags = tags.iter().map(|r| r.to_string()).collect();
        s
    }

    fn takes(expr: &str, s: &Script, t: TargetKind) -> bool {
        Filter::parse(expr).unwrap_or_else(|e| panic!("{e}")).matches(s, t)
    }

    #[test]
    fn predicates() {
        let s = script("suites/grid/close-wait.yaml", Some("kind=SYN, pos=right"), &["MUST-13", "SHLD-2"], &["slow"]);
        let r = TargetKind::Reference;
        assert!(takes("grid/", &s, r));
        assert!(takes("path:'grid/*-wait.yaml'", &s, r));
        assert!(takes("path:'**/close-*'", &s, r));
        assert!(takes("path:'close-*.yaml'", &s, r));
        assert!(!takes("path:'*.yml'", &s, r));
        assert!(!takes("path:handshake/", &s, r));
        assert!(takes("variant:kind=SYN", &s, r));
        assert!(takes("variant:'pos=right, kind=SYN'", &s, r));
        assert!(!takes("variant:'kind=SYN, pos=left'", &s, r));
        assert!(takes("variant:'pos=r*'", &s, r));
        assert!(takes("suites/grid/close-wait.yaml [kind=SYN, pos=right]", &s, r));
        assert!(takes("path:grid/close-wait.yaml [kind=SYN, pos=right]", &s, r));
        assert!(Filter::parse("rfc:MUST-13 [kind=SYN]").is_err());
        assert!(!takes("suites/grid/close-wait.yaml [kind=FIN, pos=right]", &s, r));
        assert!(takes("rfc:must-13", &s, r));
        assert!(!takes("rfc:MUST-1", &s, r));
        assert!(takes("rfc:'MUST-1*'", &s, r));
        assert!(takes("target:linux", &s, TargetKind::Linux));
        assert!(!takes("target:linux", &s, r));
        assert!(takes("tag:slow", &s, r));
        assert!(takes("name:'ZERO window'", &s, r));
        assert!(!takes("name:handshake", &s, r));
    }

    #[test]
    fn operators() {
        let s = script("suites/data/a.yaml", None, &["MUST-13"], &[]);
        let r = TargetKind::Reference;
        assert!(takes("rfc:MUST-13 and not target:linux", &s, r));
        assert!(!takes("rfc:MUST-13 and not target:linux", &s, TargetKind::Linux));
        assert!(takes("rfc:MUST-99 or data/", &s, r));
        assert!(takes("!(rfc:MUST-99 | handshake/) & data/", &s, r));
        assert!(!takes("not data/", &s, r));
        // and binds tighter than or
        assert!(takes("handshake/ and rfc:MUST-99 or data/", &s, r));
        assert!(!takes("handshake/ and (rfc:MUST-99 or data/)", &s, r));
        // a variant filter takes no script without variants
        assert!(!takes("variant:kind=SYN", &s, r));
    }

    #[test]
    fn errors_say_where() {
        let e = Filter::parse("rfc:MUST-13 adn data/").unwrap_err();
        assert_eq!((e.column, e.message.as_str()), (13, "expected `and`, `or` or the end, found `adn`"));
        let e = Filter::parse("tagret:linux").unwrap_err();
        assert_eq!(e.column, 1);
        assert!(e.message.contains("did you mean `target`?"), "{}", e.message);
        let e = Filter::parse("target:linx").unwrap_err();
        assert_eq!(e.column, 8);
        assert!(e.message.contains("did you mean `linux`?"), "{}", e.message);
        assert_eq!(Filter::parse("(data/ or x").unwrap_err().message, "this `(` is never closed");
        assert_eq!(Filter::parse("path:'x").unwrap_err().column, 6);
        assert_eq!(Filter::parse("data/ and").unwrap_err().column, 10);
        assert!(Filter::parse("variant:SYN").unwrap_err().message.contains("is not `key=value"));
        assert!(Filter::parse("  ").unwrap_err().message.contains("empty filter"));
        assert!(Filter::parse("x ]").is_err());
        assert!(Filter::parse("path:").unwrap_err().message.contains("needs a value"));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("suites/a-b.yaml"), "suites/a-b.yaml");
        assert_eq!(shell_quote("variant:\"kind=SYN, pos=right\""), "'variant:\"kind=SYN, pos=right\"'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        let s = script("suites/grid/x.yaml", Some("kind=SYN, pos=right"), &[], &[]);
        let f = variant_filter(&s).expect("a variant");
        assert!(takes(&f, &s, TargetKind::Reference));
        let other = script("suites/grid/x.yaml", Some("kind=SYN, pos=rightmost"), &[], &[]);
        assert!(!takes(&f, &other, TargetKind::Reference));
    }
}
