// Losses that are not element-wise. Element (o, k, i) of a tensor split at dimension `dim`
// into (outer, size, inner) is row-major element (o * size + k) * inner + i.

// log_softmax forward: one thread per (o, i) row, scanning k in order with the cpu backend's
// arithmetic (f32 max, f64 sum of exponentials).
extern "C" __global__ void log_softmax_forward(Operand out, Operand x, i64 outer, i64 size, i64 inner) {
    FOR_EACH(row, outer * inner) {
        i64 o = row / inner, i = row % inner;
        i64 base = o * size * inner + i;
        float m = -__int_as_float(0x7f800000);
        for (i64 k = 0; k < size; ++k) m = fmaxf(m, load_f32(x, base + k * inner));
        double s = 0.0;
        for (i64 k = 0; k < size; ++k) s += exp((double)(load_f32(x, base + k * inner) - m));
        float lse = (float)log(s) + m;
        for (i64 k = 0; k < size; ++k) store_f32(out, base + k * inner, load_f32(x, base + k * inner) - lse);
    }
}

// _log_softmax_backward_data: grad - exp(result) * sum(grad), the sum in f32 in order.
extern "C" __global__ void log_softmax_backward(Operand out, Operand g, Operand r, i64 outer, i64 size, i64 inner) {
    FOR_EACH(row, outer * inner) {
        i64 o = row / inner, i = row % inner;
        i64 base = o * size * inner + i;
        float s = 0.0f;
        for (i64 k = 0; k < size; ++k) s += load_f32(g, base + k * inner);
        for (i64 k = 0; k < size; ++k) {
            i64 e = base + k * inner;
            store_f32(out, e, load_f32(g, e) - expf(load_f32(r, e)) * s);
        }
    }
}

// _softmax_backward_data: result * (grad - sum(grad * result)), the sum in f32 in order.
extern "C" __global__ void softmax_backward(Operand out, Operand g, Operand r, i64 outer, i64 size, i64 inner) {
    FOR_EACH(row, outer * inner) {
        i64 o = row / inner, i = row % inner;
        i64 base = o * size * inner + i;
        float s = 0.0f;
        for (i64 k = 0; k < size; ++k) s += load_f32(g, base + k * inner) * load_f32(r, base + k * inner);
        for (i64 k = 0; k < size; ++k) {
            i64 e = base + k * inner;
            float y = load_f32(r, e);
            store_f32(out, e, y * (load_f32(g, e) - s));
        }
    }
}

// Reduction codes, as `Reduction` in src/tensor/loss.rs orders them.
#define RED_NONE 0
#define RED_MEAN 1
#define RED_SUM 2

// nll_loss forward for (N, C) log-probabilities and int64 targets, whose bounds the host has
// checked. One thread: N is a batch size, and a sequential f64 sum gives the cpu backend's
// result exactly.
extern "C" __global__ void nll_loss_forward(Operand out, Operand total_weight, Operand x, Operand t, i64 n, i64 c, int reduction, i64 ignore_index) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double sum = 0.0;
    i64 count = 0;
    for (i64 i = 0; i < n; ++i) {
        i64 cls = load_i64(t, i);
        float loss = 0.0f;
        if (cls != ignore_index) {
            loss = -load_f32(x, i * c + cls);
            count += 1;
        }
        if (reduction == RED_NONE) store_f32(out, i, loss);
        sum += (double)loss;
    }
    store_f32(total_weight, 0, (float)count);
    if (reduction == RED_SUM) store_f32(out, 0, (float)sum);
    if (reduction == RED_MEAN) store_f32(out, 0, (float)(sum / (double)count));
}

// nll_loss backward into an output already zero-filled: -grad (over total_weight for the mean)
// at each target class; out-of-range and ignored targets get nothing, as on the host.
extern "C" __global__ void nll_loss_backward(Operand out, Operand g, Operand t, Operand w, i64 n, i64 c, int reduction, i64 ignore_index) {
    FOR_EACH(i, n) {
        i64 cls = load_i64(t, i);
        if (cls == ignore_index || cls < 0 || cls >= c) continue;
        float v;
        if (reduction == RED_NONE) v = -load_f32(g, i);
        else if (reduction == RED_SUM) v = -load_f32(g, 0);
        else v = -load_f32(g, 0) / load_f32(w, 0);
        store_f32(out, i * c + cls, v);
    }
}
