//! Attention masks and dropout, `nn.TransformerEncoderLayer` and `nn.TransformerEncoder`: the
//! nodes and saved tensors of one forward against PyTorch 2.15 CPU, counted there with
//! `next_functions` and `_saved_*` (unique storages, each rounded to 512 B) over the same
//! shapes (`docs/fidelity.md`, "Transformer layers"). Where 2.15 takes its fused CPU kernel
//! its figures were read under `sdpa_kernel(SDPBackend.MATH)`, the path modelled here.
//!
//! One node name differs, memory equal: the reshapes 2.15 names ReshapeAliasBackward0 are
//! ViewBackward0 here.

use std::collections::BTreeMap;

use leakharness::device::Backend;
use leakharness::nn::{
    Activation, AttentionMasks, EncoderLayerConfig, Layer, LayerNorm, Module, MultiheadAttention,
    TransformerEncoder, TransformerEncoderLayer,
};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, SdpaOptions, Tensor};

use super::runtime_rnn::{counts, graph_stats};

pub(super) fn runtime(backend: Backend) -> Runtime {
    Runtime::new(
        backend,
        RuntimeOptions {
            python_scalar_names: true,
            ..RuntimeOptions::default()
        },
    )
    .unwrap()
}

/// The nodes of the math path of `scaled_dot_product_attention` over (3, 2, 5, 8) leaves.
fn sdpa_nodes(extra: &[(&str, usize)]) -> BTreeMap<String, usize> {
    let mut c = counts(&[
        ("AccumulateGrad", 3),
        ("BmmBackward0", 2),
        ("ExpandBackward0", 4),
        ("MulBackward1", 2),
        ("SafeSoftmaxBackward0", 1),
        ("TransposeBackward0", 1),
        ("UnsafeViewBackward0", 2),
        ("ViewBackward0", 4),
    ]);
    for (n, k) in extra {
        c.insert(n.to_string(), *k);
    }
    c
}

#[test]
fn a_mask_adds_one_node_and_keeps_nothing_more() {
    let rt = runtime(Backend::Meta);
    let leaf = || {
        rt.randn(&[3, 2, 5, 8], Device::Cuda)
            .unwrap()
            .requires_grad_(true)
            .unwrap()
    };
    let (q, k, v) = (leaf(), leaf(), leaf());
    let bool_mask = rt.ones(&[5, 5], DType::Bool, Device::Cuda).unwrap();
    let float_mask = rt.randn(&[3, 1, 5, 5], Device::Cuda).unwrap();
    let run = |o: SdpaOptions<'_>| {
        let out = Tensor::scaled_dot_product_attention_with(&q, &k, &v, &o).unwrap();
        graph_stats(&[&out])
    };
    // 2.15 (math path): 4 storages, 4,096 B: both scaled operands, the weights and the value.
    assert_eq!(run(SdpaOptions::default()), (sdpa_nodes(&[]), 4, 4096));
    let masked = (sdpa_nodes(&[("AddBackward0", 1)]), 4, 4096);
    let causal = SdpaOptions {
        is_causal: true,
        ..SdpaOptions::default()
    };
    assert_eq!(run(causal), masked);
    for m in [&bool_mask, &float_mask] {
        let o = SdpaOptions {
            attn_mask: Some(m),
            ..SdpaOptions::default()
        };
        assert_eq!(run(o), masked);
    }
    // Dropout of the weights keeps its mask and the dropped weights: 6 storages. On the
    // device it is `native_dropout` (a bool mask, 150 B → 512): 5,632 B. 2.15's CPU build
    // multiplies by a float noise tensor instead (MulBackward0 saving 600 B → 1,024): 6,144.
    let dropped = SdpaOptions {
        dropout_p: 0.5,
        ..SdpaOptions::default()
    };
    assert_eq!(
        run(dropped),
        (sdpa_nodes(&[("NativeDropoutBackward0", 1)]), 6, 5632)
    );
    let both = SdpaOptions {
        is_causal: true,
        attn_mask: Some(&bool_mask),
        ..SdpaOptions::default()
    };
    let err = Tensor::scaled_dot_product_attention_with(&q, &k, &v, &both).unwrap_err();
    assert!(err
        .to_string()
        .contains("Explicit attn_mask should not be set when is_causal=True"));
}

