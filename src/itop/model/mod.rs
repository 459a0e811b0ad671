//! What itop reads, parsed: /proc/interrupts snapshots, /proc/stat CPU times, and the rates
//! between two snapshots. Pure: text in, values out.

pub mod cpustat;
pub mod devices;
pub mod interrupts;
pub mod rates;

/// Which file a sample comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Interrupts,
    Softirqs,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Interrupts => "interrupts",
            Source::Softirqs => "softirqs",
        }
    }
}
