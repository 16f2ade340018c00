//! The checks training loops run on losses and gradients: `any`, `all`, `isinf`, `isfinite`
//! (`if torch.isnan(loss).any(): ...`, `torch.isfinite(grad).all()`), as tensor methods and
//! `torch.*` functions. Each returns a bool tensor and records no node.

use super::args::method;

// `any(dim=None, keepdim=False)`, `all(...)`.
method!(any_all, ["dim", "keepdim"], 0, |c| {
    let keepdim = c.flag("keepdim", false)?;
    let all = c.name == "all";
    let r = match c.dim("dim")? {
        None => {
            if all {
                c.t.all()
            } else {
                c.t.any()
            }
        }
        Some(d) if all => c.t.all_dim(d, keepdim),
        Some(d) => c.t.any_dim(d, keepdim),
    };
    c.done(r)
});

// `isinf()`, `isfinite()`.
method!(classify, [], 0, |c| c.done(if c.name == "isinf" {
    c.t.isinf()
} else {
    c.t.isfinite()
}));