#[test]
fn masks_take_part_as_pytorch_says() {
    let rt = runtime(Backend::Cpu);
    let q = rt.randn(&[1, 1, 3, 4], Device::Cuda).unwrap();
    let k = rt.randn(&[1, 1, 3, 4], Device::Cuda).unwrap();
    let v = rt.randn(&[1, 1, 3, 4], Device::Cuda).unwrap();
    let values = |o: SdpaOptions<'_>| {
        Tensor::scaled_dot_product_attention_with(&q, &k, &v, &o)
            .unwrap()
            .to_vec_f32()
    };
    let causal = values(SdpaOptions {
        is_causal: true,
        ..SdpaOptions::default()
    });
    // The first query sees only the first key: its output is the first value row.
    assert_eq!(&causal[..4], &v.to_vec_f32()[..4]);
    // A bool mask is true where a query takes part; the same lower triangle.
    let tril: Vec<f32> = vec![1., 0., 0., 1., 1., 0., 1., 1., 1.];
    let tril = rt
        .tensor(&tril, &[3, 3], Device::Cuda)
        .unwrap()
        .to_dtype(DType::Bool)
        .unwrap();
    let with_bool = values(SdpaOptions {
        attn_mask: Some(&tril),
        ..SdpaOptions::default()
    });
    assert_eq!(causal, with_bool);
    let unmasked = values(SdpaOptions::default());
    assert_ne!(causal, unmasked);
}

fn mha_graph(
    rt: &Runtime,
    masks: impl Fn(&Runtime) -> (Option<Tensor>, Option<Tensor>, bool),
    need_weights: bool,
) -> (BTreeMap<String, usize>, usize, u64) {
    let m = MultiheadAttention::new(rt, 16, 2, 0.0, true, true).unwrap();
    m.to(Device::Cuda).unwrap();
    let x = rt.randn(&[3, 5, 16], Device::Cuda).unwrap();
    let (kpm, attn, is_causal) = masks(rt);
    let masks = AttentionMasks {
        key_padding_mask: kpm.as_ref(),
        attn_mask: attn.as_ref(),
        is_causal,
    };
    let (o, w) = m.attend(&x, &x, &x, masks, need_weights, true).unwrap();
    let mut roots = vec![&o];
    roots.extend(w.as_ref());
    graph_stats(&roots)
}

/// A key padding mask of 3×5, nothing padded.
fn pad(rt: &Runtime) -> Tensor {
    rt.zeros(&[3, 5], DType::Bool, Device::Cuda).unwrap()
}

/// A float 5×5 attention mask.
fn square(rt: &Runtime) -> Tensor {
    rt.zeros(&[5, 5], DType::F32, Device::Cuda).unwrap()
}

