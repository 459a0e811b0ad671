//! What itop reads, parsed: /proc/interrupts snapshots, /proc/stat CPU times, and the rates
//! between two snapshots. Pure: text in, values out.

pub mod cpustat;
pub mod interrupts;
pub mod rates;
