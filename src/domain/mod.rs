//! The shared, pure core: parsers and arithmetic over text and bytes.
//!
//! Nothing here touches the clock, the environment, the filesystem, the network or the
//! terminal: inputs are `&str`/`&[u8]` (or a `Read` the caller opened), timestamps and
//! durations are passed in. A test (`tests/purity.rs`) scans this tree for forbidden APIs.

pub mod align;
pub mod bind;
pub mod conn_audit;
pub mod conn_verdict;
pub mod cpustat;
pub mod disk;
pub mod interrupts;
pub mod irq_balance;
pub mod irq_numa;
pub mod irq_rates;
pub mod irq_view;
pub mod sock_diag;
pub mod ssd;
pub mod tcp;
pub mod units;
pub mod xml_source;