#[test]
fn multihead_attention_masks_keep_what_pytorch_keeps() {
    let rt = runtime(Backend::Meta);
    let sdpa_path = |adds: usize| {
        counts(&[
            ("AccumulateGrad", 4),
            ("AddBackward0", adds),
            ("AddmmBackward0", 1),
            ("BmmBackward0", 2),
            ("CloneBackward0", 2),
            ("ExpandBackward0", 4),
            ("MmBackward0", 1),
            ("MulBackward1", 2),
            ("PermuteBackward0", 1),
            ("SafeSoftmaxBackward0", 1),
            ("SelectBackward0", 3),
            ("SqueezeBackward1", 1),
            ("TBackward0", 2),
            ("TransposeBackward0", 6),
            ("UnsafeViewBackward0", 4),
            ("UnsqueezeBackward0", 1),
            ("ViewBackward0", 12),
        ])
    };
    // need_weights=False: 2.15 (math path) keeps 7 storages, 9,216 B, with or without masks.
    assert_eq!(
        mha_graph(&rt, |_| (None, None, false), false),
        (sdpa_path(1), 7, 9216)
    );
    type Masks = fn(&Runtime) -> (Option<Tensor>, Option<Tensor>, bool);
    let cases: [Masks; 3] = [
        |rt| (Some(pad(rt)), None, false),
        |rt| (None, Some(square(rt)), true),
        |rt| (Some(pad(rt)), Some(square(rt)), false),
    ];
    for masks in cases {
        assert_eq!(mha_graph(&rt, masks, false), (sdpa_path(2), 7, 9216));
    }
    // With weights a mask makes the scores baddbmm(mask, q, k^T): 6 storages, 8,192 B (2.15
    // lists a seventh, the Python float wrapped as an 8-byte host tensor).
    assert_eq!(
        mha_graph(&rt, |rt| (Some(pad(rt)), None, false), true),
        (
            counts(&[
                ("AccumulateGrad", 4),
                ("AddBackward0", 1),
                ("AddmmBackward0", 1),
                ("BaddbmmBackward0", 1),
                ("BmmBackward0", 1),
                ("CloneBackward0", 2),
                ("MeanBackward1", 1),
                ("MmBackward0", 1),
                ("MulBackward0", 1),
                ("SelectBackward0", 3),
                ("SoftmaxBackward0", 1),
                ("SqueezeBackward1", 1),
                ("TBackward0", 2),
                ("TransposeBackward0", 7),
                ("UnsafeViewBackward0", 2),
                ("UnsqueezeBackward0", 1),
                ("ViewBackward0", 6),
            ]),
            6,
            8192
        )
    );
}

#[test]
fn multihead_attention_refuses_what_pytorch_refuses() {
    let rt = runtime(Backend::Meta);
    let m = MultiheadAttention::new(&rt, 16, 2, 0.0, true, true).unwrap();
    let x = rt.randn(&[3, 5, 16], Device::Cpu).unwrap();
    let causal_alone = AttentionMasks {
        is_causal: true,
        ..AttentionMasks::default()
    };
    let err = m.attend(&x, &x, &x, causal_alone, false, true).unwrap_err();
    assert!(err
        .to_string()
        .contains("Need attn_mask if specifying the is_causal hint"));
    let wrong = rt.zeros(&[3, 4], DType::Bool, Device::Cpu).unwrap();
    let kpm = AttentionMasks {
        key_padding_mask: Some(&wrong),
        ..AttentionMasks::default()
    };
    let err = m.attend(&x, &x, &x, kpm, true, true).unwrap_err();
    assert!(err
        .to_string()
        .contains("expecting key_padding_mask shape of (3, 5)"));
    let ints = rt.zeros(&[5, 5], DType::I64, Device::Cpu).unwrap();
    let int_mask = AttentionMasks {
        attn_mask: Some(&ints),
        ..AttentionMasks::default()
    };
    let err = m.attend(&x, &x, &x, int_mask, true, true).unwrap_err();
    assert!(err
        .to_string()
        .contains("only bool and floating types of attn_mask are supported"));
}

pub(super) fn small_config(dropout: f64) -> EncoderLayerConfig {
    let mut c = EncoderLayerConfig::new(16, 2);
    c.dim_feedforward = 32;
    c.dropout = dropout;
    c.batch_first = true;
    c
}

/// The nodes of one post-norm ReLU layer (d_model 16, nhead 2, ff 32) over 3×5×16.
fn layer_nodes(extra: &[(&str, usize)]) -> BTreeMap<String, usize> {
    let mut c = counts(&[
        ("AccumulateGrad", 12),
        ("AddBackward0", 3),
        ("AddmmBackward0", 3),
        ("BmmBackward0", 2),
        ("CloneBackward0", 2),
        ("ExpandBackward0", 4),
        ("MmBackward0", 1),
        ("MulBackward1", 2),
        ("NativeLayerNormBackward0", 2),
        ("PermuteBackward0", 1),
        ("ReluBackward0", 1),
        ("SafeSoftmaxBackward0", 1),
        ("SelectBackward0", 3),
        ("SqueezeBackward1", 1),
        ("TBackward0", 4),
        ("TransposeBackward0", 6),
        ("UnsafeViewBackward0", 6),
        ("UnsqueezeBackward0", 1),
        ("ViewBackward0", 14),
    ]);
    for (n, k) in extra {
        c.insert(n.to_string(), *k);
    }
    c
}

