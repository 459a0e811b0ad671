//! NETLINK_SOCK_DIAG dump replies (inet_diag_msg + INET_DIAG_INFO) decoded into [`Sock`]s.
//! Pure: the bytes come from `sys::net`, which owns the socket; this is what the `sock_diag`
//! fuzz target feeds arbitrary bytes to.

use std::net::SocketAddr;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::inet::{nlas::Nla, Timer as NlTimer};
use netlink_packet_sock_diag::SockDiagMessage;

use crate::conn_audit::model::tcp::{Sock, TcpInfo, TcpState, Timer};

/// What one `recv` buffer of a dump said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// More messages follow in the next buffer.
    More,
    /// NLMSG_DONE: the dump is complete.
    Done,
}

/// Why a reply could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The kernel answered with an error (a positive errno).
    Kernel(i32),
    /// Bytes that are not a sock_diag message.
    Malformed(String),
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::Kernel(errno) => write!(
                f,
                "the kernel refused the sock_diag dump: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            ReplyError::Malformed(m) => write!(f, "decoding a sock_diag message: {m}"),
        }
    }
}

impl std::error::Error for ReplyError {}

fn timer_of(t: &Option<NlTimer>) -> Timer {
    match t {
        None => Timer::None,
        Some(NlTimer::Retransmit(..)) => Timer::Retransmit,
        Some(NlTimer::KeepAlive(..)) => Timer::Keepalive,
        Some(NlTimer::TimeWait) => Timer::TimeWait,
        Some(NlTimer::Probe(..)) => Timer::Probe,
    }
}

/// Decode the messages in one receive buffer, appending the sockets to `out`. Messages the
/// dump does not need (other payload kinds, unknown states) are skipped; a length that does
/// not fit the buffer is an error, never a loop or a read past the end.
pub fn parse_dump(buf: &[u8], out: &mut Vec<Sock>) -> Result<Chunk, ReplyError> {
    let mut off = 0;
    while off < buf.len() {
        let rest = &buf[off..];
        // the header's length field, checked before the crate sees it
        let len = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes)
            .ok_or_else(|| ReplyError::Malformed("truncated header".into()))?
            as usize;
        if len < 16 || len > rest.len() {
            return Err(ReplyError::Malformed(format!(
                "message length {len} with {} bytes left",
                rest.len()
            )));
        }
        let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(&rest[..len])
            .map_err(|e| ReplyError::Malformed(e.to_string()))?;
        match msg.payload {
            NetlinkPayload::Done(_) => return Ok(Chunk::Done),
            NetlinkPayload::Error(e) => {
                if let Some(code) = e.code {
                    return Err(ReplyError::Kernel(code.get().saturating_neg()));
                }
            }
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                if let Some(s) = sock_of(&r) {
                    out.push(s);
                }
            }
            _ => {}
        }
        // messages are 4-byte aligned (NLMSG_ALIGN)
        off += len.div_ceil(4) * 4;
    }
    Ok(Chunk::More)
}

fn sock_of(r: &netlink_packet_sock_diag::inet::InetResponse) -> Option<Sock> {
    let h = &r.header;
    let state = TcpState::from_code(h.state)?;
    let info = r.nlas.iter().find_map(|n| match n {
        Nla::TcpInfo(bytes) => TcpInfo::parse(bytes).map(Box::new),
        _ => None,
    });
    let (retrans, expires_ms) = match &h.timer {
        Some(NlTimer::Retransmit(d, n)) => (
            u32::from(*n),
            Some(u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
        ),
        _ => (0, None),
    };
    let id = &h.socket_id;
    // a link-local address means nothing without its interface: keep it as the `%scope`
    let addr = |ip: std::net::IpAddr, port: u16| match ip {
        std::net::IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
            SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, id.interface_id))
        }
        ip => SocketAddr::new(ip, port),
    };
    Some(Sock {
        local: addr(id.source_address, id.source_port),
        remote: addr(id.destination_address, id.destination_port),
        state,
        send_q: h.send_queue,
        recv_q: h.recv_queue,
        timer: timer_of(&h.timer),
        retrans,
        uid: h.uid,
        inode: u64::from(h.inode),
        expires_ms,
        info,
        cookie: u64::from_ne_bytes(id.cookie),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An NLMSG_DONE message (type 3) with a 4-byte payload.
    fn done() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&20u32.to_ne_bytes());
        b.extend_from_slice(&3u16.to_ne_bytes());
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(&0i32.to_ne_bytes());
        b
    }

    #[test]
    fn done_ends_the_dump() {
        let mut out = Vec::new();
        assert_eq!(parse_dump(&done(), &mut out), Ok(Chunk::Done));
        assert_eq!(parse_dump(&[], &mut out), Ok(Chunk::More));
        assert!(out.is_empty());
    }

    #[test]
    fn lengths_that_do_not_fit_are_errors() {
        let mut out = Vec::new();
        for bad in [vec![1, 2], 0u32.to_ne_bytes().to_vec(), {
            let mut d = done();
            d[0..4].copy_from_slice(&4000u32.to_ne_bytes());
            d
        }] {
            assert!(
                matches!(parse_dump(&bad, &mut out), Err(ReplyError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_kernel_error_is_named() {
        // NLMSG_ERROR (type 2) with errno -EPERM and the failed request's header
        let mut b = Vec::new();
        b.extend_from_slice(&36u32.to_ne_bytes());
        b.extend_from_slice(&2u16.to_ne_bytes());
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(&(-1i32).to_ne_bytes());
        b.extend_from_slice(&[0; 16]);
        let e = parse_dump(&b, &mut Vec::new()).unwrap_err();
        assert_eq!(e, ReplyError::Kernel(1));
        assert!(e.to_string().contains("not permitted"), "{e}");
    }
}
