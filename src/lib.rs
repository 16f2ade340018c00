//! leakharness finds GPU memory leaks in deep-learning training code, proves their absence in
//! `cargo test`, and explains each leak well enough to paste into a bug ticket.
//!
//! The flow, one module per stage: [`device`] memory (cuda, cpu, meta) feeds the caching
//! allocator in [`alloc`], which follows PyTorch's rules and tags every allocation. The tensor
//! runtime on top ([`runtime`], [`tensor`], [`autograd`], [`nn`], [`optim`]) runs PyTorch-style
//! programs with PyTorch's memory behaviour.

pub mod alloc;
pub mod autograd;
pub mod device;
pub mod nn;
pub mod optim;
pub mod runtime;
pub mod tensor;
