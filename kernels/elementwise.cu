// Element-wise kernels: every operand is a strided view already broadcast to the output's shape
// (stride 0 where it is broadcast), so one kernel serves contiguous tensors, views and
// broadcasting alike. Arithmetic is the cpu backend's, operation by operation; NVRTC compiles
// with --fmad=false so that `a + alpha * b` rounds twice, as it does on the host.

// Operation codes (OP_*) are generated from the enums of src/device/kernels.rs into the prelude;
// a unit test there checks that each has its `case` here.

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
            case OP_DIV_TRUNC: r = truncf(x / y); break;
            case OP_DIV_FLOOR: {
                // ATen's div_floor_floating, as the host's div_floor.
                if (y == 0.0f) { r = x / y; break; }
                float rem = fmodf(x, y);
                float div = (x - rem) / y;
                if (rem != 0.0f && (y < 0.0f) != (rem < 0.0f)) div -= 1.0f;
                if (div == 0.0f) { r = copysignf(0.0f, x / y); break; }
                float fl = floorf(div);
                r = div - fl > 0.5f ? fl + 1.0f : fl;
                break;
            }
            case OP_EQ: r = x == y ? 1.0f : 0.0f; break;
            case OP_NE: r = x != y ? 1.0f : 0.0f; break;
            case OP_LT: r = x < y ? 1.0f : 0.0f; break;
            case OP_LE: r = x <= y ? 1.0f : 0.0f; break;
            case OP_GT: r = x > y ? 1.0f : 0.0f; break;
            case OP_GE: r = x >= y ? 1.0f : 0.0f; break;
            case OP_SQUARED_DIFF: r = (x - y) * (x - y); break;
            case OP_SMOOTH_L1: {
                float d = fabsf(x - y);
                r = d < alpha ? 0.5f * d * d / alpha : d - 0.5f * alpha;
                break;
            }
            case OP_THRESHOLD_BACKWARD: r = y <= alpha ? 0.0f : x; break;
            case OP_LERP: r = x + alpha * (y - x); break;
            case OP_TANH_BACKWARD: r = x * (1.0f - y * y); break;
            case OP_SIGMOID_BACKWARD: r = x * ((1.0f - y) * y); break;
            case OP_GELU_BACKWARD: {
                float cdf = 0.5f * (1.0f + erff(y * 0.70710678118654752f));
                float pdf = expf(-0.5f * y * y) * 0.39894228040143268f;
                r = x * (cdf + y * pdf);
                break;
            }
            case OP_MIN: r = x != x ? x : fminf(x, y); break;
            case OP_MAX: r = x != x ? x : fmaxf(x, y); break;
            case OP_SILU_BACKWARD: {
                float s = 1.0f / (1.0f + expf(-y));
                r = x * s * (1.0f + y * (1.0f - s));
                break;
            }
            default: r = __int_as_float(0x7fc00000); break;
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
            case OP_GE: r = x >= y; break;
            // Rounded quotients of integers (the divisor is never zero: refused before).
            case OP_DIV_TRUNC: r = x / y; break;
            case OP_DIV_FLOOR: r = x / y - ((x % y != 0) && ((x < 0) != (y < 0)) ? 1 : 0); break;
            default: r = 0; break;
        }
        store_i64(out, i, r);
    }
}

extern "C" __global__ void ew_unary_f32(Operand out, Operand a, int op, float p, i64 n) {
    FOR_EACH(i, n) {
        float x = load_f32(a, i);
        float r;
        switch (op) {
            case OP_POW: r = powf(x, p); break;
            case OP_SQRT: r = sqrtf(x); break;
            case OP_RELU: r = fmaxf(x, 0.0f); break;
            case OP_EXP: r = expf(x); break;
            case OP_LOG: r = logf(x); break;
            case OP_TANH: r = tanhf(x); break;
            case OP_SIGMOID: r = 1.0f / (1.0f + expf(-x)); break;
            case OP_ABS: r = fabsf(x); break;
            case OP_SIGN: r = x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x); break;
            case OP_GELU: r = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); break;
            case OP_SILU: r = x / (1.0f + expf(-x)); break;
            case OP_RECIPROCAL: r = 1.0f / x; break;
            case OP_SIN: r = sinf(x); break;
            case OP_COS: r = cosf(x); break;
            case OP_LOG1P: r = log1pf(x); break;
            case OP_EXPM1: r = expm1f(x); break;
            case OP_RSQRT: r = rsqrtf(x); break;
            case OP_FLOOR: r = floorf(x); break;
            case OP_CEIL: r = ceilf(x); break;
            case OP_ROUND: r = nearbyintf(x); break;
            case OP_TRUNC: r = truncf(x); break;
            case OP_ROUND_DECIMALS: {
                float ten = powf(10.0f, fabsf(p));
                r = p < 0.0f ? nearbyintf(x / ten) * ten : nearbyintf(x * ten) / ten;
                break;
            }
            default: r = __int_as_float(0x7fc00000); break;
        }
        store_f32(out, i, r);
    }
}

extern "C" __global__ void ew_ternary_f32(Operand out, Operand a, Operand b, Operand c, int op, float v, float w, i64 n) {
    FOR_EACH(i, n) {
        float x = load_f32(a, i);
        float y = load_f32(b, i);
        float z = load_f32(c, i);
        float r;
        switch (op) {
            case OP_ADDCMUL: r = x + v * (y * z); break;
            case OP_ADDCDIV: r = x + v * (y / z); break;
            case OP_MSE_BACKWARD: r = v * (y - z) * x; break;
            case OP_WHERE: r = x != 0.0f ? y : z; break;
            case OP_MASKED_FILL: r = y != 0.0f ? v : x; break;
            case OP_SMOOTH_L1_BACKWARD: {
                float d = y - z;
                r = d < -w ? -v * x : (d > w ? v * x : v * d * x / w);
                break;
            }
            default: r = __int_as_float(0x7fc00000); break;
        }
        store_f32(out, i, r);
    }
}

// Copies with conversion (copy_values_from), through the type `via` names as the host's
// Buf::copy_converted chooses it: 2, f64, when either side is float64; 1, i64, when either side
// is an integer tensor, so that large integers survive; 0, f32. Also what `.contiguous()`-like
// copies of views and dtype casts run.
extern "C" __global__ void ew_copy(Operand out, Operand a, int via, i64 n) {
    FOR_EACH(i, n) {
        if (via == 2) store_f64(out, i, load_f64(a, i));
        else if (via == 1) store_i64(out, i, load_i64(a, i));
        else store_f32(out, i, load_f32(a, i));
    }
}

// fill_ / zero_ / zeros / ones on any view: an integer or a float value.
extern "C" __global__ void ew_fill(Operand out, double value_f, i64 value_i, int is_int, i64 n) {
    FOR_EACH(i, n) {
        if (is_int) store_i64(out, i, value_i);
        else if (out.dtype == DT_F64) store_f64(out, i, value_f);
        else store_f32(out, i, (float)value_f);
    }
}