#[test]
fn an_encoder_layer_keeps_what_pytorch_keeps() {
    let rt = runtime(Backend::Meta);
    let x = rt.randn(&[3, 5, 16], Device::Cuda).unwrap();
    let layer = |c: EncoderLayerConfig| {
        let l = TransformerEncoderLayer::new(&rt, c).unwrap();
        l.to(Device::Cuda).unwrap();
        l
    };
    let l = layer(small_config(0.0));
    let names: Vec<String> = l.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "self_attn.in_proj_weight",
            "self_attn.in_proj_bias",
            "self_attn.out_proj.weight",
            "self_attn.out_proj.bias",
            "linear1.weight",
            "linear1.bias",
            "linear2.weight",
            "linear2.bias",
            "norm1.weight",
            "norm1.bias",
            "norm2.weight",
            "norm2.bias"
        ]
    );
    let y = l.forward(&x).unwrap();
    assert_eq!(y.grad_fn().unwrap().name(), "NativeLayerNormBackward0");
    // 2.15 under the math kernel: 21 storages, 22,528 B.
    assert_eq!(graph_stats(&[&y]), (layer_nodes(&[]), 21, 22528));
    // Training with dropout 0.1 (2.15 CPU takes the math path by itself then): four dropouts
    // (attention weights, dropout1, the feed-forward's, dropout2), each keeping a mask. 2.15's
    // CPU build keeps float noise, 27 storages and 30,720 B; the device's native dropout keeps
    // bool masks: 3,072 B less.
    let y = layer(small_config(0.1)).forward(&x).unwrap();
    assert_eq!(
        graph_stats(&[&y]),
        (layer_nodes(&[("NativeDropoutBackward0", 4)]), 27, 27648)
    );
    // Pre-norm with GELU: the block ends in the residual add; GELU keeps its input, and the
    // normalized input is cloned once more by the packed projection. 2.15: 23, 27,648 B.
    let mut c = small_config(0.0);
    c.norm_first = true;
    c.activation.0 = Activation::Gelu;
    let y = layer(c).forward(&x).unwrap();
    assert_eq!(y.grad_fn().unwrap().name(), "AddBackward0");
    let mut nodes = layer_nodes(&[
        ("CloneBackward0", 3),
        ("GeluBackward0", 1),
        ("TransposeBackward0", 7),
        ("UnsafeViewBackward0", 7),
    ]);
    nodes.remove("ReluBackward0");
    assert_eq!(graph_stats(&[&y]), (nodes, 23, 27648));
}

#[test]
fn an_encoder_deep_copies_its_layer() {
    let rt = runtime(Backend::Cpu);
    let l = TransformerEncoderLayer::new(&rt, small_config(0.0)).unwrap();
    let norm = LayerNorm::new(&rt, &[16], 1e-5, true, true).unwrap();
    let norm_weight = norm.weight.clone().unwrap();
    let e = TransformerEncoder::new(&l, 2, Some(Box::new(norm))).unwrap();
    let params = e.named_parameters();
    assert_eq!(params.len(), 26);
    assert_eq!(params[0].0, "layers.0.self_attn.in_proj_weight");
    assert_eq!(params[12].0, "layers.1.self_attn.in_proj_weight");
    assert_eq!(params[25].0, "norm.bias");
    // Copies: the same values, new leaves, not the layer's own tensors.
    let original = l.named_parameters()[0].1.clone();
    for copy in [&params[0].1, &params[12].1] {
        assert_eq!(copy.to_vec_f32(), original.to_vec_f32());
        assert!(!copy.is_same(&original) && copy.is_leaf() && copy.requires_grad());
    }
    assert!(!params[0].1.is_same(&params[12].1));
    // The norm is the module given, not a copy.
    assert!(params[24].1.is_same(&norm_weight));
    assert!(e
        .repr()
        .starts_with("TransformerEncoder(\n  (layers): ModuleList(\n    (0-1): 2 x TransformerEncoderLayer(\n      (self_attn): MultiheadAttention(\n"));

    let rt = runtime(Backend::Meta);
    let l = TransformerEncoderLayer::new(&rt, small_config(0.0)).unwrap();
    let norm = LayerNorm::new(&rt, &[16], 1e-5, true, true).unwrap();
    let e = TransformerEncoder::new(&l, 2, Some(Box::new(norm))).unwrap();
    e.to(Device::Cuda).unwrap();
    let y = e
        .forward(&rt.randn(&[3, 5, 16], Device::Cuda).unwrap())
        .unwrap();
    // 2.15 under the math kernel: two layers and the final norm, 48 storages, 51,200 B.
    let (nodes, blocks, bytes) = graph_stats(&[&y]);
    assert_eq!((blocks, bytes), (48, 51200));
    assert_eq!(nodes["AccumulateGrad"], 26);
    assert_eq!(nodes["NativeLayerNormBackward0"], 5);
}

