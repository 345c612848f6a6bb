//! Facts about the running kernel that the `linux` profile encodes, checked
//! on the wire: handcrafted segments go into a kernel listener over TUN in a
//! private namespace and its replies are read back. Needs root, like the
//! interop tests (HARNESS_SKIP_PRIVILEGED=1 skips them knowingly).

use harness::interop::tunpeer::{TunAddrs, TunPeer};
use harness::os::netns::Private;
use reference_stack::wire::{IpPacket, IpRepr, TcpFlags, TcpOption, TcpRepr};
use reference_stack::{Profile, SeqNumber};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;

mod common;
use common::privileged;

/// Runs `f` on a thread inside a fresh namespace with a TUN peer and a kernel
/// listener on 198.51.100.1:8080.
fn with_kernel_listener<T: Send + 'static>(f: impl FnOnce(&mut TunPeer, &Wire) -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let ns = Private::unshare().unwrap();
        let addrs = TunAddrs::default();
        let mut tp = TunPeer::setup(&ns, addrs.clone(), Profile::linux(), 1, 0).unwrap();
        let _l = TcpListener::bind(SocketAddr::new(IpAddr::V4(addrs.kernel_v4), 8080)).unwrap();
        let wire = Wire { ip: IpRepr::new(IpAddr::V4(addrs.stack_v4), IpAddr::V4(addrs.kernel_v4)) };
        f(&mut tp, &wire)
    })
    .join()
    .unwrap()
}

struct Wire {
    ip: IpRepr,
}

impl Wire {
    fn seg(&self, sport: u16, flags: TcpFlags, seq: u32, ack: u32, options: Vec<TcpOption>, payload: &[u8]) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: sport,
            dst_port: 8080,
            seq: SeqNumber(seq),
            ack: SeqNumber(ack),
            flags,
            window: 65535,
            options: options.into(),
            payload: payload.to_vec(),
            ..TcpRepr::default()
        };
        IpPacket { ip: self.ip, tcp }.emit().unwrap()
    }
}

fn replies(tp: &mut TunPeer, port: u16) -> Vec<TcpRepr> {
    tp.capture(Duration::from_millis(300), |p| p.tcp.dst_port == port)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p.tcp)
        .collect()
}

/// Profile::linux().synack_on_duplicate_syn: a retransmitted SYN in
/// SYN-RECEIVED gets the SYN,ACK again (RFC 9293 would send a bare ACK).
#[test]
fn duplicate_syn_in_syn_received_gets_the_synack_again() {
    if !privileged() {
        return;
    }
    let (first, second) = with_kernel_listener(|tp, w| {
        let syn = w.seg(40000, TcpFlags::SYN, 1000, 0, vec![TcpOption::Mss(1460)], &[]);
        tp.inject(&syn).unwrap();
        let first = replies(tp, 40000);
        tp.inject(&syn).unwrap();
        (first, replies(tp, 40000))
    });
    eprintln!("first: {first:?}\nsecond: {second:?}");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].flags, TcpFlags::SYN | TcpFlags::ACK, "kernel answered a duplicate SYN with {}", second[0]);
    assert!(Profile::linux().synack_on_duplicate_syn);
}

/// Profile::linux().drop_segments_without_ts: once timestamps are negotiated,
/// does the kernel take a data segment that carries no TSopt?
#[test]
fn data_without_timestamp_on_a_timestamp_connection() {
    if !privileged() {
        return;
    }
    let acks = with_kernel_listener(|tp, w| {
        let ts = |v: u32, e: u32| vec![TcpOption::Nop, TcpOption::Nop, TcpOption::Timestamps { tsval: v, tsecr: e }];
        let syn = w.seg(
            40001,
            TcpFlags::SYN,
            5000,
            0,
            vec![TcpOption::Mss(1460), TcpOption::Timestamps { tsval: 100, tsecr: 0 }],
            &[],
        );
        tp.inject(&syn).unwrap();
        let sa = replies(tp, 40001).into_iter().find(|s| s.flags.syn()).expect("SYN,ACK");
        let (their_ts, _) = sa.timestamps().expect("kernel negotiated timestamps");
        let iss = sa.seq.0;
        tp.inject(&w.seg(40001, TcpFlags::ACK, 5001, iss + 1, ts(101, their_ts), &[])).unwrap();
        // Data with no TSopt at all.
        tp.inject(&w.seg(40001, TcpFlags::ACK | TcpFlags::PSH, 5001, iss + 1, vec![], b"hello")).unwrap();
        replies(tp, 40001)
    });
    eprintln!("replies to data without TSopt: {acks:?}");
    let took_it = acks.iter().any(|s| s.flags.ack() && s.ack.0 == 5006);
    assert_eq!(
        !took_it,
        Profile::linux().drop_segments_without_ts,
        "kernel {} the segment; the linux profile says drop_segments_without_ts = {}",
        if took_it { "accepted" } else { "dropped" },
        Profile::linux().drop_segments_without_ts
    );
}
