//! TCP sockets as conn-audit reads them: typed states and timers, `tcp_info` decoded at fixed
//! offsets from bytes of any length, the `/proc/net/tcp{,6}` format (sliced only where checked
//! to be ASCII hex), and `--peer` CIDR blocks. Pure: no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP states as the kernel numbers them (include/net/tcp_states.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TcpState {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    /// A request socket (the server's half of a handshake), as inet_diag reports it.
    NewSynRecv = 12,
}

impl TcpState {
    /// The state for the kernel's number; `None` outside 1..=12.
    pub fn from_code(c: u8) -> Option<TcpState> {
        use TcpState::*;
        Some(match c {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            12 => NewSynRecv,
            _ => return None,
        })
    }

    /// The name `ss` and netstat print.
    pub fn name(self) -> &'static str {
        use TcpState::*;
        match self {
            Established => "ESTABLISHED",
            SynSent => "SYN_SENT",
            SynRecv => "SYN_RECV",
            FinWait1 => "FIN_WAIT1",
            FinWait2 => "FIN_WAIT2",
            TimeWait => "TIME_WAIT",
            Close => "CLOSE",
            CloseWait => "CLOSE_WAIT",
            LastAck => "LAST_ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
            NewSynRecv => "NEW_SYN_RECV",
        }
    }

    /// The server's half of a handshake (SYN_RECV, or a request socket).
    pub fn is_syn_recv(self) -> bool {
        matches!(self, TcpState::SynRecv | TcpState::NewSynRecv)
    }
}

/// The timer a socket has armed (`/proc/net/tcp` `tr`, inet_diag `idiag_timer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timer {
    None,
    Retransmit,
    Keepalive,
    TimeWait,
    /// Zero-window probe (persist) timer.
    Probe,
}

impl Timer {
    pub fn from_code(c: u8) -> Timer {
        match c {
            1 => Timer::Retransmit,
            2 => Timer::Keepalive,
            3 => Timer::TimeWait,
            4 => Timer::Probe,
            _ => Timer::None,
        }
    }
}

/// The fields of `struct tcp_info` conn-audit uses; `None` where the kernel sent too few bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct TcpInfo {
    pub retransmits: u8,
    pub probes: u8,
    pub backoff: u8,
    pub unacked: Option<u32>,
    pub last_data_sent_ms: Option<u32>,
    pub last_data_recv_ms: Option<u32>,
    pub last_ack_recv_ms: Option<u32>,
    pub rtt_us: Option<u32>,
    pub total_retrans: Option<u32>,
    /// The peer's advertised window (kernel 6.2+; `None` on older kernels).
    pub snd_wnd: Option<u32>,
    /// Segments carrying data received and sent (kernel 4.6+): whether a request was ever
    /// sent, and ever answered, when the idle times are equal to the millisecond.
    pub data_segs_in: Option<u32>,
    pub data_segs_out: Option<u32>,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

impl TcpInfo {
    /// Decode `struct tcp_info` (linux/tcp.h) from however many bytes the kernel sent: older
    /// kernels send less than newer headers describe, so every field is read only if present.
    pub fn parse(b: &[u8]) -> Option<TcpInfo> {
        if b.len() < 8 {
            return None;
        }
        Some(TcpInfo {
            retransmits: b[2],
            probes: b[3],
            backoff: b[4],
            unacked: u32_at(b, 24),
            last_data_sent_ms: u32_at(b, 44),
            last_data_recv_ms: u32_at(b, 52),
            last_ack_recv_ms: u32_at(b, 56),
            rtt_us: u32_at(b, 68),
            total_retrans: u32_at(b, 100),
            snd_wnd: u32_at(b, 228),
            data_segs_in: u32_at(b, 152),
            data_segs_out: u32_at(b, 156),
        })
    }
}

/// One TCP socket, from netlink or /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sock {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: TcpState,
    pub send_q: u32,
    pub recv_q: u32,
    pub timer: Timer,
    /// Retransmissions of the current segment (procfs `retrnsmt`, inet_diag `idiag_retrans`).
    pub retrans: u32,
    pub uid: u32,
    pub inode: u64,
    /// When the retransmission timer fires next, in ms (`tm->when`, inet_diag's expires):
    /// with the retransmission count, a handshake's exact age.
    pub expires_ms: Option<u32>,
    /// Boxed: procfs sockets have none, and a 430k-line capture must stay small.
    pub info: Option<Box<TcpInfo>>,
    /// The inet_diag socket id cookie: with the inode, the socket's stable identity (the
    /// state file's key) and what SOCK_DESTROY matches. 0 from procfs.
    pub cookie: u64,
}