fn run_scenario(source: &str) -> leakharness::scenario::interp::RunResult {
    // Meta: no arithmetic, only what each statement allocates and records.
    use leakharness::scenario::interp::{run, RunOptions};
    let scenario = leakharness::scenario::parse_scenario(std::path::Path::new("s.py"), source)
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = runtime(Backend::Meta);
    run(&scenario, &rt, &RunOptions::default(), &mut ())
}

#[test]
fn scenarios_build_and_call_encoders_with_pytorchs_keywords() {
    let result = run_scenario(
        "import torch\n\
         import torch.nn as nn\n\
         import torch.nn.functional as F\n\
         layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, activation='gelu', batch_first=True)\n\
         enc = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(16), enable_nested_tensor=False).cuda()\n\
         x = torch.randn(3, 5, 16, device='cuda')\n\
         pad = torch.zeros(3, 5, dtype=torch.bool, device='cuda')\n\
         mask = torch.zeros(5, 5, device='cuda')\n\
         out = enc(x, mask=mask, src_key_padding_mask=pad)\n\
         out.sum().backward()\n\
         one = nn.TransformerEncoderLayer(16, 2, 32, 0.0, F.relu).cuda()\n\
         y = one(x.transpose(0, 1), src_mask=mask, is_causal=True)\n\
         names = [n for n, _ in enc.named_parameters()]\n\
         print(tuple(out.shape), len(names), names[0], names[-1], tuple(y.shape))\n",
    );
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert_eq!(
        result.output.join(""),
        "(3, 5, 16) 26 layers.0.self_attn.in_proj_weight norm.bias (5, 3, 16)"
    );
}

#[test]
fn a_python_activation_is_refused_with_what_to_use() {
    let result = run_scenario(
        "import torch.nn as nn\n\
         layer = nn.TransformerEncoderLayer(16, 2, activation=lambda x: x * 2)\n",
    );
    let failure = format!("{:?}", result.failure.expect("refused"));
    assert!(failure.contains("supports relu and gelu"), "{failure}");
    assert!(failure.contains("s.py"), "{failure}");
}

