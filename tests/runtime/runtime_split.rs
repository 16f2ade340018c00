//! Multi-output operations (`chunk`, `split`, `unbind`): one node for all pieces, views that
//! allocate nothing, and the zeros backward allocates for pieces nothing used. Figures checked
//! with PyTorch 2.15 (the aten calls of backward under a dispatch mode; docs/autograd.md).

use leakharness::autograd::{grad, BackwardOptions, NoCallbacks};
use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

fn rt(backend: Backend) -> Runtime {
    Runtime::new(backend, RuntimeOptions::default()).unwrap()
}

fn leaf(rt: &Runtime, shape: &[usize]) -> Tensor {
    rt.randn(shape, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

#[test]
fn pieces_are_views_of_one_node_that_saves_nothing() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[8, 32]); // 1,024 B
        let cases: [(Vec<Tensor>, &str, &[usize]); 4] = [
            (x.chunk(3, 0).unwrap(), "SplitBackward0", &[3, 3, 2]),
            (
                x.split_with_sizes(&[1, 7], 0).unwrap(),
                "SplitWithSizesBackward0",
                &[1, 7],
            ),
            (x.unbind(0).unwrap(), "UnbindBackward0", &[1; 8]),
            (
                x.unsafe_chunk(4, 1).unwrap(),
                "UnsafeSplitBackward0",
                &[8; 4],
            ),
        ];
        assert_eq!(rt.memory_allocated(), 1024, "forward allocates nothing");
        for (pieces, name, lengths) in cases {
            assert_eq!(pieces.len(), lengths.len(), "{name}");
            let node = pieces[0].grad_fn().unwrap();
            assert_eq!(node.name(), name);
            assert_eq!(node.num_outputs(), pieces.len());
            assert!(node.saved_tensors().is_empty());
            for (nr, p) in pieces.iter().enumerate() {
                assert!(p.shares_storage(&x));
                assert_eq!(p.output_nr(), nr);
                assert!(std::rc::Rc::ptr_eq(&p.grad_fn().unwrap(), &node));
            }
        }
        // chunk(3) of 8 rows splits by ceil(8 / 3) = 3; unbind drops the dimension.
        assert_eq!(x.chunk(3, 0).unwrap()[2].shape(), &[2, 32]);
        assert_eq!(x.unbind(1).unwrap()[5].shape(), &[8]);
        // The edge from a piece's consumer names the piece's output.
        let p = x.chunk(4, 0).unwrap();
        let s = p[2].sum().unwrap();
        let edges = s.grad_fn().unwrap().next_edges();
        assert_eq!(edges[0].as_ref().unwrap().1, 2);
    }
}

#[test]
fn split_backward_allocates_zeros_for_unused_pieces_then_cat() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[8, 32]); // 1,024 B
        let pieces = x.chunk(4, 0).unwrap(); // four 2×32 views: 256 B each
        let loss = pieces[1].sum().unwrap(); // 512
        drop(pieces);
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        // x, the loss, the seed, zeros for pieces 0, 2 and 3 (512 each), the cat output.
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            1024 + 512 + 512 + 3 * 512 + 1024
        );
        // The cat output is stolen as x.grad; the seed and the zeros are gone.
        assert_eq!(rt.memory_allocated(), 1024 + 512 + 1024);
        if backend == Backend::Cpu {
            let g = x.grad().unwrap().to_vec_f32();
            let ones: f32 = g.iter().sum();
            assert_eq!(ones, 64.0, "rows 2 and 3");
            assert_eq!(g[2 * 32], 1.0);
            assert_eq!(g[0], 0.0);
        }
    }
}

#[test]
fn unbind_backward_allocates_a_zero_scalar_per_unused_piece_then_stack() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[8, 32]);
        let rows = x.unbind(0).unwrap();
        // The two sums die once added: AddBackward0 saves nothing.
        let loss = rows[3].sum().unwrap().add(&rows[5].sum().unwrap()).unwrap(); // 512
        drop(rows);
        assert_eq!(rt.memory_allocated(), 1024 + 512);
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        // x, the loss, the seed, a 0-dim zeros for each of the 6 unused rows (expanded, not
        // copied), the stacked gradient.
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            1024 + 512 + 512 + 6 * 512 + 1024
        );
        assert_eq!(rt.memory_allocated(), 1024 + 512 + 1024);
        if backend == Backend::Cpu {
            let g = x.grad().unwrap().to_vec_f32();
            assert_eq!(g.iter().sum::<f32>(), 64.0);
            assert_eq!(g[3 * 32 + 7], 1.0);
            assert_eq!(g[4 * 32], 0.0);
        }
    }
}

#[test]
fn every_piece_used_allocates_only_the_joined_gradient() {
    let rt = rt(Backend::Meta);
    let x = leaf(&rt, &[8, 32]);
    let p = x.split(4, 0).unwrap();
    let loss = p[0].sum().unwrap().add(&p[1].sum().unwrap()).unwrap();
    drop(p);
    let before = rt.memory_allocated();
    rt.allocator_mut().reset_peak_memory_stats();
    loss.backward(None, false).unwrap();
    // the seed, then the cat output (the pieces' gradients are expanded views of the seed).
    assert_eq!(rt.allocator().max_memory_allocated(), before + 512 + 1024);
}

#[test]
fn hooks_and_grad_see_one_piece_each() {
    let rt = rt(Backend::Cpu);
    let x = leaf(&rt, &[4, 3]);
    let p = x.chunk(2, 0).unwrap();
    let loss = p[0]
        .sum()
        .unwrap()
        .add(&p[1].mul_scalar(3.0).unwrap().sum().unwrap())
        .unwrap();
    let got = grad(
        std::slice::from_ref(&loss),
        &[None],
        &[p[1].clone(), x.clone()],
        BackwardOptions::default(),
        false,
        &mut NoCallbacks,
    )
    .unwrap();
    let piece = got[0].as_ref().unwrap();
    assert_eq!(piece.shape(), &[2, 3]);
    assert_eq!(piece.to_vec_f32(), vec![3.0; 6]);
    let whole = got[1].as_ref().unwrap().to_vec_f32();
    assert_eq!(whole, [vec![1.0; 6], vec![3.0; 6]].concat());
}

#[test]
fn split_errors_are_pytorchs() {
    let rt = rt(Backend::Meta);
    let x = rt.randn(&[6, 4], Device::Cuda).unwrap();
    let scalar = rt.randn(&[], Device::Cuda).unwrap();
    let cases: [(leakharness::tensor::Result<Vec<Tensor>>, &str); 6] = [
        (x.split(0, 0), "split_size can only be 0 if dimension size is 0, but got dimension size of 6"),
        (x.split(-1, 0), "split expects split_size be non-negative, but got split_size=-1"),
        (
            x.split_with_sizes(&[1, 4], 0),
            "split_with_sizes expects split_sizes to sum exactly to 6 (input tensor's size at dimension 0), but got split_sizes=[1, 4]",
        ),
        (x.chunk(0, 0), "chunk expects `chunks` to be greater than 0, got: 0"),
        (scalar.chunk(2, 0), "chunk expects at least a 1-dimensional tensor"),
        (scalar.unbind(0), "Dimension specified as 0 but tensor has no dimensions"),
    ];
    for (r, message) in cases {
        assert_eq!(r.unwrap_err().to_string(), message);
    }
}