/// An IPv4-mapped IPv6 address shown as IPv4.
pub fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcNetError {
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for ProcNetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ProcNetError {}

/// `0100007F:0050` -> `127.0.0.1:80`. Every byte is checked to be an ASCII hex digit before
/// the address is sliced into words (a multi-byte character would split a slice mid-char).
fn hex_addr(s: &str) -> Option<SocketAddr> {
    let (a, p) = s.split_once(':')?;
    if !a.bytes().all(|b| b.is_ascii_hexdigit()) || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let port = u16::from_str_radix(p, 16).ok()?;
    let ip = match a.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(a, 16).ok()?.to_le_bytes(),
        )),
        32 => {
            let mut b = [0u8; 16];
            for w in 0..4 {
                let v = u32::from_str_radix(&a[w * 8..w * 8 + 8], 16).ok()?;
                b[w * 4..w * 4 + 4].copy_from_slice(&v.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Check `/proc/net/tcp{,6}`'s header line. Rejects other tables (udp's header ends with
/// `drops`) instead of mis-decoding them.
pub fn check_proc_net_header(header: &str) -> Result<(), ProcNetError> {
    let h: Vec<&str> = header.split_whitespace().collect();
    if h.first() != Some(&"sl") || !h.contains(&"st") || !header.contains("tx_queue") {
        return Err(ProcNetError {
            line: 1,
            msg: "not a /proc/net/tcp header".into(),
        });
    }
    if h.last() == Some(&"drops") {
        return Err(ProcNetError {
            line: 1,
            msg: "this is a UDP table (header ends with 'drops'), not /proc/net/tcp".into(),
        });
    }
    Ok(())
}

/// Parse one line of `/proc/net/tcp{,6}` after the header (`lineno` counts from 1 at the
/// header); `None` for a blank line.
pub fn parse_proc_net_line(lineno: usize, line: &str) -> Result<Option<Sock>, ProcNetError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let err = |msg: &str| ProcNetError {
        line: lineno,
        msg: msg.to_string(),
    };
    let mut f = line.split_whitespace();
    let mut next = || f.next().unwrap_or("");
    let sl = next();
    let (l, r, st, q, tm, rt, uid, _timeout, inode) = (
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
    );
    if inode.is_empty() || !sl.ends_with(':') {
        return Err(err(
            "expected at least 10 fields: sl local rem st queues timer retrnsmt uid timeout inode",
        ));
    }
    let local = hex_addr(l).ok_or_else(|| err("bad local address"))?;
    let remote = hex_addr(r).ok_or_else(|| err("bad remote address"))?;
    let state = u8::from_str_radix(st, 16)
        .ok()
        .and_then(TcpState::from_code)
        .ok_or_else(|| err("bad state (expected 01..0C)"))?;
    let (tx, rx) = q.split_once(':').ok_or_else(|| err("bad queues"))?;
    let send_q = u32::from_str_radix(tx, 16).map_err(|_| err("bad tx_queue"))?;
    let recv_q = u32::from_str_radix(rx, 16).map_err(|_| err("bad rx_queue"))?;
    let (tr, when) = tm.split_once(':').ok_or_else(|| err("bad timer"))?;
    let timer = Timer::from_code(u8::from_str_radix(tr, 16).map_err(|_| err("bad timer"))?);
    // clock ticks (USER_HZ, 100 a second) until the timer fires
    let when = u32::from_str_radix(when, 16).map_err(|_| err("bad tm->when"))?;
    let expires_ms = (timer == Timer::Retransmit).then(|| when.saturating_mul(10));
    let retrans = u32::from_str_radix(rt, 16).map_err(|_| err("bad retrnsmt"))?;
    let uid = uid.parse().map_err(|_| err("bad uid"))?;
    let inode = inode.parse().map_err(|_| err("bad inode"))?;
    Ok(Some(Sock {
        local,
        remote,
        state,
        send_q,
        recv_q,
        timer,
        retrans,
        uid,
        inode,
        expires_ms,
        info: None,
        cookie: 0,
    }))
}

/// Parse `/proc/net/tcp` or `/proc/net/tcp6` held in memory (the fuzz target's entry; the
/// gatherer streams the file through [`check_proc_net_header`] and [`parse_proc_net_line`]).
pub fn parse_proc_net_tcp(text: &str) -> Result<Vec<Sock>, ProcNetError> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(ProcNetError {
            line: 1,
            msg: "empty file".into(),
        });
    };
    check_proc_net_header(header)?;
    let mut out = Vec::new();
    for (i, line) in lines {
        out.extend(parse_proc_net_line(i + 1, line)?);
    }
    Ok(out)
}

