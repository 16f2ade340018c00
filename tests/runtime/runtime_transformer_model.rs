//! `nn.Transformer` against PyTorch 2.15 CPU: its parameters in `named_parameters` order, its
//! `repr`, and the nodes and saved tensors of one forward, counted there with
//! `next_functions` and `_saved_*` (unique storages, each rounded to 512 B) under
//! `sdpa_kernel(SDPBackend.MATH)`, the path modelled here; 2.15's ReshapeAliasBackward0 is
//! ViewBackward0 here, memory equal (`docs/fidelity.md`, "Transformer layers").

use std::collections::BTreeMap;

use leakharness::device::Backend;
use leakharness::nn::{
    generate_square_subsequent_mask, EncoderLayerConfig, Io, Layer, Module, Transformer,
};
use leakharness::scenario::interp::{run, RunOptions};
use leakharness::tensor::{DType, Device};

use super::runtime_rnn::{counts, graph_stats};
use super::runtime_transformer::runtime;

/// d_model 16, nhead 2, feed-forward 32, no dropout, batch first.
fn small_config(norm_first: bool) -> EncoderLayerConfig {
    let mut c = super::runtime_transformer::small_config(0.0);
    c.norm_first = norm_first;
    c
}

/// The nodes of a 2-encoder-layer, 1-decoder-layer model's forward over a 3×5 source and a
/// 3×4 target with a causal target mask, as 2.15 has them.
fn model_nodes(extra: &[(&str, usize)]) -> BTreeMap<String, usize> {
    let mut c = counts(&[
        ("AccumulateGrad", 46),
        ("AddBackward0", 13),
        ("AddmmBackward0", 10),
        ("BmmBackward0", 8),
        ("CloneBackward0", 11),
        ("ExpandBackward0", 16),
        ("MmBackward0", 5),
        ("MulBackward1", 8),
        ("NativeLayerNormBackward0", 9),
        ("PermuteBackward0", 4),
        ("ReluBackward0", 3),
        ("SafeSoftmaxBackward0", 4),
        ("SelectBackward0", 11),
        ("SplitWithSizesBackward0", 2),
        ("SqueezeBackward1", 4),
        ("TBackward0", 15),
        ("TransposeBackward0", 27),
        ("UnsafeViewBackward0", 26),
        ("UnsqueezeBackward0", 4),
        ("ViewBackward0", 42 + 12),
    ]);
    for (n, k) in extra {
        c.insert(n.to_string(), *k);
    }
    c
}

#[test]
fn a_transformer_keeps_what_pytorch_keeps() {
    let rt = runtime(Backend::Meta);
    let src = rt.randn(&[3, 5, 16], Device::Cuda).unwrap();
    let tgt = rt.randn(&[3, 4, 16], Device::Cuda).unwrap();
    let mask = generate_square_subsequent_mask(&rt, 4, Device::Cuda, DType::F32).unwrap();
    let forward = |norm_first: bool, is_causal: Io| {
        let m = Transformer::new(&rt, small_config(norm_first), 2, 1).unwrap();
        m.to(Device::Cuda).unwrap();
        let out = m
            .call(&[
                Io::Tensor(src.clone()),
                Io::Tensor(tgt.clone()),
                Io::None,
                Io::Tensor(mask.clone()),
                Io::None,
                Io::None,
                Io::None,
                Io::None,
                Io::None,
                is_causal,
            ])
            .unwrap();
        let Io::Tensor(y) = out else {
            panic!("a tensor")
        };
        assert_eq!(y.shape(), [3, 4, 16]);
        graph_stats(&[&y])
    };
    // 2.15: 88 storages, 90,112 B; its output is the decoder's final norm.
    assert_eq!(
        forward(false, Io::Bool(true)),
        (model_nodes(&[]), 88, 90112)
    );
    // `tgt_is_causal` left out: 2.15 detects the causal mask; here the mask is added as
    // given, which keeps the same (2.15: 88, 90,112 B either way).
    assert_eq!(forward(false, Io::None), (model_nodes(&[]), 88, 90112));
    // Pre-norm: the normalized inputs cloned once more by the packed projections. 2.15: 90
    // storages, 96,256 B.
    let pre = model_nodes(&[
        ("CloneBackward0", 13),
        ("TransposeBackward0", 29),
        ("UnsafeViewBackward0", 28),
    ]);
    assert_eq!(forward(true, Io::Bool(true)), (pre, 90, 96256));
}

