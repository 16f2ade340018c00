// Element-wise kernels: every operand is a strided view already broadcast to the output's shape
// (stride 0 where it is broadcast), so one kernel serves contiguous tensors, views and
// broadcasting alike. Arithmetic is the cpu backend's, operation by operation; NVRTC compiles
// with --fmad=false so that `a + alpha * b` rounds twice, as it does on the host.

// Binary operation codes, as `BinaryOp` in src/device/gpu.rs numbers them.
#define OP_ADD 0            // a + alpha * b
#define OP_SUB 1            // a - alpha * b
#define OP_MUL 2
#define OP_DIV 3
#define OP_EQ 4
#define OP_NE 5
#define OP_LT 6
#define OP_LE 7
#define OP_GT 8
#define OP_GE 9
#define OP_SQUARED_DIFF 10  // (a - b) * (a - b), mse_loss's element-wise loss
#define OP_THRESHOLD_BACKWARD 11  // b <= alpha ? 0 : a, ReLU's backward (a = grad, b = result)
#define OP_LERP 12          // a + alpha * (b - a)

extern "C" __global__ void ew_binary_f32(Operand out, Operand a, Operand b, int op, float alpha, i64 n) {
    FOR_EACH(i, n) {
        float x = load_f32(a, i);
        float y = load_f32(b, i);
        float r;
        switch (op) {
            case OP_ADD: r = x + alpha * y; break;
            case OP_SUB: r = x - alpha * y; break;
            case OP_MUL: r = x * y; break;
            case OP_DIV: r = x / y; break;
            case OP_EQ: r = x == y ? 1.0f : 0.0f; break;
            case OP_NE: r = x != y ? 1.0f : 0.0f; break;
            case OP_LT: r = x < y ? 1.0f : 0.0f; break;
            case OP_LE: r = x <= y ? 1.0f : 0.0f; break;
            case OP_GT: r = x > y ? 1.0f : 0.0f; break;
            case OP_GE: r = x >= y ? 1.0f : 0.0f; break;
            case OP_SQUARED_DIFF: r = (x - y) * (x - y); break;
            case OP_THRESHOLD_BACKWARD: r = y <= alpha ? 0.0f : x; break;
            default: r = x + alpha * (y - x); break;
        }
        store_f32(out, i, r);
    }
}

// Integer arithmetic wraps, as the host's wrapping_add/sub/mul do: computed on unsigned values,
// where overflow is defined.
extern "C" __global__ void ew_binary_i64(Operand out, Operand a, Operand b, int op, i64 alpha, i64 n) {
    FOR_EACH(i, n) {
        i64 x = load_i64(a, i);
        i64 y = load_i64(b, i);
        u64 ux = (u64)x, uy = (u64)y, ua = (u64)alpha;
        i64 r;
        switch (op) {
            case OP_ADD: r = (i64)(ux + ua * uy); break;
            case OP_SUB: r = (i64)(ux - ua * uy); break;
            case OP_MUL: r = (i64)(ux * uy); break;
            case OP_EQ: r = x == y; break;
            case OP_NE: r = x != y; break;
            case OP_LT: r = x < y; break;
            case OP_LE: r = x <= y; break;
            case OP_GT: r = x > y; break;
            default: r = x >= y; break;
        }
        store_i64(out, i, r);
    }
}

// Unary operation codes, as `UnaryOp` in src/device/gpu.rs numbers them.
#define OP_POW 0    // x ** p
#define OP_SQRT 1
#define OP_RELU 2   // max(x, 0); NaN becomes 0 as with f32::max

extern "C" __global__ void ew_unary_f32(Operand out, Operand a, int op, float p, i64 n) {
    FOR_EACH(i, n) {
        float x = load_f32(a, i);
        float r;
        switch (op) {
            case OP_POW: r = powf(x, p); break;
            case OP_SQRT: r = sqrtf(x); break;
            default: r = fmaxf(x, 0.0f); break;
        }
        store_f32(out, i, r);
    }
}

// Ternary operation codes, as `TernaryOp` in src/device/gpu.rs numbers them.
#define OP_ADDCMUL 0       // a + v * (b * c)
#define OP_ADDCDIV 1       // a + v * (b / c)
#define OP_MSE_BACKWARD 2  // v * (b - c) * a, with a = grad, b = input, c = target

extern "C" __global__ void ew_ternary_f32(Operand out, Operand a, Operand b, Operand c, int op, float v, i64 n) {
    FOR_EACH(i, n) {
        float x = load_f32(a, i);
        float y = load_f32(b, i);
        float z = load_f32(c, i);
        float r;
        switch (op) {
            case OP_ADDCMUL: r = x + v * (y * z); break;
            case OP_ADDCDIV: r = x + v * (y / z); break;
            default: r = v * (y - z) * x; break;
        }
        store_f32(out, i, r);
    }
}

// Copies with conversion (copy_values_from): through i64 when either side is an integer tensor
// so that large integers survive, else through f32. Also what `.contiguous()`-like copies of
// views and dtype casts run.
extern "C" __global__ void ew_copy(Operand out, Operand a, int via_i64, i64 n) {
    FOR_EACH(i, n) {
        if (via_i64) store_i64(out, i, load_i64(a, i));
        else store_f32(out, i, load_f32(a, i));
    }
}

// fill_ / zero_ / zeros / ones on any view: an integer or a float value.
extern "C" __global__ void ew_fill(Operand out, double value_f, i64 value_i, int is_int, i64 n) {
    FOR_EACH(i, n) {
        if (is_int) store_i64(out, i, value_i);
        else store_f32(out, i, (float)value_f);
    }
}
