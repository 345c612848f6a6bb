//! Hostile input (issue 26): each reproducer that used to abort, hang or
//! eat memory is now a positioned error, or passes in bounded time and
//! memory. Timing is measured in benchmarks, not here; these check what
//! happens.

use harness::runner;
use harness::script;
use std::path::{Path, PathBuf};

fn err(text: &str) -> Vec<String> {
    match script::parse(Path::new("h.yaml"), text) {
        Ok(_) => panic!("accepted: {text:.200}"),
        Err(e) => e.all().map(|x| x.one_line()).collect(),
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("harness-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn lengths_are_bounded_where_they_are_read() {
    // A write of 2^48 octets was allocated before its descriptor was checked.
    let e = err("steps:\n  - call: socket() = 3\n  - call: write(4, 281474976710656) = -1 EBADF\n");
    assert_eq!(e, ["h.yaml:3:20: a length over 67108864 octets (64 MiB), the most one call moves here"]);
    let e = err("steps:\n  - call: read(4, 4294967296) = -1 EBADF\n  - call: sendmsg(4, [67108864, 1], 0) = 1\n");
    assert_eq!(e.len(), 2, "{e:?}");
    // A segment of 4 GiB.
    let e = err("steps:\n  - in: \". 0:4294967295(4294967295) ack 1 win 65535\"\n");
    assert!(e[0].contains("at most 65495 octets"), "{e:?}");
    // Options over the header's 40 octets.
    let ts = ["TS val 1 ecr 0"; 5].join(",");
    let e = err(&format!("steps:\n  - in: \". 0:0(0) ack 1 win 1 <{ts}>\"\n"));
    assert!(e[0].contains("take 50 octets; a TCP header holds at most 40"), "{e:?}");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("steps:\n  - call: write(4, {}{}) = 1\n", "[".repeat(20_000), "]".repeat(20_000));
    let e = err(&deep);
    assert!(e[0].ends_with("`[` nested deeper than 4"), "{e:?}");
    // The importer reads the same call through the same parser.
    let pkt = format!(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 write(3, {}{}, 10) = 10\n",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let c = harness::import::convert::convert("nest.pkt", &pkt, &Default::default());
    assert!(c.yaml.is_none() && !c.problems.is_empty());
}

#[test]
fn a_matrix_is_counted_before_it_is_expanded() {
    let vars: String = (0..64).map(|i| format!("  v{i}: [a, b]\n")).collect();
    let uses: String = (0..64).map(|i| format!("  - wait: \"${{v{i}}}\"\n")).collect();
    let e = err(&format!("matrix:\n{vars}steps:\n  - call: socket() = 3\n{uses}"));
    assert!(e[0].contains("expands to more than 100000 scripts"), "{e:?}");
    // Rows: each variant is checked on its own steps (the matrix blanked
    // out), with the same lines and columns as the file.
    let rows: String = (0..2000).map(|i| format!("  - {{v: {i}}}\n")).collect();
    let text = format!("matrix:\n{rows}steps:\n  - call: socket() = 3\n  - wait: ${{v}}us\n");
    let s = script::parse(Path::new("m.yaml"), &text).unwrap();
    assert_eq!(s.len(), 2000);
    assert_eq!(s[1999].steps[1].pos.line, 2004);
    let bad = text.replace("wait: ${v}us", "wait: ${v}parsecs");
    let e = err(&bad);
    assert!(e[0].starts_with("h.yaml:2004:"), "{e:?}");
}

#[test]
fn time_only_goes_forward() {
    let e = err(
        "steps:\n  - {at: 5, call: socket() = 3}\n  - {at: +1, call: socket() = 4}\n  - {at: 3, call: socket() = 5}\n",
    );
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("h.yaml:4:") && e[0].contains("before line 2's 5.000000 s"), "{e:?}");
}

#[test]
fn many_steps_parse() {
    // 40,000 steps: positions come from a line index, not a scan per step.
    let steps: String = (0..40_000).map(|_| "  - wait: 1ms\n").collect();
    let s = script::parse(Path::new("long.yaml"), &format!("steps:\n  - call: socket() = 3\n{steps}")).unwrap();
    assert_eq!(s[0].steps.len(), 40_001);
    assert_eq!(s[0].steps[40_000].pos.line, 40_002);
}

#[test]
fn only_regular_files_are_read_and_loops_are_walked_once() {
    let d = scratch("files");
    std::fs::write(d.join("ok.yaml"), "steps:\n  - call: socket() = 3\n").unwrap();
    nix::unistd::mkfifo(&d.join("fifo.yaml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::os::unix::fs::symlink("/dev/zero", d.join("zero.yaml")).unwrap();
    std::os::unix::fs::symlink(".", d.join("loop")).unwrap();
    std::fs::write(d.join("utf.yaml"), b"steps:\n  - call: socket() = 3\xff\n").unwrap();
    let files = runner::find_scripts(std::slice::from_ref(&d)).unwrap();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["fifo.yaml", "ok.yaml", "utf.yaml", "zero.yaml"], "the loop is walked once");
    let (scripts, errors) = runner::load_all(&files);
    assert_eq!(scripts.len(), 1);
    let msgs: Vec<String> = errors.iter().map(|e| e.one_line()).collect();
    assert!(msgs[0].contains("fifo.yaml:1:1: cannot read") && msgs[0].contains("a FIFO"), "{msgs:?}");
    assert!(msgs[1].contains("utf.yaml:2:23: cannot read") && msgs[1].contains("invalid UTF-8 at byte 29"), "{msgs:?}");
    assert!(msgs[2].contains("a character device"), "{msgs:?}");
    // Given by name, a device is refused the same way, not "no such file".
    let files = runner::find_scripts(&[PathBuf::from("/dev/null")]).unwrap();
    let (_, errors) = runner::load_all(&files);
    assert!(errors[0].message.contains("not a regular file but a character device"), "{}", errors[0].message);
    let e = runner::find_scripts(&[d.join("nothing.yaml")]).unwrap_err();
    assert!(e.to_string().ends_with("no such file or directory"), "{e}");
    std::os::unix::fs::symlink(d.join("gone"), d.join("dangling.yaml")).unwrap();
    let e = runner::find_scripts(&[d.join("dangling.yaml")]).unwrap_err();
    assert!(e.to_string().ends_with("a symbolic link to nothing"), "{e}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn script_time_is_bounded_and_a_long_run_keeps_a_bounded_trace() {
    let head = "outbound: ignore\nsteps:\n  - call: socket() = 3\n  - call: bind(3, 8080) = 0\n  - call: listen(3, 1) = 0\n  - in:  S 0:0(0) win 65535 <mss 1460>\n  - in:  . 1:1(0) ack 1 win 0\n  - call: accept(3) = 4\n  - call: write(4, 100) = 100\n";
    // A closed window probed for 1e9 s ran 20 s: past the limit, refused.
    let e = err(&format!("{head}  - wait: 1e9\n"));
    assert!(e[0].starts_with("h.yaml:10:") && e[0].contains("past 10 days of script time"), "{e:?}");
    // Nine days: about 13,000 probes; the trace keeps the first and the
    // last entries and says how many it left out.
    let s = script::parse(Path::new("long.yaml"), &format!("{head}  - wait: 216h\n")).unwrap();
    let r = runner::run_one(&s[0], harness::script::TargetKind::Reference);
    assert!(matches!(r.status, runner::Status::Passed), "{:?}", r.status);
    use harness::engine::{TRACE_HEAD, TRACE_TAIL};
    assert_eq!(r.trace.len(), TRACE_HEAD + 1 + TRACE_TAIL);
    let marker = r.trace[TRACE_HEAD].to_string();
    assert!(marker.contains("trace entries not kept"), "{marker}");
}

#[test]
fn a_huge_line_is_not_repeated_and_errors_are_capped() {
    // 2 MB on one line: the message names the argument by its ends, and
    // the diagnostic shows a window of the line (same line number).
    let text = format!("steps:\n  - call: write(4, \"{}\" x) = 1\n  - call: sokcet() = 3\n", "a".repeat(2_000_000));
    let e = script::parse(Path::new("h.yaml"), &text).unwrap_err();
    assert!(e.message.len() < 200 && e.message.contains("characters)..."), "{:.300}", e.message);
    let shown = format!("{:?}", miette::Report::new(e.clone()));
    assert!(shown.len() < 10_000, "{} characters rendered", shown.len());
    assert!(shown.contains("h.yaml:2:20"), "{shown:.2000}");
    assert_eq!(e.others.len(), 1);
    assert_eq!((e.others[0].line, e.others[0].column), (3, 11));
    // 40,000 bad steps: a hundred errors, then a line saying checking stopped.
    let steps: String = (0..40_000).map(|_| "  - call: sokcet() = 3\n").collect();
    let e = err(&format!("steps:\n{steps}"));
    assert_eq!(e.len(), 101);
    assert!(e[100].ends_with("100 errors so far: the steps from here on are not checked"), "{}", e[100]);
}

/// Found by `make fuzz-parsers` (its first campaign): a non-ASCII character
/// in an option's hex octets panicked (a slice inside a character), in
/// check and in the importer (packetdrill's `FO` becomes `opt34 HEX`).
#[test]
fn non_ascii_option_octets_are_an_error() {
    let e = err("steps:\n  - in: \"S 0:0(0) win 1 <opt34 12345\u{20ac}78>\"\n");
    assert!(e[0].contains("is not hex octets"), "{e:?}");
    let pkt = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S. 1234:1234(0) ack 1 win 14600 <mss 940,FO 12345\u{20ac}78,nop,nop>\n";
    let c = harness::import::convert::convert("fo.pkt", pkt, &Default::default());
    assert!(c.yaml.is_none() && !c.problems.is_empty(), "refused with a reason: {:?}", c.problems);
}

/// Found by `make fuzz-parsers`: an error's offset inside a packet counts
/// in the scalar's value, which YAML folds (a quoted scalar over several
/// lines), so in the file it landed inside a multi-byte character and the
/// position computation panicked. (The campaign's input, minimised.)
#[test]
fn an_error_inside_a_multibyte_character_is_positioned() {
    let text = "steps:\n  - {at: +0.03, in: \"P. 531:541(10) ack 1 wi 1:1001(1000) ack 1301 win 257\n\n +.05 < S. 5678:5678(0) ack 1421 w\u{fffd}\u{fffd}\u{fffd}65535 <mss 1matrix: +0 > . 1421:1421(0) a\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd} < P. 1:1001(1000) ack 14n 65535\"}\n";
    let e = err(text);
    assert!(e[0].starts_with("h.yaml:2:") || e[0].starts_with("h.yaml:4:"), "{e:?}");
}

/// Found by `make fuzz-parsers`: a level and an option joined by `|` as one
/// argument was taken for an option by its first name, and panicked.
#[test]
fn a_level_joined_to_an_option_is_an_error() {
    let e = err("steps:\n  - call: socket() = 3\n  - call: setsockopt(3, SOL_SOCKET| SO_SNDBUF, [200000], 4) = 0\n");
    assert!(e[0].starts_with("h.yaml:3:") && e[0].contains("two arguments"), "{e:?}");
    let pkt = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 setsockopt(3, SOL_SOCKET| SO_SNDBUF, [200000], 4) = 0\n";
    let c = harness::import::convert::convert("opt.pkt", pkt, &Default::default());
    assert!(c.yaml.is_none() && !c.problems.is_empty(), "{:?}", c.problems);
}

/// What a target finds it cannot do only while running (TCP_INFO of a
/// descriptor that is not open) is an error at the step that asked, with the
/// file, line and column, as a failure is.
#[test]
fn a_run_time_refusal_names_the_step() {
    let text = "name: refused\nsteps:\n  - call: socket() = 3\n  - call: bind(3, 8080) = 0\n  \
                - call: listen(3, 1) = 0\n  - in: S 0:0(0) win 65535 <mss 1460>\n  - out: S. 0:0(0) ack 1 <...>\n  \
                - in: . 1:1(0) ack 1 win 65535\n  - call: accept(3) = 4\n  \
                - tcp_info: {fd: 9, unacked: 0}\n";
    let s = script::parse(Path::new("refused.yaml"), text).unwrap_or_else(|e| panic!("{}", e.one_line())).remove(0);
    let r = runner::run_one(&s, script::TargetKind::Reference);
    match &r.status {
        runner::Status::Error(m) => {
            assert!(m.contains("refused.yaml:10:5 (`tcp_info: {fd: 9, unacked: 0}`)"), "{m}");
            assert!(m.starts_with("unsupported on this target: tcp_info on fd 9"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

/// Found by `make fuzz-parsers` once it held the importer to the round trip:
/// a .pkt comment with control characters (here \x05, \x00, \x01 and a lone
/// \r) was written into a YAML comment as it was, and the script the
/// importer wrote did not parse. Now such characters are written as text.
#[test]
fn an_imported_comment_with_control_characters_reads_back() {
    let pkt = "// Test the sWmultaneovs open \u{5}\u{ff}\u{5}E, [1],\u{0}nam0# co\u{81}nect\r(d, |4)\u{1}urg\n\
               0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
    let c = harness::import::convert::convert("x.pkt", pkt, &harness::import::convert::ImportOptions::default());
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    let y = c.yaml.unwrap();
    harness::script::parse(std::path::Path::new("x.yaml"), &y).unwrap_or_else(|e| panic!("{}\n{y}", e.message));
    assert!(y.contains("open \\x05\u{ff}\\x05E"), "{y}");
    // The campaign's own input had no event at all: refused, not written
    // as a script without steps (which the language refuses).
    let only_comment = pkt.lines().next().unwrap();
    let c =
        harness::import::convert::convert("x.pkt", only_comment, &harness::import::convert::ImportOptions::default());
    assert!(c.yaml.is_none());
    assert_eq!(c.problems[0].construct, "no steps", "{:?}", c.problems);
}

/// Found by `make fuzz-parsers` (second campaign with the round trip): a
/// sysctl whose name holds control characters went into the header, which
/// the language then refused. The importer applies the language's rule.
#[test]
fn an_imported_sysctl_with_a_bad_name_is_refused_at_its_line() {
    let pkt = "`sysctl -q net.ipv4.tcp_\u{0}\u{10}open=0x202`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
    let c = harness::import::convert::convert("x.pkt", pkt, &harness::import::convert::ImportOptions::default());
    assert!(c.yaml.is_none());
    assert_eq!((c.problems[0].line, c.problems[0].construct.as_str()), (1, "sysctl"), "{:?}", c.problems);
    assert!(c.problems[0].reason.contains("is not a network sysctl"), "{:?}", c.problems);
}

/// Found by `make fuzz-parsers` (third campaign): `${` in a .pkt's comment
/// reads as a matrix variable in the YAML; a document without a matrix now
/// spells it `\x24{`, and the title still reads back as written.
#[test]
fn an_imported_dollar_brace_is_not_a_matrix_variable() {
    let pkt = "// costs ${HOME} and \"${x}\"\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
    let c = harness::import::convert::convert("x.pkt", pkt, &harness::import::convert::ImportOptions::default());
    let y = c.yaml.unwrap();
    let s = harness::script::parse(std::path::Path::new("x.yaml"), &y).unwrap_or_else(|e| panic!("{}\n{y}", e.message));
    assert_eq!(s[0].name, "costs ${HOME} and \"${x}\"");
}

/// Found by `make fuzz-parsers` (2026-12-06): a time of 222222222 s made a
/// script past the language's limit of script time, which the importer
/// wrote and the language refused. The importer now reads back what it
/// writes: what the language refuses is a problem at the .pkt line its
/// step came from.
#[test]
fn an_imported_time_past_the_languages_limit_is_refused_at_its_line() {
    let pkt = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n\
               +222222222.01 close(3) = 0\n";
    let c = harness::import::convert::convert("x.pkt", pkt, &harness::import::convert::ImportOptions::default());
    assert!(c.yaml.is_none());
    assert_eq!((c.problems[0].line, c.problems[0].construct.as_str()), (4, "language"), "{:?}", c.problems);
    assert!(c.problems[0].reason.contains("runs past 10 days of script time"), "{:?}", c.problems);
}
