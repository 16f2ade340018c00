// Reductions. The host permutes the input's dimensions so that the kept ones come first and the
// reduced ones last: output element j then reduces input elements j * count .. (j + 1) * count
// in row-major order of the permuted view, and the output is contiguous.

#define REDUCE_THREADS 256

// sum / mean: one block per output element. Floats accumulate in f64, like the cpu backend,
// so the result rounded to f32 agrees with it although the order of additions differs.
// Integers wrap.
extern "C" __global__ void reduce_sum(Operand out, Operand a, i64 n_out, i64 count, int mean, int as_i64) {
    __shared__ double partial_f[REDUCE_THREADS];
    __shared__ u64 partial_i[REDUCE_THREADS];
    for (i64 j = blockIdx.x; j < n_out; j += gridDim.x) {
        double sf = 0.0;
        u64 si = 0;
        for (i64 k = threadIdx.x; k < count; k += blockDim.x) {
            if (as_i64) si += (u64)load_i64(a, j * count + k);
            else sf += (double)load_f32(a, j * count + k);
        }
        partial_f[threadIdx.x] = sf;
        partial_i[threadIdx.x] = si;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) {
                partial_f[threadIdx.x] += partial_f[threadIdx.x + s];
                partial_i[threadIdx.x] += partial_i[threadIdx.x + s];
            }
            __syncthreads();
        }
        if (threadIdx.x == 0) {
            if (as_i64) store_i64(out, j, (i64)partial_i[0]);
            else store_f32(out, j, (float)(mean ? partial_f[0] / (double)count : partial_f[0]));
        }
        // The next output element reuses the shared arrays.
        __syncthreads();
    }
}

// argmax over the last (permuted) dimension: the first index of the maximum, scanning in order
// as the cpu backend does (a NaN never wins a comparison).
// argmax, or argmin with is_min: the first extreme of each row, as the host finds it.
extern "C" __global__ void reduce_argmax(Operand out, Operand a, i64 n_out, i64 count, int is_min) {
    FOR_EACH(j, n_out) {
        i64 best = 0;
        float best_v = load_f32(a, j * count);
        for (i64 k = 1; k < count; ++k) {
            float v = load_f32(a, j * count + k);
            if (is_min ? v < best_v : v > best_v) {
                best = k;
                best_v = v;
            }
        }
        store_i64(out, j, best);
    }
}

// The 2-norm of all n elements into the 0-dim `out`: one thread summing squares in f64 in
// order, as the host does (clip_grad_norm_'s per-gradient norms, which are few and small).
extern "C" __global__ void reduce_norm2(Operand out, Operand a, i64 n) {
    FOR_EACH(j, 1) {
        double s = 0.0;
        for (i64 i = 0; i < n; ++i) {
            double v = (double)load_f32(a, i);
            s += v * v;
        }
        store_f32(out, 0, (float)sqrt(s));
    }
}

// max/min along one dimension (a permuted so that it is innermost): the first extreme value
// and its index, as the host scans.
extern "C" __global__ void reduce_extreme(Operand values, Operand indices, Operand a, i64 n_out, i64 count, int is_min) {
    FOR_EACH(j, n_out) {
        i64 best = 0;
        float best_v = load_f32(a, j * count);
        for (i64 k = 1; k < count; ++k) {
            float v = load_f32(a, j * count + k);
            if (is_min ? v < best_v : v > best_v) {
                best = k;
                best_v = v;
            }
        }
        store_f32(values, j, best_v);
        store_i64(indices, j, best);
    }
}

// value_selecting_reduction_backward after the zero fill: out (outer, size, inner) gets grad
// (outer, inner) at each index.
extern "C" __global__ void scatter_selected(Operand out, Operand grad, Operand indices, i64 outer, i64 size, i64 inner) {
    FOR_EACH(j, outer * inner) {
        i64 o = j / inner, i = j % inner;
        i64 k = load_i64(indices, j);
        store_f32(out, (o * size + k) * inner + i, load_f32(grad, j));
    }
}

// var, std, the vector p-norm, max and min (`stat` 0 to 4; `param` the correction, or p): one thread per
// output element, in f64 and in order, as the host computes them (two passes for the variance:
// the mean, then the squared deviations).
extern "C" __global__ void reduce_stat(Operand out, Operand a, i64 n_out, i64 count, int stat, double param) {
    FOR_EACH(j, n_out) {
        double r = 0.0;
        if (stat == 3 || stat == 4) {
            // max / min of every value; a NaN anywhere is the answer, as in PyTorch.
            r = (double)load_f32(a, j * count);
            for (i64 k = 1; k < count && r == r; ++k) {
                double x = (double)load_f32(a, j * count + k);
                if (x != x || (stat == 3 ? x > r : x < r)) r = x;
            }
        } else if (stat == 2) {
            for (i64 k = 0; k < count; ++k) {
                double x = fabs((double)load_f32(a, j * count + k));
                r += param == 2.0 ? x * x : (param == 1.0 ? x : pow(x, param));
            }
            r = param == 2.0 ? sqrt(r) : (param == 1.0 ? r : pow(r, 1.0 / param));
        } else {
            double mean = 0.0;
            for (i64 k = 0; k < count; ++k) mean += (double)load_f32(a, j * count + k);
            mean /= (double)count;
            for (i64 k = 0; k < count; ++k) {
                double d = (double)load_f32(a, j * count + k) - mean;
                r += d * d;
            }
            r /= (double)count - param;
            if (stat == 1) r = sqrt(r);
        }
        store_f32(out, j, (float)r);
    }
}
