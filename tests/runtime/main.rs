//! The runtime layers, below any scenario: the caching allocator (its rules in exact bytes and
//! a reference model), the tensor runtime's memory, behaviour and gradients, cpu/meta trace
//! equality, and on a GPU the cuda backend's kernels and parity with cpu. One test binary of
//! modules, so that `cargo test` links once for all of them.

mod allocator;
mod allocator_expandable;
mod allocator_model;
mod allocator_options;
mod conv_transpose;
mod copy_slices;
mod cuda_parity;
mod dtype_float64;
mod dtype_int32;
mod float64_arith;
mod full_extremes;
mod fused_cells;
mod gan_layers;
mod group_norm;
mod host_kernels;
mod kernels_compile;
mod logsumexp_one_hot;
mod losses_bce_kl;
mod math_ops;
mod module_move_order;
mod optim_foreach;
mod optim_variants;
mod pool1d;
mod runtime_amp;
mod runtime_attention;
mod runtime_autograd;
mod runtime_behaviour;
mod runtime_checkpoint;
mod runtime_gradcheck;
mod runtime_gru;
mod runtime_index;
mod runtime_layers;
mod runtime_memory;
mod runtime_mha;
mod runtime_rnn;
mod runtime_saved_hooks;
mod runtime_split;
mod runtime_traces;
mod runtime_transformer;
mod runtime_transformer_model;
mod similarity;
mod stats_ops;
mod time_limit;
mod upsample;
mod wrapped_numbers;
