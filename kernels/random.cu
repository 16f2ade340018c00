// Random numbers: Philox4x32-10 (philox_u32, in the prelude, which dropout shares) keyed by the
// seed and counted from the offset the runtime's generator reserved (Runtime::random_stream).

// Uniform in [0, 1) from the top 24 bits (Philox::uniform). `mode` 0 stores it; 1 maps it to
// [low, high) in f64 as uniform_ does; 2 stores `high` where it is below `low` (as f32) and 0
// elsewhere, the scaled Bernoulli noise of dropout's unfused path.
extern "C" __global__ void random_uniform(Operand out, u32 k0, u32 k1, u64 counter, int mode, double low, double high, i64 n) {
    FOR_EACH(i, n) {
        float u = (float)(philox_u32(counter, k0, k1, i) >> 8) * (1.0f / 16777216.0f);
        float r = u;
        if (mode == 1) r = (float)(low + (high - low) * (double)u);
        if (mode == 2) r = u < (float)low ? (float)high : 0.0f;
        store_f32(out, i, r);
    }
}

// Standard normals by Box-Muller on pairs (Philox::normals): pair p uses numbers 2p and 2p + 1
// and gives elements 2p (cosine) and 2p + 1 (sine), computed in f64 then rounded. The device's
// f64 log/sqrt/cos/sin are within an ulp or two of the host's, so after rounding to f32 the
// values agree except in rare ties.
extern "C" __global__ void random_normal(Operand out, u32 k0, u32 k1, u64 counter, i64 n) {
    FOR_EACH(p, (n + 1) / 2) {
        u32 x = philox_u32(counter, k0, k1, 2 * p);
        u32 y = philox_u32(counter, k0, k1, 2 * p + 1);
        double u1 = ((double)(x >> 8) + 1.0) / 16777216.0;
        double u2 = (double)(y >> 8) / 16777216.0;
        double r = sqrt(-2.0 * log(u1));
        double theta = 2.0 * 3.141592653589793 * u2;
        store_f32(out, 2 * p, (float)(r * cos(theta)));
        if (2 * p + 1 < n) store_f32(out, 2 * p + 1, (float)(r * sin(theta)));
    }
}

// Integers uniform in [low, low + span) by the modulo the host uses (randint).
extern "C" __global__ void random_int(Operand out, u32 k0, u32 k1, u64 counter, i64 low, u64 span, i64 n) {
    FOR_EACH(i, n) {
        u64 x = (u64)philox_u32(counter, k0, k1, i);
        store_i64(out, i, (i64)((u64)low + x % span));
    }
}
