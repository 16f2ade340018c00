// dropout and layer_norm with the cpu backend's arithmetic (src/tensor/norm.rs), operation by
// operation. A weight or bias that is absent comes as a constant operand (1 or 0); a gradient
// that is not wanted comes as a constant and is not written.

// native_dropout: element i is kept when Philox number i, as random_uniform draws it, is below
// `keep`; kept elements are scaled by `scale`, the mask records which were kept.
extern "C" __global__ void dropout_forward(Operand out, Operand mask, Operand x, u32 k0, u32 k1, u64 counter, float keep, float scale, i64 n) {
    FOR_EACH(i, n) {
        float u = (float)(philox_u32(counter, k0, k1, i) >> 8) * (1.0f / 16777216.0f);
        int kept = u < keep;
        store_f32(out, i, kept ? load_f32(x, i) * scale : 0.0f);
        store_i64(mask, i, kept);
    }
}

// native_layer_norm: one thread per row of n elements; mean and variance summed in f64 in
// order, as the host does.
extern "C" __global__ void layer_norm_forward(Operand out, Operand mean, Operand rstd, Operand x, Operand w, Operand b, i64 m, i64 n, float eps) {
    FOR_EACH(r, m) {
        double s = 0.0;
        for (i64 j = 0; j < n; ++j) s += (double)load_f32(x, r * n + j);
        float mu = (float)(s / (double)n);
        double v = 0.0;
        for (i64 j = 0; j < n; ++j) {
            double d = (double)(load_f32(x, r * n + j) - mu);
            v += d * d;
        }
        float var = (float)(v / (double)n);
        float rs = 1.0f / sqrtf(var + eps);
        for (i64 j = 0; j < n; ++j) {
            float h = (load_f32(x, r * n + j) - mu) * rs;
            if (!w.is_const) h = h * load_f32(w, j);
            if (!b.is_const) h = h + load_f32(b, j);
            store_f32(out, r * n + j, h);
        }
        store_f32(mean, r, mu);
        store_f32(rstd, r, rs);
    }
}

// The input's gradient, one thread per row: rstd * (g - mean(g) - xhat * mean(g * xhat)) with
// g = dy * w.
extern "C" __global__ void layer_norm_backward_input(Operand dy, Operand x, Operand mean, Operand rstd, Operand w, Operand dx, i64 m, i64 n) {
    FOR_EACH(r, m) {
        float mu = load_f32(mean, r), rs = load_f32(rstd, r);
        double sg = 0.0, sgx = 0.0;
        for (i64 j = 0; j < n; ++j) {
            float g = load_f32(dy, r * n + j) * load_f32(w, j);
            float xhat = (load_f32(x, r * n + j) - mu) * rs;
            sg += (double)g;
            sgx += (double)(g * xhat);
        }
        float mg = (float)(sg / (double)n), mgx = (float)(sgx / (double)n);
        for (i64 j = 0; j < n; ++j) {
            float g = load_f32(dy, r * n + j) * load_f32(w, j);
            float xhat = (load_f32(x, r * n + j) - mu) * rs;
            store_f32(dx, r * n + j, rs * (g - mg - xhat * mgx));
        }
    }
}

// The weight's and the bias's gradients, one thread per column, summed over rows in order.
extern "C" __global__ void layer_norm_backward_params(Operand dy, Operand x, Operand mean, Operand rstd, Operand w, Operand dw, Operand db, i64 m, i64 n) {
    FOR_EACH(j, n) {
        float gw = 0.0f, gb = 0.0f;
        for (i64 r = 0; r < m; ++r) {
            float d = load_f32(dy, r * n + j);
            gw += d * ((load_f32(x, r * n + j) - load_f32(mean, r)) * load_f32(rstd, r));
            gb += d;
        }
        if (!dw.is_const) store_f32(dw, j, gw);
        if (!db.is_const) store_f32(db, j, gb);
    }
}
