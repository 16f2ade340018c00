//! `.cuda()` / `.to(device)` / `.half()` visit a module's tensors in `nn.Module._apply`'s order
//! (`torch/nn/modules/module.py`): children first, then own parameters, then own buffers. On an
//! H100 (PyTorch 2.11), `nn.MultiheadAttention(32, 4).cuda()` allocated `out_proj.weight`
//! (4,096 B), `out_proj.bias` (128), then `in_proj_weight` (12,288) and `in_proj_bias` (384).
//! The user-class order is what `m._apply(f)` passes to `f` on PyTorch 2.15's CPU build.

use std::path::Path;

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::nn::{Module, MultiheadAttention};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, RunOptions};
use leakharness::scenario::parse_scenario;
use leakharness::tensor::Device;

/// The sizes asked for by the allocations from the `since`-th event on.
fn allocations_since(rt: &Runtime, since: usize) -> Vec<u64> {
    rt.allocator()
        .history()
        .trace()
        .into_iter()
        .skip(since)
        .filter_map(|e| match e {
            EventKind::Alloc { requested, .. } => Some(requested),
            _ => None,
        })
        .collect()
}

#[test]
fn a_library_module_moves_its_children_before_its_own_parameters() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let mha = MultiheadAttention::new(&rt, 32, 4, 0.0, true, false).unwrap();
        let since = rt.allocator().history().trace().len();
        mha.to(Device::Cuda).unwrap();
        assert_eq!(
            allocations_since(&rt, since),
            [4096, 128, 12288, 384],
            "{backend:?}"
        );
    }
}

const PROGRAM: &str = r#"import torch
import torch.nn as nn

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))
        self.inner = nn.Linear(4, 5)
        self.register_buffer("count", torch.zeros(7))
        self.head = nn.MultiheadAttention(32, 4)

m = Block()
m.cuda()
m.half()
"#;

#[test]
fn a_scenario_module_moves_and_converts_in_apply_order() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let scenario = parse_scenario(Path::new("t.py"), PROGRAM).unwrap_or_else(|e| panic!("{e}"));
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let r = run(&scenario, &rt, &RunOptions::default(), &mut ());
        if let Some(f) = r.failure {
            panic!("{}", f.error);
        }
        // `.cuda()`: inner's weight and bias, head's out_proj then in_proj, then Block's own
        // parameter `scale` and buffer `count`; `.half()` the same tensors at half the bytes.
        let order = [80, 20, 4096, 128, 12288, 384, 12, 28];
        let mut expected = order.to_vec();
        expected.extend(order.iter().map(|b| b / 2));
        assert_eq!(allocations_since(&rt, 0), expected, "{backend:?}");
    }
}
