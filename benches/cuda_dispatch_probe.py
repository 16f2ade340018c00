"""Records what PyTorch does on CUDA where its CUDA kernels differ from the composed CPU path that
leakharness models (docs/gpu.md, "Where CUDA dispatches differently"): cuDNN's RNN for nn.RNN,
nn.LSTM and nn.GRU; the fused `_thnn_fused_*_cell` kernels of the RNN cells; the fused
scaled-dot-product-attention kernels. For each case: the bytes allocated by the forward (beyond
its inputs and parameters), the forward's peak, each allocation's size in order (from the
allocator's history), and every autograd node with what it saved (shape, dtype, storage bytes).

    python3 benches/cuda_dispatch_probe.py OUT.json
"""

import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

DEV = "cuda"


def describe(value):
    if isinstance(value, torch.Tensor):
        return {
            "shape": list(value.shape),
            "dtype": str(value.dtype),
            "device": str(value.device),
            "storage_bytes": value.untyped_storage().nbytes(),
        }
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return [describe(v) for v in value]
    return repr(value)[:120]


def graph(outputs):
    seen, nodes = set(), []
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        saved = {}
        for name in dir(fn):
            if name.startswith("_saved_"):
                try:
                    saved[name] = describe(getattr(fn, name))
                except Exception as e:  # a freed or unreadable saved value is itself a fact
                    saved[name] = f"unreadable: {e}"
        nodes.append({"node": type(fn).__name__, "saved": saved})
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return nodes


def measure(name, setup, forward):
    """setup() makes inputs and modules; forward(*made) returns the output tensors."""
    made = setup()
    forward(*made)  # warm-up: cuDNN and cuBLAS handles, workspaces, kernel loading
    torch.cuda.synchronize()
    torch.cuda.memory._record_memory_history(max_entries=100_000, stacks="python")
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    outputs = forward(*made)
    torch.cuda.synchronize()
    after_forward = torch.cuda.memory_allocated()
    peak_forward = torch.cuda.max_memory_allocated()
    nodes = graph(outputs)
    torch.cuda.reset_peak_memory_stats()
    loss = sum(o.float().sum() for o in outputs if o.requires_grad)
    loss.backward()
    torch.cuda.synchronize()
    after_backward = torch.cuda.memory_allocated()
    peak_backward = torch.cuda.max_memory_allocated()
    snapshot = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    events = [
        {"action": e["action"], "size": e["size"]}
        for trace in snapshot["device_traces"]
        for e in trace
        if e["action"] in ("alloc", "free_requested")
    ]
    return {
        "case": name,
        "forward_bytes": after_forward - before,
        "forward_peak_above_start": peak_forward - before,
        "after_backward_bytes": after_backward - before,
        "backward_peak_above_start": peak_backward - before,
        "outputs": [describe(o) for o in outputs],
        "nodes": nodes,
        "events": events,
    }


def rnn_case(kind, input_size, hidden, layers, bidirectional, seq, batch, dtype=torch.float32):
    def setup():
        torch.manual_seed(0)
        module = kind(input_size, hidden, num_layers=layers, bidirectional=bidirectional)
        module = module.to(DEV, dtype)
        x = torch.randn(seq, batch, input_size, device=DEV, dtype=dtype, requires_grad=True)
        return module, x

    def forward(module, x):
        out, state = module(x)
        states = list(state) if isinstance(state, tuple) else [state]
        return [out] + states

    name = f"{kind.__name__}({input_size},{hidden},layers={layers},bidir={bidirectional}) seq={seq} batch={batch} {dtype}"
    return name, setup, forward


def cell_case(kind, input_size, hidden, batch):
    def setup():
        torch.manual_seed(0)
        module = kind(input_size, hidden).to(DEV)
        x = torch.randn(batch, input_size, device=DEV, requires_grad=True)
        return module, x

    def forward(module, x):
        state = module(x)
        return list(state) if isinstance(state, tuple) else [state]

    return f"{kind.__name__}({input_size},{hidden}) batch={batch}", setup, forward


def sdpa_case(shape, dtype, causal, dropout):
    def setup():
        torch.manual_seed(0)
        return [torch.randn(*shape, device=DEV, dtype=dtype, requires_grad=True) for _ in range(3)]

    def forward(q, k, v):
        return [F.scaled_dot_product_attention(q, k, v, is_causal=causal, dropout_p=dropout)]

    return f"sdpa {shape} {dtype} causal={causal} dropout={dropout}", setup, forward


def mha_case(embed, heads, seq, batch, need_weights):
    def setup():
        torch.manual_seed(0)
        module = nn.MultiheadAttention(embed, heads).to(DEV)
        x = torch.randn(seq, batch, embed, device=DEV, requires_grad=True)
        return module, x

    def forward(module, x):
        out, weights = module(x, x, x, need_weights=need_weights)
        return [out] + ([weights] if weights is not None else [])

    return f"MultiheadAttention({embed},{heads}) seq={seq} batch={batch} need_weights={need_weights}", setup, forward


def main():
    cases = []
    for kind in (nn.LSTM, nn.GRU, nn.RNN):
        cases.append(rnn_case(kind, 16, 32, 1, False, 5, 8))
        cases.append(rnn_case(kind, 16, 32, 2, True, 5, 8))
        cases.append(rnn_case(kind, 32, 64, 1, False, 10, 4))
        cases.append(rnn_case(kind, 10, 20, 3, False, 7, 3))
    cases.append(rnn_case(nn.LSTM, 16, 32, 1, False, 5, 8, torch.float16))
    for kind in (nn.LSTMCell, nn.GRUCell, nn.RNNCell):
        cases.append(cell_case(kind, 16, 32, 8))
        cases.append(cell_case(kind, 10, 20, 3))
    for dtype in (torch.float32, torch.float16):
        for causal in (False, True):
            cases.append(sdpa_case((2, 4, 6, 8), dtype, causal, 0.0))
        cases.append(sdpa_case((2, 4, 6, 8), dtype, False, 0.1))
    cases.append(sdpa_case((3, 2, 37, 16), torch.float32, False, 0.0))
    cases.append(sdpa_case((1, 8, 128, 64), torch.float32, True, 0.0))
    for need_weights in (True, False):
        cases.append(mha_case(16, 2, 5, 3, need_weights))
    results = []
    for name, setup, forward in cases:
        try:
            results.append(measure(name, setup, forward))
        except Exception as e:
            results.append({"case": name, "error": f"{type(e).__name__}: {e}"})
        torch.cuda.empty_cache()
    with open(sys.argv[1], "w") as f:
        json.dump(
            {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "cases": results},
            f,
            indent=1,
        )
    for r in results:
        print(r["case"], r.get("error") or f"forward {r['forward_bytes']} B, {len(r['nodes'])} nodes")


if __name__ == "__main__":
    main()