#[test]
fn parameters_and_repr_are_pytorchs() {
    let rt = runtime(Backend::Cpu);
    let m = Transformer::new(&rt, small_config(false), 2, 1).unwrap();
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 46);
    assert_eq!(names[0], "encoder.layers.0.self_attn.in_proj_weight");
    assert_eq!(names[24..26], ["encoder.norm.weight", "encoder.norm.bias"]);
    assert_eq!(names[26], "decoder.layers.0.self_attn.in_proj_weight");
    assert_eq!(
        names[42..],
        [
            "decoder.layers.0.norm3.weight",
            "decoder.layers.0.norm3.bias",
            "decoder.norm.weight",
            "decoder.norm.bias"
        ]
    );
    assert!(m.named_buffers().is_empty());
    assert_eq!(m.repr(), include_str!("transformer_repr.txt").trim_end());
    // `_reset_parameters`: xavier_uniform_ redraws every matrix of the copies: the two
    // encoder layers no longer share their values (the copies did).
    let first = m.named_parameters()[0].1.to_vec_f32();
    let second = m.named_parameters()[12].1.to_vec_f32();
    assert_ne!(first, second);
    let bound = (6.0f32 / (16.0 + 48.0)).sqrt();
    assert!(first.iter().all(|v| v.abs() <= bound));
}

#[test]
fn a_square_subsequent_mask_is_pytorchs() {
    let rt = runtime(Backend::Cpu);
    let before = rt.memory_allocated();
    let mask = generate_square_subsequent_mask(&rt, 3, Device::Cuda, DType::F32).unwrap();
    let inf = f32::NEG_INFINITY;
    assert_eq!(
        mask.to_vec_f32(),
        [0.0, inf, inf, 0.0, 0.0, inf, 0.0, 0.0, 0.0]
    );
    // The full matrix is freed: the mask's block only.
    assert_eq!(rt.memory_allocated() - before, 512);
    assert!(generate_square_subsequent_mask(&rt, 3, Device::Cpu, DType::I64).is_err());
}

#[test]
fn scenarios_build_train_and_mask_a_transformer() {
    let source = "import torch
import torch.nn as nn

model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=1,
                       dim_feedforward=32, dropout=0.1, batch_first=True).cuda()
src = torch.randn(3, 5, 16, device='cuda')
tgt = torch.randn(3, 4, 16, device='cuda')
mask = model.generate_square_subsequent_mask(4, device='cuda')
same = nn.Transformer.generate_square_subsequent_mask(4)
out = model(src, tgt, tgt_mask=mask, tgt_is_causal=True)
out.sum().backward()
names = list(model.state_dict().keys())
print(tuple(out.shape), len(names), names[0], names[-1])
print([same[0, 1].item(), same[1, 0].item(), same[3, 3].item()], same.device, same.dtype)
upper = torch.triu(torch.full((2, 3), 2.0), diagonal=1)
print(upper.sum().item(), upper[1, 2].item(), torch.full((1,), 7).dtype)
try:
    model(src, torch.randn(3, 4, 8, device='cuda'))
except RuntimeError as e:
    print(e)
";
    let scenario =
        leakharness::scenario::parse_scenario(std::path::Path::new("s.py"), source).unwrap();
    let on = |backend: Backend| {
        let rt = runtime(backend);
        let result = run(&scenario, &rt, &RunOptions::default(), &mut ());
        assert!(result.failure.is_none(), "{:?}", result.failure);
        let trace = rt.allocator().history().trace();
        (result.output, trace)
    };
    let (output, cpu_trace) = on(Backend::Cpu);
    let (_, meta_trace) = on(Backend::Meta);
    assert_eq!(cpu_trace, meta_trace, "cpu and meta allocate alike");
    assert_eq!(
        output,
        [
            "(3, 4, 16) 46 encoder.layers.0.self_attn.in_proj_weight decoder.norm.bias",
            "[-inf, 0.0, 0.0] cpu torch.float32",
            "6.0 2.0 torch.int64",
            "the feature number of src and tgt must be equal to d_model",
        ]
    );
}

#[test]
fn triu_backward_is_the_gradients_triu() {
    use super::runtime_gradcheck::{check, identity, Case};
    // 2×3×4 batched matrices, diagonal 1: kept where column - row >= 1.
    let reference = |x: &[Vec<f64>]| -> Vec<f64> {
        x[0].iter()
            .enumerate()
            .map(|(at, v)| {
                let (i, j) = ((at / 4) % 3, at % 4);
                if j as i64 - i as i64 >= 1 {
                    *v
                } else {
                    0.0
                }
            })
            .collect()
    };
    check(Case {
        name: "triu",
        inputs: vec![(vec![2, 3, 4], true)],
        op: &|t| t[0].triu(1),
        reference: &reference,
        shape_values: identity,
    });
}
