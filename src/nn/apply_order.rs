//! The order in which `nn.Module._apply` (`torch/nn/modules/module.py`) visits a module's
//! tensors, which is the order `.to()`, `.cuda()`, `.half()` ... allocate their copies in:
//! first each child, recursively, in registration order; then the module's own parameters
//! (each followed by its `.grad`); then its own buffers. `named_parameters()` lists a module's
//! own parameters first, so the two orders differ for every module with both own parameters
//! and children: on an H100, `nn.MultiheadAttention(32, 4).cuda()` allocated
//! `out_proj.weight`, `out_proj.bias`, then `in_proj_weight`, `in_proj_bias`.

/// Reorders `entries`, named with PyTorch's dotted names relative to one module (`weight`,
/// `out_proj.bias`, `0.1.running_mean`), into `_apply`'s order: the entries of each child
/// (the first name component before a dot), the children in the order they first appear,
/// before the module's own entries, which keep their order (so parameters listed before
/// buffers stay before them).
///
/// ```
/// use leakharness::nn::apply_order;
///
/// let named = vec![
///     ("in_proj_weight".to_string(), 12288),
///     ("in_proj_bias".to_string(), 384),
///     ("out_proj.weight".to_string(), 4096),
///     ("out_proj.bias".to_string(), 128),
/// ];
/// let order: Vec<u32> = apply_order(named).into_iter().map(|(_, b)| b).collect();
/// assert_eq!(order, [4096, 128, 12288, 384]);
/// ```
pub fn apply_order<T>(entries: Vec<(String, T)>) -> Vec<(String, T)> {
    let mut own = Vec::new();
    // Each child's name and its entries, named relative to the child.
    let mut children: Vec<(String, Vec<(String, T)>)> = Vec::new();
    for (name, item) in entries {
        match name.split_once('.') {
            None => own.push((name, item)),
            Some((child, rest)) => {
                let rest = (rest.to_string(), item);
                match children.iter_mut().find(|(c, _)| c == child) {
                    Some((_, list)) => list.push(rest),
                    None => children.push((child.to_string(), vec![rest])),
                }
            }
        }
    }
    let mut out = Vec::new();
    for (child, list) in children {
        out.extend(
            apply_order(list)
                .into_iter()
                .map(|(n, item)| (format!("{child}.{n}"), item)),
        );
    }
    out.extend(own);
    out
}
