//! leakharness finds GPU memory leaks in deep-learning training code, proves their absence in
//! `cargo test`, and explains each leak well enough to paste into a bug ticket.
//!
//! The flow, one module per stage: a [`scenario`] file (a subset of PyTorch's Python) is parsed
//! and interpreted on the tensor runtime ([`runtime`], [`tensor`], [`autograd`], [`nn`],
//! [`optim`]), which has PyTorch's memory behaviour; every allocation goes through the caching
//! allocator in [`alloc`], which follows PyTorch's rules and tags each block, over raw segments
//! from a [`device`] backend (cuda, cpu or meta); the leak checker in [`check`] runs scenarios
//! and its findings become a [`report`]. [`base`] is the vocabulary they all share.
//! [`harness`] turns a folder of scenarios into one `cargo test` test per file, in any crate.

pub mod alloc;
pub mod autograd;
pub mod base;
pub mod check;
pub mod device;
pub mod r#gen;
pub mod harness;
pub mod nn;
pub mod optim;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod tensor;
