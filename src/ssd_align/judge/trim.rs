//! TRIM through the stack: whether a discard from the filesystem reaches the SSD through
//! every layer (each holder's queue `discard_max_bytes`, the LUKS2 `allow-discards` flag, md),
//! and whether anything sends one (a `discard` mount option or an enabled `fstrim.timer`),
//! with one fix per layer that blocks it. Pure: gather supplies the facts.

use serde::Serialize;

use crate::ssd_align::disk::stack::{Detail, Kind};
use crate::ssd_align::judge::PartIn;

/// What a layer of the TRIM chain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TrimKind {
    /// The disk (its queue; a partition shares it).
    Disk,
    /// An md array; `raid456` is true for raid4/5/6 (discards only with
    /// `raid456.devices_handle_discard_safely=Y`).
    Md { raid456: bool },
    /// A dm-crypt mapping (its queue: 0 unless opened with --allow-discards).
    DmCrypt,
    /// An LVM logical volume (device-mapper linear/striped).
    Lvm,
    /// Another device-mapper target.
    Dm,
    /// A LUKS header on disk: LUKS2's persistent `allow-discards` flag (LUKS1 has none).
    LuksHeader,
    /// A thin pool: its `discards` mode (only `passdown` sends discards to the disk).
    ThinPool,
    /// lvm.conf `issue_discards`: whether lvremove/lvreduce trim the extents they free (a
    /// filesystem's discards pass through an LV either way).
    LvmConf,
}

/// One holder's discard limits, as sysfs reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueFact {
    pub(crate) device: String,
    pub(crate) kind: TrimKind,
    /// dm name (`cryptroot`) for a dm device.
    pub(crate) dm_name: Option<String>,
    pub(crate) discard_max: Option<u64>,
    pub(crate) discard_granularity: Option<u64>,
}

/// Everything gathered about TRIM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrimFacts {
    /// The holders, top (what the filesystem sits on) first.
    pub(crate) queues: Vec<QueueFact>,
    /// Mounts of the target, its partitions or its holders: (source, has `discard`).
    pub(crate) mounts: Vec<(String, bool)>,
    /// `fstrim.timer`: enabled, installed but not enabled, or absent/unknown.
    pub(crate) fstrim_timer: Option<bool>,
    /// False for an image: nothing is mounted from it and no timer applies.
    pub(crate) live: bool,
    /// lvm.conf `devices/issue_discards` (None: not set, lvm2's default 0; or no lvm.conf).
    pub(crate) lvm_issue_discards: Option<bool>,
    /// An lvm.conf was found under the root.
    pub(crate) lvm_conf: bool,
}

/// What unblocks a layer, or starts trimming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fix", rename_all = "snake_case")]
pub(crate) enum TrimFix {
    /// The disk accepts no discard: nothing above can TRIM it.
    NoDeviceSupport,
    /// `cryptsetup refresh --allow-discards --persistent NAME` (LUKS2 keeps the flag).
    CryptRefresh { name: String },
    /// Set the LUKS2 flag when opening: `cryptsetup open --allow-discards --persistent`.
    LuksFlag { device: String },
    /// raid4/5/6: `raid456.devices_handle_discard_safely=Y`, only if every member reads back
    /// zeroes after TRIM.
    Raid456,
    /// Below this layer something blocks (the layers under it say what).
    Below,
    /// Nothing trims: `systemctl enable --now fstrim.timer`.
    EnableTimer,
    /// `lvchange --discards passdown VG/POOL`.
    ThinPassdown { pool: String },
    /// Set `devices { issue_discards = 1 }` in lvm.conf (freed extents are then trimmed).
    LvmIssueDiscards,
}

/// One layer of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TrimLayer {
    pub(crate) device: String,
    pub(crate) kind: TrimKind,
    /// A discard passes this layer (None: not known here).
    pub(crate) passes: Option<bool>,
    pub(crate) discard_max_bytes: Option<u64>,
    pub(crate) discard_granularity: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fix: Option<TrimFix>,
}

/// The TRIM chain, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TrimReport {
    pub(crate) layers: Vec<TrimLayer>,
    /// Every known layer passes discards (None: a layer is not known).
    pub(crate) reaches_ssd: Option<bool>,
    /// Mounted with `discard` (None: not mounted here, or an image).
    pub(crate) mount_discard: Option<bool>,
    pub(crate) fstrim_timer: Option<bool>,
    /// Something sends discards.
    pub(crate) trimmed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fix: Option<TrimFix>,
}

fn passes(max: Option<u64>) -> Option<bool> {
    max.map(|m| m > 0)
}

