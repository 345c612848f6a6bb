//! Step times: `@1.5`, `@1500ms`, `+0.2`, `+1s~1.2s`, `+0...0.5` (a blocking
//! call that returns 0.5 s after it starts), `*` (any time).

use std::time::Duration;

/// Where a time is measured from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// From the start of the script.
    Absolute,
    /// From the previous step's actual time.
    Relative,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeSpec {
    pub base: Base,
    /// The earliest allowed time (after the base).
    pub lo: Duration,
    /// The latest allowed time; `lo` unless a range `~` was given.
    pub hi: Duration,
    /// `*`: any time from the base on (an `out` waits for it; others run at once).
    pub any: bool,
    /// `...END`: a blocking call returns at END, measured from the call's start
    /// when the start was relative, else from the script's start.
    pub returns: Option<Duration>,
}

impl Default for TimeSpec {
    fn default() -> Self {
        TimeSpec { base: Base::Relative, lo: Duration::ZERO, hi: Duration::ZERO, any: false, returns: None }
    }
}

/// Parses a duration: a number with an optional unit (`s`, `ms`, `us`); a
/// bare number is seconds, as in packetdrill. Errors carry a message only;
/// the caller adds the position.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("`{s}` is not a duration (examples: 0.2, 200ms, 1.5s, 2h)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}` is not a non-negative duration"));
    }
    let secs = v * scale;
    if secs > 1e9 {
        return Err(format!("`{s}` is too long"));
    }
    Ok(Duration::from_nanos((secs * 1e9).round() as u64))
}

impl TimeSpec {
    /// Parses a step's `at:` value.
    pub fn parse(s: &str) -> Result<TimeSpec, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(TimeSpec { any: true, ..TimeSpec::default() });
        }
        let (base, rest) = if let Some(r) = s.strip_prefix('+') {
            (Base::Relative, r)
        } else if let Some(r) = s.strip_prefix('@') {
            (Base::Absolute, r)
        } else {
            return Err(format!(
                "time `{s}` must start with `+` (after the previous step), `@` (from the start) or be `*`"
            ));
        };
        let (window, returns) = match rest.split_once("...") {
            Some((w, r)) => (w, Some(parse_duration(r.trim_start_matches('+'))?)),
            None => (rest, None),
        };
        let (lo, hi) = match window.split_once('~') {
            Some((a, b)) => (parse_duration(a)?, parse_duration(b.trim_start_matches('+'))?),
            None => {
                let d = parse_duration(window)?;
                (d, d)
            }
        };
        if hi < lo {
            return Err(format!("time range `{s}` ends before it starts"));
        }
        if returns.is_some() && lo != hi {
            return Err("a blocking call's start cannot be a range".into());
        }
        Ok(TimeSpec { base, lo, hi, any: false, returns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("0.2").unwrap(), ms(200));
        assert_eq!(parse_duration("200ms").unwrap(), ms(200));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("15us").unwrap(), Duration::from_micros(15));
        let t = TimeSpec::parse("+1s~1.2s").unwrap();
        assert_eq!((t.base, t.lo, t.hi), (Base::Relative, ms(1000), ms(1200)));
        let t = TimeSpec::parse("@240").unwrap();
        assert_eq!((t.base, t.lo, t.hi), (Base::Absolute, ms(240_000), ms(240_000)));
        let t = TimeSpec::parse("+0...0.5").unwrap();
        assert_eq!(t.returns, Some(ms(500)));
        assert!(TimeSpec::parse("*").unwrap().any);
        for bad in ["1s", "+x", "+2~1", "@-1", "+1~2...3", "+nan"] {
            assert!(TimeSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
