//! NETLINK_SOCK_DIAG dump replies as the kernel (or anything else on the socket) could send
//! them: never panic or loop, and never produce more sockets than messages could hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::tcp::parse_dump;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = parse_dump(data, &mut out);
    // an inet_diag_msg is 72 bytes after the 16-byte netlink header
    assert!(out.len() <= data.len() / 88, "{} sockets from {} bytes", out.len(), data.len());
});