#[test]
fn a_decoder_layer_keeps_what_pytorch_keeps() {
    use leakharness::nn::{Io, TransformerDecoder, TransformerDecoderLayer};
    let rt = runtime(Backend::Meta);
    let tgt = rt.randn(&[3, 5, 16], Device::Cuda).unwrap();
    let memory = rt.randn(&[3, 7, 16], Device::Cuda).unwrap();
    let layer = |c: EncoderLayerConfig| {
        let l = TransformerDecoderLayer::new(&rt, c).unwrap();
        l.to(Device::Cuda).unwrap();
        l
    };
    let call = |m: &dyn Module, extra: Vec<Io>| {
        let mut inputs = vec![Io::Tensor(tgt.clone()), Io::Tensor(memory.clone())];
        inputs.extend(extra);
        match m.call(&inputs).unwrap() {
            Io::Tensor(t) => t,
            _ => panic!("a decoder returns a tensor"),
        }
    };
    let l = layer(small_config(0.0));
    let names: Vec<String> = l.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 18);
    assert_eq!(names[4], "multihead_attn.in_proj_weight");
    assert_eq!(names[17], "norm3.bias");
    assert!(l
        .repr()
        .contains("  (multihead_attn): MultiheadAttention(\n    (out_proj)"));
    let y = call(&l, vec![]);
    assert_eq!(y.grad_fn().unwrap().name(), "NativeLayerNormBackward0");
    // 2.15 under the math kernel: 35 storages, 39,936 B; its 6 ReshapeAliasBackward0 are
    // ViewBackward0 here (20 + 6).
    let nodes = counts(&[
        ("AccumulateGrad", 18),
        ("AddBackward0", 6),
        ("AddmmBackward0", 4),
        ("BmmBackward0", 4),
        ("CloneBackward0", 5),
        ("ExpandBackward0", 8),
        ("MmBackward0", 3),
        ("MulBackward1", 4),
        ("NativeLayerNormBackward0", 3),
        ("PermuteBackward0", 2),
        ("ReluBackward0", 1),
        ("SafeSoftmaxBackward0", 2),
        ("SelectBackward0", 5),
        ("SplitWithSizesBackward0", 2),
        ("SqueezeBackward1", 2),
        ("TBackward0", 7),
        ("TransposeBackward0", 13),
        ("UnsafeViewBackward0", 12),
        ("UnsqueezeBackward0", 2),
        ("ViewBackward0", 26),
    ]);
    assert_eq!(graph_stats(&[&y]), (nodes, 35, 39936));
    // Pre-norm, GELU, a causal target mask with the hint: 2.15, 37 storages, 45,056 B.
    let mut c = small_config(0.0);
    c.norm_first = true;
    c.activation.0 = Activation::Gelu;
    let causal = rt.zeros(&[5, 5], DType::F32, Device::Cuda).unwrap();
    let y = call(
        &layer(c),
        vec![
            Io::Tensor(causal),
            Io::None,
            Io::None,
            Io::None,
            Io::Bool(true),
        ],
    );
    let (_, blocks, bytes) = graph_stats(&[&y]);
    assert_eq!((blocks, bytes), (37, 45056));
    // Two layers and a final norm: 2.15, 76 storages, 86,016 B, 38 parameters.
    let norm = LayerNorm::new(&rt, &[16], 1e-5, true, true).unwrap();
    let d = TransformerDecoder::new(&layer(small_config(0.0)), 2, Some(Box::new(norm))).unwrap();
    d.to(Device::Cuda).unwrap();
    let names: Vec<String> = d.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 38);
    assert_eq!(names[35], "layers.1.norm3.bias");
    let y = call(&d, vec![]);
    let (_, blocks, bytes) = graph_stats(&[&y]);
    assert_eq!((blocks, bytes), (76, 86016));
}

#[test]
fn scenarios_build_and_call_decoders_with_pytorchs_keywords() {
    let result = run_scenario(
        "import torch\n\
         import torch.nn as nn\n\
         layer = nn.TransformerDecoderLayer(16, 2, dim_feedforward=32, batch_first=True, norm_first=True)\n\
         dec = nn.TransformerDecoder(layer, num_layers=2, norm=nn.LayerNorm(16)).cuda()\n\
         tgt = torch.randn(3, 5, 16, device='cuda')\n\
         memory = torch.randn(3, 7, 16, device='cuda')\n\
         causal = torch.zeros(5, 5, device='cuda')\n\
         pad = torch.zeros(3, 7, dtype=torch.bool, device='cuda')\n\
         out = dec(tgt, memory, tgt_mask=causal, memory_key_padding_mask=pad, tgt_is_causal=True)\n\
         out.sum().backward()\n\
         names = [n for n, _ in dec.named_parameters()]\n\
         print(tuple(out.shape), len(names), names[4], names[-1])\n",
    );
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert_eq!(
        result.output.join(""),
        "(3, 5, 16) 38 layers.0.multihead_attn.in_proj_weight norm.bias"
    );
}
