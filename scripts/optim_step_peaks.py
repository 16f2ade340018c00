"""Measures, with real PyTorch, what one optimizer step allocates on each of its two paths.

Run it under the PyTorch to compare (not part of CI: torch is several GB):

    python3 scripts/optim_step_peaks.py

Parameters of 256x64, 64 and 10x256 floats get a fresh gradient before each of two steps;
`foreach` is forced off then on (PyTorch runs its `_multi_tensor_*` code on CPU tensors too,
through the foreach ops' slow path, which allocates the same outputs). A dispatch mode sees
every tensor an op returns; a new storage counts, rounded up to 512 bytes as the CUDA caching
allocator rounds, until its tensor dies. Per step it prints (peak, kept): the most bytes alive
at once and the bytes still alive after the step, above what was alive before it.
tests/runtime/optim_foreach.rs pins these figures.
"""

import torch, warnings, weakref
warnings.filterwarnings("ignore")
from torch.utils._python_dispatch import TorchDispatchMode

class Track(TorchDispatchMode):
    def __init__(self):
        super().__init__(); self.live = 0; self.peak = 0; self.seen = set(); self.log = []
    def _free(self, n, ptr):
        self.live -= n; self.seen.discard(ptr); self.log.append(-n)
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (list, tuple)) else [out]
        for t in outs:
            if isinstance(t, torch.Tensor) and t.dim() > 0:
                ptr = t.untyped_storage().data_ptr()
                if ptr in self.seen or any(ptr == a.untyped_storage().data_ptr() for a in torch.utils._pytree.tree_leaves(args) if isinstance(a, torch.Tensor)):
                    continue
                n = (t.untyped_storage().nbytes() + 511) // 512 * 512
                self.seen.add(ptr); self.live += n; self.peak = max(self.peak, self.live); self.log.append(n)
                weakref.finalize(t, self._free, n, ptr)
        return out

def run(make, sizes, steps=2):
    torch.manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(*s)) for s in sizes]
    opt = make(ps)
    out = []
    for _ in range(steps):
        for p in ps:
            p.grad = torch.randn_like(p)
        m = Track()
        with m:
            opt.step()
        out.append((m.peak, m.live))
    return out

O = torch.optim
sizes = [(256, 64), (64,), (10, 256)]
cases = {
 "adam": lambda f: (lambda ps: O.Adam(ps, foreach=f)),
 "adam_wd": lambda f: (lambda ps: O.Adam(ps, weight_decay=0.1, foreach=f)),
 "adamw": lambda f: (lambda ps: O.AdamW(ps, foreach=f)),
 "adam_amsgrad": lambda f: (lambda ps: O.Adam(ps, amsgrad=True, foreach=f)),
 "adamw_amsgrad_wd": lambda f: (lambda ps: O.AdamW(ps, amsgrad=True, weight_decay=0.1, foreach=f)),
 "sgd_m": lambda f: (lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, foreach=f)),
 "sgd_m_wd": lambda f: (lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, foreach=f)),
 "sgd_nesterov": lambda f: (lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, foreach=f)),
 "rmsprop": lambda f: (lambda ps: O.RMSprop(ps, foreach=f)),
 "rmsprop_m_wd": lambda f: (lambda ps: O.RMSprop(ps, momentum=0.9, weight_decay=0.1, foreach=f)),
 "rmsprop_centered": lambda f: (lambda ps: O.RMSprop(ps, centered=True, foreach=f)),
 "rmsprop_centered_m": lambda f: (lambda ps: O.RMSprop(ps, centered=True, momentum=0.9, foreach=f)),
 "adagrad": lambda f: (lambda ps: O.Adagrad(ps, foreach=f)),
 "adagrad_wd": lambda f: (lambda ps: O.Adagrad(ps, weight_decay=0.1, foreach=f)),
}
print("param bytes:", [ (s[0]*(s[1] if len(s)>1 else 1)*4 +511)//512*512 for s in sizes])
for name, mk in cases.items():
    print(f"{name:14} foreach=False {run(mk(False), sizes)}  foreach=True {run(mk(True), sizes)}")
# nesterov with foreach writes into p.grad
p = torch.nn.Parameter(torch.ones(3)); p.grad = torch.ones(3)
o = O.SGD([p], lr=0.1, momentum=0.9, nesterov=True, foreach=True); o.step(); print("nesterov foreach grad after step 1:", p.grad.tolist())
p = torch.nn.Parameter(torch.ones(3)); p.grad = torch.ones(3)
o = O.SGD([p], lr=0.1, momentum=0.9, nesterov=True, foreach=False); o.step(); print("nesterov loop grad after step 1:", p.grad.tolist())
