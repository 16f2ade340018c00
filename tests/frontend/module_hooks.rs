//! Forward hooks on every module, library or scenario subclass, as PyTorch 2.15 runs them
//! (`torch/nn/modules/module.py`, `_call_impl`); the outputs below are real PyTorch's for the
//! same programs, and the bytes follow from the allocator's rules.

use super::interp::{error, output};

#[test]
fn library_modules_run_their_hooks_and_sequential_runs_its_childrens() {
    let out = output(
        "import torch\nimport torch.nn as nn\n\
         model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))\n\
         seen = []\n\
         def pre(m, args):\n    seen.append(('pre', m is model, tuple(args[0].shape)))\n\
         def fwd(m, args, out):\n    seen.append(('fwd', m is model[0] or m is model[2], tuple(out.shape)))\n    return out * 2\n\
         def kw(m, args, kwargs, out):\n    seen.append(('kw', len(kwargs)))\n\
         h1 = model[0].register_forward_hook(fwd)\n\
         h2 = model.register_forward_pre_hook(pre)\n\
         h3 = model[2].register_forward_hook(kw, with_kwargs=True)\n\
         h4 = model[2].register_forward_hook(fwd, prepend=True)\n\
         x = torch.ones(5, 4)\n\
         y = model(x)\nprint(seen)\n\
         h1.remove()\nh1.remove()\nh4.remove()\nseen.clear()\n\
         z = model(x)\nprint(seen, type(h1).__name__)\n\
         def zero(m, args):\n    return args[0] * 0\n\
         h5 = model[0].register_forward_pre_hook(zero)\n\
         print(round(float(model[0](x).sum()), 3) == round(float(model[0].bias.sum()) * 5, 3))\n",
    );
    assert_eq!(
        out,
        [
            "[('pre', True, (5, 4)), ('fwd', True, (5, 3)), ('fwd', True, (5, 2)), ('kw', 0)]",
            "[('pre', True, (5, 4)), ('kw', 0)] RemovableHandle",
            "True",
        ]
    );
}

#[test]
fn a_pre_hook_with_kwargs_must_return_args_and_kwargs() {
    let e = error(
        "import torch\nimport torch.nn as nn\n\
         lin = nn.Linear(2, 2)\n\
         lin.register_forward_pre_hook(lambda m, a, k: 3, with_kwargs=True)\n\
         lin(torch.ones(1, 2))\n",
    );
    assert!(
        e.contains(
            "forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got 3."
        ),
        "{e}"
    );
}

/// What a hook keeps, it keeps as long as it is registered; its handle keeps nothing (PyTorch's
/// `RemovableHandle` holds its dict weakly), and a closure that captures its own library
/// module is a cycle that `gc.collect()` frees.
#[test]
fn hooks_keep_what_they_capture_until_removed_and_handles_keep_nothing() {
    let out = output(
        "import gc\nimport torch\nimport torch.nn as nn\n\
         model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).cuda()\n\
         with torch.no_grad():\n    model(torch.randn(16, 64, device='cuda'))\n\
         base = torch.cuda.memory_allocated()\n\
         acts = []\n\
         h = model[1].register_forward_hook(lambda m, i, o: acts.append(o))\n\
         with torch.no_grad():\n    for _ in range(3):\n        model(torch.randn(16, 64, device='cuda'))\n\
         print(len(acts), torch.cuda.memory_allocated() - base)\n\
         h.remove()\n\
         with torch.no_grad():\n    model(torch.randn(16, 64, device='cuda'))\n\
         print(len(acts), torch.cuda.memory_allocated() - base)\n\
         del acts\nprint(torch.cuda.memory_allocated() - base)\n\
         def keep(t):\n    return lambda m, i, o: t\n\
         t = torch.zeros(256, device='cuda')\n\
         h = model.register_forward_hook(keep(t))\n\
         del t\nprint(torch.cuda.memory_allocated() - base)\n\
         h.remove()\nprint(torch.cuda.memory_allocated() - base)\n\
         def attach():\n    lin = nn.Linear(256, 256).cuda()\n    lin.register_forward_hook(lambda mod, i, o: lin)\n\
         attach()\nprint(torch.cuda.memory_allocated() - base)\n\
         gc.collect()\nprint(torch.cuda.memory_allocated() - base)\n",
    );
    // Three 16×32 f32 ReLU outputs of 2,048 B; a 1 KiB tensor; a 256×256 Linear's 262,144 B
    // weight and 1,024 B bias.
    assert_eq!(out, ["3 6144", "3 6144", "0", "1024", "0", "263168", "0"]);
}
