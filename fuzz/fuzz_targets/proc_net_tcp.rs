//! /proc/net/tcp and tcp6 (and captures given with --root): never panic, and every socket
//! parsed has a state the kernel defines, from a line of its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opskit::api::tcp::{parse_proc_net_tcp, TcpState};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(socks) = parse_proc_net_tcp(s) {
        assert!(socks.len() <= s.lines().count());
        for sock in socks {
            assert_eq!(TcpState::from_code(sock.state as u8), Some(sock.state));
        }
    }
});