/// Judge the chain: the holders' queues (top first), then the LUKS headers found on the
/// partitions, then the trimmer.
pub(crate) fn judge(f: &TrimFacts, parts: &[PartIn]) -> TrimReport {
    let mut layers: Vec<TrimLayer> = f
        .queues
        .iter()
        .map(|q| {
            let p = passes(q.discard_max);
            let fix = match (p, q.kind) {
                (Some(false), TrimKind::Disk) => Some(TrimFix::NoDeviceSupport),
                (Some(false), TrimKind::DmCrypt) => Some(TrimFix::CryptRefresh {
                    name: q.dm_name.clone().unwrap_or_else(|| q.device.clone()),
                }),
                (Some(false), TrimKind::Md { raid456: true }) => Some(TrimFix::Raid456),
                (Some(false), _) => Some(TrimFix::Below),
                _ => None,
            };
            TrimLayer {
                device: q.device.clone(),
                kind: q.kind,
                passes: p,
                discard_max_bytes: q.discard_max,
                discard_granularity: q.discard_granularity,
                fix,
            }
        })
        .collect();
    // a LUKS header on disk: its flag says whether a plain `cryptsetup open` passes discards
    for p in parts {
        for l in &p.layers {
            if let (Kind::Luks1 | Kind::Luks2, Detail::Luks(h)) = (l.kind, &l.detail) {
                layers.push(TrimLayer {
                    device: p.device.clone(),
                    kind: TrimKind::LuksHeader,
                    passes: h.allow_discards,
                    discard_max_bytes: None,
                    discard_granularity: None,
                    fix: (h.allow_discards == Some(false)).then(|| TrimFix::LuksFlag {
                        device: p.device.clone(),
                    }),
                });
            }
        }
    }
    // a thin pool's discards mode, from the VG's metadata
    for p in parts {
        for l in &p.layers {
            if let Detail::Pv {
                vg: Some(vg),
                thin_pools,
                ..
            } = &l.detail
            {
                for t in thin_pools {
                    let ok = t.discards == "passdown";
                    layers.insert(
                        0,
                        TrimLayer {
                            device: format!("{vg}/{}", t.name),
                            kind: TrimKind::ThinPool,
                            passes: Some(ok),
                            discard_max_bytes: None,
                            discard_granularity: None,
                            fix: (!ok).then(|| TrimFix::ThinPassdown {
                                pool: format!("{vg}/{}", t.name),
                            }),
                        },
                    );
                }
            }
        }
    }
    // LVM in the chain: does lvm2 trim the extents it frees?
    let has_lvm = f.queues.iter().any(|q| q.kind == TrimKind::Lvm)
        || parts
            .iter()
            .any(|p| p.layers.iter().any(|l| l.kind == Kind::Pv));
    if has_lvm && f.lvm_conf {
        let on = f.lvm_issue_discards.unwrap_or(false);
        layers.push(TrimLayer {
            device: "lvm.conf".into(),
            kind: TrimKind::LvmConf,
            passes: Some(on),
            discard_max_bytes: None,
            discard_granularity: None,
            fix: (!on).then_some(TrimFix::LvmIssueDiscards),
        });
    }
    // a live dm-crypt queue overrides its header's default: only queues decide reach when
    // there are any
    let deciding: Vec<&TrimLayer> = if f.queues.is_empty() {
        layers
            .iter()
            .filter(|l| l.kind != TrimKind::LvmConf)
            .collect()
    } else {
        layers
            .iter()
            .filter(|l| {
                !matches!(
                    l.kind,
                    TrimKind::LuksHeader | TrimKind::ThinPool | TrimKind::LvmConf
                )
            })
            .collect()
    };
    let reaches_ssd = if deciding.is_empty() {
        None
    } else if deciding.iter().any(|l| l.passes == Some(false)) {
        Some(false)
    } else if deciding.iter().all(|l| l.passes == Some(true)) {
        Some(true)
    } else {
        None
    };
    let mount_discard = (!f.mounts.is_empty()).then(|| f.mounts.iter().any(|m| m.1));
    let fstrim_timer = f.fstrim_timer.filter(|_| f.live);
    let trimmed = match (mount_discard, fstrim_timer) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (_, Some(false)) => Some(false),
        _ => None,
    };
    TrimReport {
        layers,
        reaches_ssd,
        mount_discard,
        fstrim_timer,
        trimmed,
        fix: (trimmed == Some(false)).then_some(TrimFix::EnableTimer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(device: &str, kind: TrimKind, max: u64) -> QueueFact {
        QueueFact {
            device: device.into(),
            kind,
            dm_name: Some("cryptroot".into()),
            discard_max: Some(max),
            discard_granularity: Some(4096),
        }
    }

    #[test]
    fn a_closed_layer_is_named_with_its_fix_and_an_open_chain_is_silent() {
        let mut f = TrimFacts {
            queues: vec![
                q("dm-1", TrimKind::Lvm, 0),
                q("dm-0", TrimKind::DmCrypt, 0),
                q("sda", TrimKind::Disk, 2 << 30),
            ],
            mounts: vec![("/dev/mapper/vg-root".into(), false)],
            fstrim_timer: Some(false),
            live: true,
            lvm_issue_discards: None,
            lvm_conf: true,
        };
        let r = judge(&f, &[]);
        assert_eq!(r.reaches_ssd, Some(false));
        assert_eq!(r.layers[0].fix, Some(TrimFix::Below));
        assert_eq!(
            r.layers[1].fix,
            Some(TrimFix::CryptRefresh {
                name: "cryptroot".into()
            })
        );
        assert_eq!(r.layers[2].fix, None);
        assert_eq!(r.layers[3].kind, TrimKind::LvmConf);
        assert_eq!(r.layers[3].fix, Some(TrimFix::LvmIssueDiscards));
        assert_eq!(r.fix, Some(TrimFix::EnableTimer));
        // healthy twin: every queue passes, the timer is on
        for l in &mut f.queues {
            l.discard_max = Some(1 << 30);
        }
        f.fstrim_timer = Some(true);
        f.lvm_issue_discards = Some(true);
        let r = judge(&f, &[]);
        assert_eq!(
            (r.reaches_ssd, r.trimmed, r.fix),
            (Some(true), Some(true), None)
        );
        assert!(r.layers.iter().all(|l| l.fix.is_none()));
    }
}
