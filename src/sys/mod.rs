//! The only code that touches the OS: /proc and /sys (under `--root`), sockets, HTTP, devices.

pub mod bind_http;
pub mod bind_serve;
pub mod block;
pub mod conn_state;
pub mod fsread;
pub mod interrupts;
pub mod munin_state;
pub mod net;
pub mod root;
pub mod sock_owners;
pub mod ssd_align;
pub mod tty;
