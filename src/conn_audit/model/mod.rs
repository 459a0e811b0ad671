//! conn-audit's parsers: /proc/net/tcp{,6} lines and sock_diag netlink replies. Pure.

pub mod sock_diag;
pub mod tcp;
