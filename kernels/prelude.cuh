// Prepended by src/device/kernels.rs to every kernels/*.cu before NVRTC compiles it: NVRTC has
// no CUDA headers here, so nothing is #included and the few types needed are spelled out.
// Everything is `static` or `extern "C"`: the files are also compiled as one program, and the
// Rust side finds kernels by their unmangled names.

typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned char u8;

#define MAX_DIMS 8

// Element types, as src/device/gpu.rs numbers them.
#define DT_F32 0
#define DT_I64 1
#define DT_BOOL 2
#define DT_F16 3
#define DT_BF16 4
#define DT_I32 5
#define DT_F64 6

// float16 and bfloat16 are stored as their 16 bits (the layouts of cuda_fp16.h's `__half` and
// cuda_bf16.h's `__nv_bfloat16`, which NVRTC cannot #include here). Arithmetic is f32, rounded
// once per operation to the storage type, as PyTorch's kernels compute half types (opmath_t).
typedef unsigned short u16;

static __device__ float half_to_f32(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

static __device__ u16 f32_to_half(float f) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

static __device__ float bf16_to_f32(u16 b) {
    return __uint_as_float(((u32)b) << 16);
}

// Round to nearest, ties to even, NaN kept quiet: c10::BFloat16's round_to_nearest_even.
static __device__ u16 f32_to_bf16(float f) {
    u32 bits = __float_as_uint(f);
    if (f != f) return (u16)0x7fc0;
    u32 rounding_bias = 0x7fffu + ((bits >> 16) & 1u);
    return (u16)((bits + rounding_bias) >> 16);
}

// One operand of a kernel: a strided view of a storage (or a host number passed by value).
// The layout matches `Operand` in src/device/gpu.rs field for field.
struct Operand {
    u64 ptr;                 // base address of the storage block; 0 for a constant
    i64 offset;              // first element, in elements
    i64 shape[MAX_DIMS];     // sizes, outermost first
    i64 strides[MAX_DIMS];   // in elements; 0 where the operand is broadcast
    int ndim;
    int dtype;
    int is_const;            // a 0-dim host tensor or Python number: const_f / const_i
    int pad;
    double const_f;
    i64 const_i;
};

// Storage offset of row-major element `i` of the operand's shape.
static __device__ i64 elem_offset(const Operand& o, i64 i) {
    i64 off = o.offset;
    for (int d = o.ndim - 1; d >= 0; --d) {
        i64 s = o.shape[d];
        off += (i % s) * o.strides[d];
        i /= s;
    }
    return off;
}

// Reads element `i` as f32 with the cpu backend's conversions (read_f32 in src/tensor/data.rs):
// integers round to nearest, bools are 0 or 1.
static __device__ float load_f32(const Operand& o, i64 i) {
    if (o.is_const) {
        if (o.dtype == DT_F32) return (float)o.const_f;
        if (o.dtype == DT_I64 || o.dtype == DT_I32) return (float)o.const_i;
        return o.const_i != 0 ? 1.0f : 0.0f;
    }
    i64 off = elem_offset(o, i);
    if (o.dtype == DT_F32) return ((const float*)o.ptr)[off];
    if (o.dtype == DT_I64) return (float)((const i64*)o.ptr)[off];
    if (o.dtype == DT_I32) return (float)((const int*)o.ptr)[off];
    if (o.dtype == DT_F64) return (float)((const double*)o.ptr)[off];
    if (o.dtype == DT_F16) return half_to_f32(((const u16*)o.ptr)[off]);
    if (o.dtype == DT_BF16) return bf16_to_f32(((const u16*)o.ptr)[off]);
    return ((const u8*)o.ptr)[off] != 0 ? 1.0f : 0.0f;
}

// Reads element `i` as i64 (read_i64): floats truncate toward zero, saturating, NaN to 0, which
// is what both Rust's `as` and PTX's cvt.rzi do.
static __device__ i64 load_i64(const Operand& o, i64 i) {
    if (o.is_const) {
        if (o.dtype == DT_F32) return (i64)o.const_f;
        if (o.dtype == DT_I64 || o.dtype == DT_I32) return o.const_i;
        return o.const_i != 0 ? 1 : 0;
    }
    i64 off = elem_offset(o, i);
    if (o.dtype == DT_F32) return (i64)((const float*)o.ptr)[off];
    if (o.dtype == DT_I64) return ((const i64*)o.ptr)[off];
    if (o.dtype == DT_I32) return (i64)((const int*)o.ptr)[off];
    if (o.dtype == DT_F64) return (i64)((const double*)o.ptr)[off];
    if (o.dtype == DT_F16) return (i64)half_to_f32(((const u16*)o.ptr)[off]);
    if (o.dtype == DT_BF16) return (i64)bf16_to_f32(((const u16*)o.ptr)[off]);
    return ((const u8*)o.ptr)[off] != 0 ? 1 : 0;
}

// Writes element `i` from an f32, converted to the operand's type (write_f32).
static __device__ void store_f32(const Operand& o, i64 i, float v) {
    i64 off = elem_offset(o, i);
    if (o.dtype == DT_F32) ((float*)o.ptr)[off] = v;
    else if (o.dtype == DT_I64) ((i64*)o.ptr)[off] = (i64)v;
    else if (o.dtype == DT_I32) ((int*)o.ptr)[off] = (int)v;
    else if (o.dtype == DT_F64) ((double*)o.ptr)[off] = (double)v;
    else if (o.dtype == DT_F16) ((u16*)o.ptr)[off] = f32_to_half(v);
    else if (o.dtype == DT_BF16) ((u16*)o.ptr)[off] = f32_to_bf16(v);
    else ((u8*)o.ptr)[off] = v != 0.0f ? 1 : 0;
}

// Writes element `i` from an i64 (write_i64).
static __device__ void store_i64(const Operand& o, i64 i, i64 v) {
    i64 off = elem_offset(o, i);
    if (o.dtype == DT_F32) ((float*)o.ptr)[off] = (float)v;
    else if (o.dtype == DT_I64) ((i64*)o.ptr)[off] = v;
    // Keeps the low 32 bits, as the host's `as i32` does.
    else if (o.dtype == DT_I32) ((int*)o.ptr)[off] = (int)(unsigned int)(u64)v;
    else if (o.dtype == DT_F64) ((double*)o.ptr)[off] = (double)v;
    else if (o.dtype == DT_F16) ((u16*)o.ptr)[off] = f32_to_half((float)v);
    else if (o.dtype == DT_BF16) ((u16*)o.ptr)[off] = f32_to_bf16((float)v);
    else ((u8*)o.ptr)[off] = v != 0 ? 1 : 0;
}

// Reads element `i` as f64 (read_f64): exact for float64 and int64 up to 2^53, the other
// types through load_f32.
static __device__ double load_f64(const Operand& o, i64 i) {
    if (o.is_const && o.dtype == DT_F32) return o.const_f;
    if (o.is_const) return (double)load_i64(o, i);
    if (o.dtype == DT_F64) return ((const double*)o.ptr)[elem_offset(o, i)];
    if (o.dtype == DT_I64 || o.dtype == DT_I32) return (double)load_i64(o, i);
    return (double)load_f32(o, i);
}

// Writes element `i` from an f64 (write_f64): float64 keeps it, integers truncate, the other
// types round through f32.
static __device__ void store_f64(const Operand& o, i64 i, double v) {
    if (o.dtype == DT_F64) ((double*)o.ptr)[elem_offset(o, i)] = v;
    else if (o.dtype == DT_I64 || o.dtype == DT_I32) store_i64(o, i, (i64)v);
    else store_f32(o, i, (float)v);
}

// Grid-stride loops: the launch caps the grid, so any element count is covered.
#define FOR_EACH(i, n) \
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

// Philox4x32-10, keyed by the seed and counted from the offset the runtime's generator reserved
// (Runtime::random_stream). Number `i` of a stream is word i % 4 of block counter + i / 4, so a
// thread drawing element i reproduces the cpu backend's sequence.
static __device__ void philox_block(u64 counter, u32 k0, u32 k1, u32 out[4]) {
    u32 c0 = (u32)counter, c1 = (u32)(counter >> 32), c2 = 0, c3 = 0;
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        u64 p0 = (u64)0xD2511F53u * c0;
        u64 p1 = (u64)0xCD9E8D57u * c2;
        u32 n0 = (u32)(p1 >> 32) ^ c1 ^ k0;
        u32 n1 = (u32)p1;
        u32 n2 = (u32)(p0 >> 32) ^ c3 ^ k1;
        u32 n3 = (u32)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static __device__ u32 philox_u32(u64 counter, u32 k0, u32 k1, i64 i) {
    u32 block[4];
    philox_block(counter + (u64)(i / 4), k0, k1, block);
    return block[i % 4];
}
