//! Property (4) of the generated programs: the cpu and meta backends agree on a case.

use super::{verdict_name, Disagreement};
use crate::report::Report;

/// Property (4): whether two reports of the same case (cpu and meta) agree byte for byte: the
/// verdict, every leak's line, kinds, bytes and nodes per iteration, the allocated and reserved
/// bytes at every iteration end, and the peak.
pub fn judge_backends(a: &Report, b: &Report) -> Option<Disagreement> {
    let differ = |what: &str, x: String, y: String| {
        (x != y).then(|| Disagreement::BackendsDiffer {
            what: format!("{what}: {} says {x}, {} says {y}", a.backend, b.backend),
        })
    };
    let leaks = |r: &Report| -> String {
        let rows: Vec<String> = r
            .leaks
            .iter()
            .map(|l| {
                format!(
                    "line {} {:?} {} B {} nodes",
                    l.retained_by.line, l.kinds, l.bytes_per_iteration, l.graph_nodes_per_iteration
                )
            })
            .chain(r.bounded_growth.iter().map(|b| {
                format!(
                    "line {} bounded {} B",
                    b.retained_by.line, b.bytes_per_iteration
                )
            }))
            .collect();
        format!("[{}]", rows.join(", "))
    };
    let series = |r: &Report| -> String {
        let rows: Vec<String> = r
            .iterations
            .iter()
            .map(|p| format!("{}/{}", p.allocated, p.reserved))
            .collect();
        rows.join(" ")
    };
    differ("verdict", verdict_name(a.verdict), verdict_name(b.verdict))
        .or_else(|| differ("leaks", leaks(a), leaks(b)))
        .or_else(|| differ("allocated/reserved at iteration ends", series(a), series(b)))
        .or_else(|| {
            differ(
                "peak allocated",
                a.peak.allocated.to_string(),
                b.peak.allocated.to_string(),
            )
        })
}
