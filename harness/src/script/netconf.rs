//! What a script may set on a host target's network besides sysctls, in
//! the words of the tools Linux people know: the device's root queueing
//! discipline (`tc qdisc replace dev tun0 root pfifo limit 0`) and the
//! metrics of the route to the script's address (`ip route change ...
//! advmss 600 mtu lock 640 initcwnd 11`). Each is a header key (set before
//! the first step) and a step (set at its time): `qdisc:` and `route:`.
//! The Linux target sets them over netlink (`os::netlink`); targets without
//! a kernel have neither.

use std::fmt;

/// A root qdisc: its kind, the one parameter the language takes (`limit`,
/// for the FIFOs: packets for pfifo, octets for bfifo), and what to set
/// instead where the kernel lacks the kind (`fq or pfifo`: a block of
/// packetdrill's whose `tc` line fails unnoticed leaves the qdisc before).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qdisc {
    pub kind: String,
    pub limit: Option<u32>,
    pub fallback: Option<Box<Qdisc>>,
}

/// The kinds that take `limit` as a `struct tc_fifo_qopt` (sch_fifo.c).
const FIFOS: &[&str] = &["pfifo", "bfifo", "pfifo_head_drop"];

impl Qdisc {
    /// `KIND` or `KIND limit N`, as after `tc qdisc replace dev DEV root`,
    /// then `or` another where the kernel lacks the first.
    pub fn parse(s: &str) -> Result<Qdisc, String> {
        let all: Vec<&str> = s.split_whitespace().collect();
        let (w, fallback) = match all.iter().position(|x| *x == "or") {
            Some(i) => (&all[..i], Some(Box::new(Qdisc::parse(&all[i + 1..].join(" "))?))),
            None => (&all[..], None),
        };
        let Some((kind, rest)) = w.split_first() else {
            return Err("qdisc needs a kind (pfifo, bfifo, fq, fq_codel, ...)".into());
        };
        let ok = kind.len() < 16 && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(format!(
                "qdisc is a queueing discipline's kind (pfifo, bfifo, fq, fq_codel, ...), not `{kind}`"
            ));
        }
        let limit = match rest {
            [] => None,
            ["limit", n] if FIFOS.contains(kind) => {
                Some(n.parse::<u32>().map_err(|_| format!("`limit {n}`: a limit is a number from 0 to 4294967295"))?)
            }
            ["limit", _] => {
                return Err(format!("`limit` is taken for {} only; `{kind}` takes its defaults here", FIFOS.join(", ")))
            }
            _ => {
                return Err(format!("`{}`: after the kind, only `limit N` (for {})", rest.join(" "), FIFOS.join(", ")))
            }
        };
        Ok(Qdisc { kind: (*kind).to_string(), limit, fallback })
    }
}

impl fmt::Display for Qdisc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(l) = self.limit {
            write!(f, " limit {l}")?;
        }
        if let Some(q) = &self.fallback {
            write!(f, " or {q}")?;
        }
        Ok(())
    }
}

/// Route metrics by `ip route`'s names and the kernel's RTAX_ numbers
/// (linux/rtnetlink.h). Each takes a number; `lock` before it keeps the
/// kernel from learning a better value (path MTU discovery, for `mtu`).
pub const ROUTE_METRICS: &[(&str, u16)] = &[
    ("mtu", 2),
    ("window", 3),
    ("ssthresh", 6),
    ("cwnd", 7),
    ("advmss", 8),
    ("reordering", 9),
    ("hoplimit", 10),
    ("initcwnd", 11),
    ("initrwnd", 14),
    ("quickack", 15),
    ("fastopen_no_cookie", 17),
];

/// The metrics of the route to the script's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMetrics {
    /// (RTAX_ number, value, locked), in the order written.
    pub metrics: Vec<(u16, u32, bool)>,
}

impl RouteMetrics {
    /// `advmss 600 mtu lock 640 initcwnd 11`: pairs of a metric and its
    /// value, `lock` between them to lock it.
    pub fn parse(s: &str) -> Result<RouteMetrics, String> {
        let mut w = s.split_whitespace();
        let mut metrics: Vec<(u16, u32, bool)> = Vec::new();
        while let Some(name) = w.next() {
            let &(_, num) = ROUTE_METRICS.iter().find(|m| m.0 == name).ok_or_else(|| {
                format!(
                    "`{name}` is not a route metric ({})",
                    ROUTE_METRICS.iter().map(|m| m.0).collect::<Vec<_>>().join(", ")
                )
            })?;
            let mut v = w.next().ok_or_else(|| format!("`{name}` needs a value"))?;
            let lock = v == "lock";
            if lock {
                v = w.next().ok_or_else(|| format!("`{name} lock` needs a value"))?;
            }
            let v = v.parse::<u32>().map_err(|_| format!("`{name} {v}`: a metric is a number"))?;
            if metrics.iter().any(|m| m.0 == num) {
                return Err(format!("`{name}` is given twice"));
            }
            metrics.push((num, v, lock));
        }
        if metrics.is_empty() {
            return Err("route needs metrics, e.g. `advmss 600 mtu lock 640 initcwnd 11`".into());
        }
        Ok(RouteMetrics { metrics })
    }
}

impl fmt::Display for RouteMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (num, v, lock)) in self.metrics.iter().enumerate() {
            let name = ROUTE_METRICS.iter().find(|m| m.1 == *num).map_or("?", |m| m.0);
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name} {}{v}", if *lock { "lock " } else { "" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qdiscs_and_routes_read_as_tc_and_ip_write_them() {
        assert_eq!(
            Qdisc::parse("pfifo limit 0").unwrap(),
            Qdisc { kind: "pfifo".into(), limit: Some(0), fallback: None }
        );
        let q = Qdisc::parse("fq or pfifo limit 5").unwrap();
        assert_eq!(q.fallback.as_ref().map(|f| (f.kind.as_str(), f.limit)), Some(("pfifo", Some(5))));
        assert_eq!(q.to_string(), "fq or pfifo limit 5");
        assert!(Qdisc::parse("fq or").is_err());
        assert_eq!(Qdisc::parse("fq").unwrap().to_string(), "fq");
        assert!(Qdisc::parse("fq limit 5").unwrap_err().contains("pfifo"));
        assert!(Qdisc::parse("fq; rm").unwrap_err().contains("kind"));
        assert!(Qdisc::parse("pfifo limit x").unwrap_err().contains("number"));
        let r = RouteMetrics::parse("advmss 600 mtu lock 640 initcwnd 11").unwrap();
        assert_eq!(r.metrics, vec![(8, 600, false), (2, 640, true), (11, 11, false)]);
        assert_eq!(r.to_string(), "advmss 600 mtu lock 640 initcwnd 11");
        assert!(RouteMetrics::parse("rtt 3").unwrap_err().contains("not a route metric"));
        assert!(RouteMetrics::parse("mtu lock").unwrap_err().contains("needs a value"));
        assert!(RouteMetrics::parse("mtu 1 mtu 2").unwrap_err().contains("twice"));
        assert!(RouteMetrics::parse("").is_err());
    }
}
