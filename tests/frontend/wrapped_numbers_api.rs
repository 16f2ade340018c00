//! A scenario's Python number operands as `scripts/parity.py` sees them: before each
//! statement, every node with what it still saves. `x * 2.0`, `x.div(3)`, `v /= 4.0`, `3 / x`
//! (`x.reciprocal() * 3`), `torch.mul(x, 5)`, `x.true_divide(2)` leave a MulBackward0 or
//! DivBackward0 saving the number as a 0-dim host tensor (float64 or int64, 8 bytes), `2 - x`
//! an RsubBackward1 and `x + 1` an AddBackward0 saving nothing; backward releases them all.
//! `EXPECTED` is what the parity script recorded for this program under torch 2.15.0 (CPU).

use std::path::Path;

use leakharness::check::{hold_scenario, CheckOptions, Holdings, NodeFact};
use leakharness::device::Backend;
use leakharness::scenario::parse_scenario;

const PROGRAM: &str = r#"import torch

x = torch.randn(4, device="cuda", requires_grad=True)
y = x * 2.0
z = x.div(3)
w = 2 - x
v = x * 1
v /= 4.0
r = 3 / x
s = torch.mul(x, 5) + x.true_divide(2) + (x + 1) + x ** 2
loss = (y + z + w + v + r + s).sum()
loss.backward()
done = True
"#;

/// A saved tensor as the comparison sees it: its name, dtype, shape and storage bytes.
type Saved<'a> = (&'a str, &'a str, &'a [usize], usize);

/// A node and what it saved, owned.
type Node = (String, Vec<(String, String, Vec<usize>, usize)>);

/// Each node before `loss.backward()` (line 12): its name and what it saved, as torch 2.15.0
/// listed them, in the script's sorted order.
const EXPECTED: &[(&str, &[Saved<'static>])] = &[
    ("AccumulateGrad", &[]),
    ("AddBackward0", &[]),
    ("AddBackward0", &[]),
    ("AddBackward0", &[]),
    ("AddBackward0", &[]),
    ("AddBackward0", &[]),
    ("AddBackward0", &[]),
    ("AddBackward0", &[]),
    ("AddBackward0", &[]),
    ("AddBackward0", &[]),
    ("DivBackward0", &[("other", "torch.float64", &[], 8)]),
    ("DivBackward0", &[("other", "torch.int64", &[], 8)]),
    ("DivBackward0", &[("other", "torch.int64", &[], 8)]),
    ("MulBackward0", &[("other", "torch.float64", &[], 8)]),
    ("MulBackward0", &[("other", "torch.int64", &[], 8)]),
    ("MulBackward0", &[("other", "torch.int64", &[], 8)]),
    ("MulBackward0", &[("other", "torch.int64", &[], 8)]),
    ("PowBackward0", &[("self", "torch.float32", &[4], 16)]),
    (
        "ReciprocalBackward0",
        &[("result", "torch.float32", &[4], 16)],
    ),
    ("RsubBackward1", &[]),
    ("SumBackward0", &[]),
];

fn holdings(backend: Backend) -> Holdings {
    let scenario = parse_scenario(Path::new("t.py"), PROGRAM).unwrap_or_else(|e| panic!("{e}"));
    let options = CheckOptions {
        backend,
        ..CheckOptions::default()
    };
    hold_scenario(&scenario, &options).unwrap()
}

/// The nodes recorded before line `line`, as (name, saved) with each saved tensor's facts.
fn nodes_at(h: &Holdings, line: u32) -> Vec<Node> {
    let record = h.records.iter().find(|r| r.line == line).unwrap();
    let mut nodes: Vec<_> = record
        .nodes
        .iter()
        .map(|NodeFact { name, saved }| {
            let mut saved: Vec<_> = saved
                .iter()
                .map(|(n, t)| (n.clone(), t.dtype.clone(), t.shape.clone(), t.storage_bytes))
                .collect();
            saved.sort();
            (name.clone(), saved)
        })
        .collect();
    nodes.sort();
    nodes
}

#[test]
fn number_operands_are_saved_as_pytorch_saves_them() {
    let cpu = holdings(Backend::Cpu);
    assert_eq!(cpu.error, None);
    let expected: Vec<_> = EXPECTED
        .iter()
        .map(|(name, saved)| {
            let saved = saved
                .iter()
                .map(|(n, d, s, b)| (n.to_string(), d.to_string(), s.to_vec(), *b))
                .collect();
            (name.to_string(), saved)
        })
        .collect();
    assert_eq!(nodes_at(&cpu, 12), expected);
    // After backward every node is still reachable from `loss` and has released everything.
    let after = nodes_at(&cpu, 13);
    assert_eq!(after.len(), expected.len());
    assert!(after.iter().all(|(_, saved)| saved.is_empty()), "{after:?}");
    let meta = holdings(Backend::Meta);
    for line in [11, 12, 13] {
        assert_eq!(nodes_at(&meta, line), nodes_at(&cpu, line), "line {line}");
    }
}
