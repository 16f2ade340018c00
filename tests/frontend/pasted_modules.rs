//! What the modules of pasted bug-thread code need beyond the layers: `torch.nn.init`'s
//! in-place initializers (fans and gains as 2.15's `torch/nn/init.py`, parameters keep their
//! identity), the legacy `torch.Tensor(...)` constructor, `torch.relu`, library layers'
//! constructor settings (`conv.out_channels`, `linear.in_features`, ...), and `nn.Sequential`
//! holding an `nn.Module` subclass written in the scenario (forward, repr, indexing,
//! parameters). `EXPECTED` is what torch 2.15.0 (CPU) printed for `PROGRAM`; it runs on host
//! tensors, so the meta backend must print the same.

const PROGRAM: &str = r#"import torch
import torch.nn as nn

t = torch.Tensor(2, 3)
print(list(t.shape), t.dtype, t.device, torch.Tensor([1, 2]).tolist(), list(torch.Tensor().shape))
w = nn.Parameter(torch.Tensor(4))
nn.init.ones_(w)
print(w.tolist(), w.requires_grad, w.is_leaf, nn.init.zeros_(w) is w, w.tolist())
nn.init.constant_(w, 0.5)
print(w.tolist())
print(nn.init.calculate_gain("relu"), nn.init.calculate_gain("leaky_relu", 0.2), nn.init.calculate_gain("tanh"))
k = torch.empty(8, 3, 5)
nn.init.kaiming_uniform_(k, a=5 ** 0.5)
print((k.abs() > (1 / 15) ** 0.5).sum().item(), (k.abs() > 0).sum().item() > 0)
x = torch.empty(20, 30)
nn.init.xavier_uniform_(x)
print((x.abs() > (6 / 50) ** 0.5).sum().item())
nn.init.uniform_(x, -0.1, 0.1)
print((x.abs() > 0.1).sum().item())
print(torch.relu(torch.tensor([-1.0, 2.0])).tolist())
conv = nn.Conv2d(3, 8, 3, padding=1)
lin = nn.Linear(5, 7)
emb = nn.Embedding(10, 4)
print(conv.in_channels, conv.out_channels, conv.kernel_size, lin.in_features, lin.out_features, emb.num_embeddings, emb.embedding_dim, nn.BatchNorm1d(6).num_features)

class Scale(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(n))

    def forward(self, x):
        return x * self.scale

model = nn.Sequential(nn.Linear(5, 4), Scale(4), nn.ReLU())
print(model)
print(len(model), type(model[1]).__name__, model[-1], len(list(model.parameters())), isinstance(model, nn.Module))
print(list(model(torch.ones(2, 5)).shape), [n for n, _ in model.named_parameters()])
"#;

/// torch 2.15.0 (CPU), line for line.
const EXPECTED: &[&str] = &[
    "[2, 3] torch.float32 cpu [1.0, 2.0] [0]",
    "[1.0, 1.0, 1.0, 1.0] True True True [0.0, 0.0, 0.0, 0.0]",
    "[0.5, 0.5, 0.5, 0.5]",
    "1.4142135623730951 1.3867504905630728 1.6666666666666667",
    "0 True",
    "0",
    "0",
    "[0.0, 2.0]",
    "3 8 (3, 3) 5 7 10 4 6",
    "Sequential(",
    "  (0): Linear(in_features=5, out_features=4, bias=True)",
    "  (1): Scale()",
    "  (2): ReLU()",
    ")",
    "3 Scale ReLU() 3 True",
    "[2, 4] ['0.weight', '0.bias', '1.scale']",
];

#[test]
fn pasted_modules_print_what_pytorch_prints() {
    crate::assert_prints_on_cpu_and_meta(PROGRAM, EXPECTED);
}
