"""Logs, allocation by allocation, what Adam's and RMSprop's variants make and free in one step
under real PyTorch (docs/fidelity.md, "Optimizer steps"). Not part of CI (torch is several GB):

    python3 scripts/optim_variant_logs.py

A dispatch mode sees every tensor an op returns, 0-dim ones included (capturable's and fused's
step counters and bias corrections live on the device); each new storage is rounded up to 512
bytes as the CUDA caching allocator rounds, logged positive when made and negative when its
tensor dies. The CPU build has no capturable device, so CPU is admitted as one
(`_get_capturable_supported_devices`): the same Python code then runs on CPU tensors. Per case it
prints the state `_init_group` makes at the first step and one step's log (the same at every
step). tests/runtime/optim_variants.rs pins these logs.
"""

import importlib
import warnings
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode

warnings.filterwarnings("ignore")
# `torch.optim.adam` is also a function's name, so the modules are looked up by name.
for name in ("torch.optim.adam", "torch.optim.rmsprop", "torch.optim.optimizer"):
    importlib.import_module(name)._get_capturable_supported_devices = lambda supports_xla=True: ["cpu", "cuda"]


class Track(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.log, self.seen = [], set()

    def _free(self, n, ptr):
        self.seen.discard(ptr)
        self.log.append(-n)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = [a for a in torch.utils._pytree.tree_leaves(args) if isinstance(a, torch.Tensor)]
        for t in out if isinstance(out, (list, tuple)) else [out]:
            if not isinstance(t, torch.Tensor):
                continue
            ptr = t.untyped_storage().data_ptr()
            if ptr in self.seen or any(ptr == a.untyped_storage().data_ptr() for a in inputs):
                continue
            n = (t.untyped_storage().nbytes() + 511) // 512 * 512
            self.seen.add(ptr)
            self.log.append(n)
            weakref.finalize(t, self._free, n, ptr)
        return out


O = torch.optim
SIZES = [(256, 64), (3, 256), (10, 256)]
CASES = {
    "adam_capturable_loop": lambda ps: O.Adam(ps, capturable=True, foreach=False),
    "adam_capturable_foreach": lambda ps: O.Adam(ps, capturable=True, foreach=True),
    "adam_capturable_amsgrad_loop": lambda ps: O.Adam(ps, capturable=True, amsgrad=True, foreach=False),
    "adamw_capturable_wd_loop": lambda ps: O.AdamW(ps, capturable=True, weight_decay=0.1, foreach=False),
    "adam_capturable_wd_foreach": lambda ps: O.Adam(ps, capturable=True, weight_decay=0.1, foreach=True),
    "adam_fused": lambda ps: O.Adam(ps, fused=True),
    "adamw_fused_amsgrad": lambda ps: O.AdamW(ps, fused=True, amsgrad=True),
    "rmsprop_capturable_loop": lambda ps: O.RMSprop(ps, capturable=True, foreach=False),
    "rmsprop_capturable_foreach": lambda ps: O.RMSprop(ps, capturable=True, foreach=True),
}


def logs(make):
    torch.manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(*s)) for s in SIZES]
    opt = make(ps)
    out = []
    for _ in range(2):
        for p in ps:
            p.grad = torch.randn_like(p)
        m = Track()
        with m:
            opt.step()
        out.append(list(m.log))  # a copy: the state's own frees at exit come later
    return out


for name, make in CASES.items():
    first, second = logs(make)
    made = sum(1 for x in first if x > 0) - sum(1 for x in second if x > 0)
    if first[made:] != second:
        raise SystemExit(f"{name}: step 1 is not the state then step 2's log")
    print(f"{name}: init {first[:made]} step {second}")
