//! float64 arithmetic computes in f64 (values, not only memory): element-wise operations,
//! Python numbers, reductions, matrix products, in-place updates and a backward on float64
//! tensors, and float32 operands promoted into float64 results. Most lines' answers differ
//! from what f32 arithmetic gives (`(1e8 + 1) - 1e8` is 1.0 in float64, 0.0 in float32).
//! `EXPECTED` is what torch 2.15.0 (CPU) printed for `PROGRAM`.

const PROGRAM: &str = r#"import torch

d = torch.float64
a = torch.tensor([1e8], dtype=d)
print(((a + 1) - 1e8).item(), ((torch.tensor([1e8]) + 1) - 1e8).item())
x = torch.tensor([0.1, 0.2, 0.3], dtype=d)
print((x * 3).tolist(), (x / 3).tolist(), (x + x).tolist(), (1 - x).tolist())
print(x.exp().tolist(), x.sqrt().tolist())
print(torch.tanh(x).tolist(), torch.sigmoid(x).tolist(), x.log().tolist())
print(x.pow(0.1).tolist(), (x ** 2).tolist(), torch.nn.functional.gelu(x).tolist())
print(x.sum().item(), x.mean().item(), x.var().item(), x.std().item(), x.norm().item())
m = torch.tensor([[0.1, 0.2], [0.3, 0.7]], dtype=d)
print((m @ torch.tensor([[1e8], [1.0]], dtype=d)).tolist(), torch.matmul(m, m.t()).tolist())
f = torch.tensor([0.1])
print((f + x).dtype, (f + x).tolist(), (x * torch.tensor(0.1)).tolist())
print((x > 0.2).tolist(), (x >= 0.2).tolist(), (x == 0.1).tolist())
y = x.clone()
y.add_(1e-10)
y.mul_(3)
print(y.tolist())
print(m.max(dim=1)[0].tolist(), m.sum(dim=0).tolist(), (x * 1e8 + 1e-3).tolist())
w = torch.tensor([0.1, 0.2], dtype=d, requires_grad=True)
(w * w * 0.1).sum().backward()
print(w.grad.tolist())
"#;

/// torch 2.15.0 (CPU), line for line.
const EXPECTED: &[&str] = &[
    "1.0 0.0",
    "[0.30000000000000004, 0.6000000000000001, 0.8999999999999999] [0.03333333333333333, 0.06666666666666667, 0.09999999999999999] [0.2, 0.4, 0.6] [0.9, 0.8, 0.7]",
    "[1.1051709180756477, 1.2214027581601699, 1.3498588075760032] [0.31622776601683794, 0.4472135954999579, 0.5477225575051661]",
    "[0.09966799462495582, 0.197375320224904, 0.2913126124515909] [0.52497918747894, 0.549833997312478, 0.574442516811659] [-2.3025850929940455, -1.6094379124341003, -1.2039728043259361]",
    "[0.7943282347242815, 0.8513399225207846, 0.8865681505652133] [0.010000000000000002, 0.04000000000000001, 0.09] [0.053982783727702904, 0.11585194188782061, 0.1853734266566858]",
    "0.6000000000000001 0.20000000000000004 0.009999999999999998 0.09999999999999999 0.37416573867739417",
    "[[10000000.2], [30000000.7]] [[0.05000000000000001, 0.16999999999999998], [0.16999999999999998, 0.58]]",
    "torch.float64 [0.20000000149011612, 0.30000000149011613, 0.4000000014901161] [0.010000000149011612, 0.020000000298023225, 0.030000000447034835]",
    "[False, False, True] [False, True, True] [True, False, False]",
    "[0.3000000003, 0.6000000003000001, 0.9000000002999999]",
    "[0.2, 0.7] [0.4, 0.8999999999999999] [10000000.001, 20000000.001, 30000000.001]",
    "[0.020000000000000004, 0.04000000000000001]",
];

#[test]
fn float64_arithmetic_prints_what_pytorch_prints() {
    crate::assert_prints_on_cpu_and_meta(PROGRAM, EXPECTED);
}