/// A `--peer` filter: an address, or a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let err = || {
            format!(
                "invalid address or CIDR '{s}': expected 192.0.2.1, 192.0.2.0/24, 2001:db8::/32"
            )
        };
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(err)?,
            None => max,
        };
        // an IPv4-mapped block (::ffff:192.0.2.0/120, as ss shows them) is the IPv4 block:
        // sockets are compared in their IPv4 form
        if let IpAddr::V6(v6) = addr {
            if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96) {
                return Ok(Cidr {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                });
            }
        }
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(a) & m == u128::from(b) & m
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_info_of_any_length() {
        assert_eq!(TcpInfo::parse(&[0; 4]), None);
        let mut b = vec![0u8; 104];
        b[2] = 3;
        b[3] = 1;
        b[44..48].copy_from_slice(&1500u32.to_ne_bytes());
        b[52..56].copy_from_slice(&2500u32.to_ne_bytes());
        let i = TcpInfo::parse(&b).unwrap();
        assert_eq!(
            (
                i.retransmits,
                i.probes,
                i.last_data_sent_ms,
                i.last_data_recv_ms
            ),
            (3, 1, Some(1500), Some(2500))
        );
        assert_eq!(i.total_retrans, Some(0));
        let short = TcpInfo::parse(&b[..50]).unwrap();
        assert_eq!(
            (
                short.last_data_sent_ms,
                short.last_data_recv_ms,
                short.total_retrans
            ),
            (Some(1500), None, None)
        );
    }

    #[test]
    fn proc_net_tcp_rows() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0050 0100007F:9C40 01 00000010:00000002 02:000AC99B 00000003  1000        0 4242 1 0000000000000000 20 4 30 10 -1\n";
        let v = parse_proc_net_tcp(t).unwrap();
        assert_eq!(v.len(), 1);
        let s = &v[0];
        assert_eq!(s.local, "127.0.0.1:80".parse().unwrap());
        assert_eq!(s.remote, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(
            (s.state, s.send_q, s.recv_q, s.timer, s.retrans, s.uid, s.inode),
            (
                TcpState::Established,
                16,
                2,
                Timer::Keepalive,
                3,
                1000,
                4242
            )
        );
        let t6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 20 4 30 10 -1\n";
        let v = parse_proc_net_tcp(t6).unwrap();
        assert_eq!(canonical(v[0].local), "127.0.0.1:8080".parse().unwrap());
        let udp = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";
        assert!(parse_proc_net_tcp(udp).unwrap_err().msg.contains("UDP"));
        assert!(parse_proc_net_tcp("").is_err());
        assert_eq!(
            parse_proc_net_tcp("  sl  local_address rem_address   st tx_queue rx_queue tr\n 0: zz")
                .unwrap_err()
                .line,
            2
        );
    }

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.1.2.3".parse().unwrap()));
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains("2001:db8::100".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nonsense").is_err());
        // IPv4-mapped filters match the IPv4 form the sockets are shown in
        let mapped = Cidr::parse("::ffff:127.0.0.0/104").unwrap();
        assert_eq!(mapped, Cidr::parse("127.0.0.0/8").unwrap());
        assert!(mapped.contains("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("::ffff:127.0.0.1")
            .unwrap()
            .contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::100")
            .unwrap()
            .contains("2001:db8::100".parse().unwrap()));
    }

    /// Fuzzing and review: a tcp6 address of 10 three-byte characters and 2 ASCII ones is
    /// 32 bytes long; slicing it into 8-byte words split a character and panicked.
    #[test]
    fn a_non_ascii_tcp6_address_is_an_error_not_a_panic() {
        let header = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        let addr = format!("{}ab", "\u{20ac}".repeat(10));
        assert_eq!(addr.len(), 32);
        let row = format!(
            "   0: {addr}:1F90 0000000000000000FFFF00000100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 99 1\n"
        );
        let e = parse_proc_net_tcp(&format!("{header}{row}")).unwrap_err();
        assert_eq!((e.line, e.msg.as_str()), (2, "bad local address"));
        // a non-ASCII port, and a state outside the kernel's numbers
        assert!(hex_addr("0100007F:\u{20ac}").is_none());
        let bad_state = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0050 0100007F:9C40 0D 00000010:00000002 02:000AC99B 00000003  1000        0 4242\n";
        assert!(parse_proc_net_tcp(bad_state)
            .unwrap_err()
            .msg
            .contains("bad state"));
    }

    #[test]
    fn states_round_trip_their_codes() {
        for c in 0..=255u8 {
            if let Some(s) = TcpState::from_code(c) {
                assert_eq!(s as u8, c);
                assert_ne!(s.name(), "");
            } else {
                assert!(c == 0 || c > 12, "{c}");
            }
        }
    }
}
