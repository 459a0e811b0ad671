//! What conn-audit reads from the system: sockets (sock_diag netlink or /proc/net/tcp), their
//! owning processes, and the state file that remembers when a socket was first seen.

pub(crate) mod net;
pub(crate) mod owners;
pub(crate) mod state;
