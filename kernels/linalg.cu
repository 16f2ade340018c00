// Matrix products that cuBLAS cannot read in place (operands with no unit stride, such as
// expanded gradients). Copying them to contiguous memory first would be an allocation the cpu
// and meta backends do not make, so they are computed here instead: one thread per output
// element, summing in f32 in the host's order and skipping zeros of `a` as the host does.
// out (n×m) = a (n×k) · b (k×m), plus out's current value when `accumulate` (addmm's bias).
extern "C" __global__ void matmul_strided(Operand out, Operand a, Operand b, i64 n, i64 k, i64 m, int accumulate) {
    FOR_EACH(e, n * m) {
        i64 i = e / m, j = e % m;
        float s = 0.0f;
        for (i64 p = 0; p < k; ++p) {
            float x = load_f32(a, i * k + p);
            if (x == 0.0f) continue;
            s += x * load_f32(b, p * m + j);
        }
        store_f32(out, e, accumulate ? load_f32(out, e) + s : s);
    }
}
