//! `nn.MultiheadAttention` on `multi_head_attention_forward`'s path (gradients enabled): the
//! graph a batch-first self-attention leaves equals PyTorch 2.15's (node classes counted with
//! `next_functions`, saved blocks with `_saved_*`, over the same shapes).

use leakharness::device::Backend;
use leakharness::nn::{Io, Layer, Module, MultiheadAttention};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::Device;

use super::runtime_rnn::{counts, graph_stats};

fn runtime() -> Runtime {
    Runtime::new(
        Backend::Meta,
        RuntimeOptions {
            python_scalar_names: true,
            ..RuntimeOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn self_attention_with_weights_holds_pytorchs_graph() {
    let rt = runtime();
    let m = MultiheadAttention::new(&rt, 32, 4, 0.0, true, true).unwrap();
    m.to(Device::Cuda).unwrap();
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "in_proj_weight",
            "in_proj_bias",
            "out_proj.weight",
            "out_proj.bias"
        ]
    );
    let x = rt.randn(&[4, 8, 32], Device::Cuda).unwrap();
    let Io::Tuple(r) = m
        .call(&[Io::Tensor(x.clone()), Io::Tensor(x.clone()), Io::Tensor(x)])
        .unwrap()
    else {
        panic!("MultiheadAttention returns (output, weights)")
    };
    let [Io::Tensor(out), Io::Tensor(w)] = r.as_slice() else {
        panic!("MultiheadAttention returns (output, weights)")
    };
    assert_eq!((out.shape(), w.shape()), (&[4, 8, 32][..], &[4, 8, 8][..]));
    assert_eq!(out.grad_fn().unwrap().name(), "TransposeBackward0");
    assert_eq!(w.grad_fn().unwrap().name(), "MeanBackward1");
    assert_eq!(
        graph_stats(&[out, w]),
        (
            counts(&[
                ("AccumulateGrad", 4),
                ("AddBackward0", 1),
                ("AddmmBackward0", 1),
                ("BmmBackward0", 2),
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
            // 2.15 lists 7 blocks, 33,280 B: the seventh is MulBackward0's `_saved_other`,
            // the Python float wrapped as an 8-byte host tensor, never device memory (held
            // here too, on the host, where `graph_stats` counts no block).
            6,
            32_768
        )
    );
    assert!(m
        .repr()
        .contains("NonDynamicallyQuantizableLinear(in_features=32"));
}

#[test]
fn scenarios_call_it_with_pytorchs_keywords() {
    use leakharness::scenario::interp::{run, RunOptions};
    let source = "import torch\n\
                  import torch.nn as nn\n\
                  mha = nn.MultiheadAttention(16, 2, batch_first=True).cuda()\n\
                  q = torch.randn(3, 5, 16, device='cuda')\n\
                  kv = torch.randn(3, 7, 16, device='cuda')\n\
                  out, w = mha(q, kv, kv, need_weights=False)\n\
                  out2, w2 = mha(q, kv, kv, average_attn_weights=False)\n\
                  (out.sum() + out2.sum()).backward()\n\
                  print(tuple(out.shape), w, tuple(w2.shape), tuple(mha.in_proj_weight.grad.shape))\n";
    let scenario = leakharness::scenario::parse_scenario(std::path::Path::new("s.py"), source)
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = runtime();
    let result = run(&scenario, &rt, &RunOptions::default(), &mut ());
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert_eq!(
        result.output.join(""),
        "(3, 5, 16) None (3, 2, 5, 7) (48, 16)"
    );
}

#[test]
fn an_attn_mask_of_the_wrong_shape_is_refused_as_pytorch_does() {
    let rt = runtime();
    let m = MultiheadAttention::new(&rt, 8, 2, 0.0, true, false).unwrap();
    let x = rt.randn(&[3, 2, 8], Device::Cpu).unwrap();
    let mask = rt
        .zeros(&[3, 4], leakharness::tensor::DType::F32, Device::Cpu)
        .unwrap();
    let err = m
        .call(&[
            Io::Tensor(x.clone()),
            Io::Tensor(x.clone()),
            Io::Tensor(x),
            Io::None,
            Io::Bool(true),
            Io::Tensor(mask),
        ])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("The shape of the 2D attn_mask is torch.Size([3, 4]), but should be (3, 3)."),
        "{err}"
    );
}
