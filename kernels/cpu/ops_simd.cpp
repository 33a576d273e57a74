// The SIMD paths of the ops in ops.hpp. This file is compiled once per path
// (see CMakeLists.txt): GEMMA4_ISA_NS names the path, and xsimd's default
// architecture is the widest one that path's compiler flags enable. The
// scalar build of this file hands out the reference implementation instead.
//
// Vector loops process full batches and finish with one padded batch for the
// remainder, so tails go through the same arithmetic as the body. Following
// the rule in CMakeLists.txt, everything here lives in GEMMA4_ISA_NS and no
// shared inline code (std:: math, containers) is instantiated.
// GCC 12 reports its own AVX-512 intrinsics headers (the self-initialised
// _mm512_undefined_ps) as "maybe uninitialized" once xsimd inlines them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "kernels/cpu/ops_isa.hpp"
#include "kernels/cpu/ops_ref.hpp"

#if !defined(GEMMA4_ISA_scalar)
#include <xsimd/xsimd.hpp>
#endif

namespace gemma4::kernels::GEMMA4_ISA_NS {

#if defined(GEMMA4_ISA_scalar)

const OpsTable& ops_table() {
  static const OpsTable table{ops_ref::rms_norm, ops_ref::rope,       ops_ref::softmax, ops_ref::gelu_tanh,
                              ops_ref::geglu,    ops_ref::softcap,    ops_ref::add,     ops_ref::mul,
                              ops_ref::scale,    ops_ref::add_scaled, ops_ref::top_k};
  return table;
}

#else

namespace {

using Vec = xsimd::batch<float, xsimd::default_arch>;
constexpr size_t W = Vec::size;

// The remainder of n % W floats, padded with `fill` to a full batch.
Vec load_tail(const float* p, size_t count, float fill) {
  alignas(64) float buf[W];
  for (size_t i = 0; i < W; ++i) buf[i] = i < count ? p[i] : fill;
  return Vec::load_aligned(buf);
}

void store_tail(const Vec& v, float* p, size_t count) {
  alignas(64) float buf[W];
  v.store_aligned(buf);
  for (size_t i = 0; i < count; ++i) p[i] = buf[i];
}

float lane_max(const Vec& v) {
  alignas(64) float buf[W];
  v.store_aligned(buf);
  float m = buf[0];
  for (size_t i = 1; i < W; ++i) m = buf[i] > m ? buf[i] : m;
  return m;
}

// out[i] = f(x[i]) batch by batch; out may equal x.
template <class F>
void map1(const float* x, float* out, size_t n, F f) {
  size_t i = 0;
  for (; i + W <= n; i += W) f(Vec::load_unaligned(x + i)).store_unaligned(out + i);
  if (i < n) store_tail(f(load_tail(x + i, n - i, 0.0f)), out + i, n - i);
}

// out[i] = f(a[i], b[i]); out may equal a or b.
template <class F>
void map2(const float* a, const float* b, float* out, size_t n, F f) {
  size_t i = 0;
  for (; i + W <= n; i += W) f(Vec::load_unaligned(a + i), Vec::load_unaligned(b + i)).store_unaligned(out + i);
  if (i < n) store_tail(f(load_tail(a + i, n - i, 0.0f), load_tail(b + i, n - i, 0.0f)), out + i, n - i);
}

Vec gelu_vec(const Vec& x) {
  const Vec k_sqrt_2_over_pi(0.7978845608028654f);
  const Vec k_cubic(0.044715f);
  const Vec half(0.5f);
  const Vec one(1.0f);
  const Vec inner = k_sqrt_2_over_pi * (x + k_cubic * x * x * x);
  return half * x * (one + xsimd::tanh(inner));
}

void rms_norm(const float* x, const float* weight, float* out, size_t rows, size_t n, float eps) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = out + r * n;
    // Two accumulators hide the FMA latency on long rows.
    Vec acc0(0.0f), acc1(0.0f);
    size_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      const Vec a = Vec::load_unaligned(xr + i);
      const Vec b = Vec::load_unaligned(xr + i + W);
      acc0 = xsimd::fma(a, a, acc0);
      acc1 = xsimd::fma(b, b, acc1);
    }
    for (; i + W <= n; i += W) {
      const Vec a = Vec::load_unaligned(xr + i);
      acc0 = xsimd::fma(a, a, acc0);
    }
    if (i < n) {
      const Vec a = load_tail(xr + i, n - i, 0.0f);
      acc1 = xsimd::fma(a, a, acc1);
    }
    const float mean_sq = xsimd::hadd(acc0 + acc1) / static_cast<float>(n);
    const Vec inv_rms(1.0f / __builtin_sqrtf(mean_sq + eps));
    if (weight != nullptr) {
      map2(xr, weight, yr, n, [&](const Vec& v, const Vec& w) { return (v * inv_rms) * w; });
    } else {
      map1(xr, yr, n, [&](const Vec& v) { return v * inv_rms; });
    }
  }
}

void rope(float* x, size_t rows, size_t head_dim, const float* cos, const float* sin, size_t n_pairs) {
  const size_t half = head_dim / 2;
  for (size_t r = 0; r < rows; ++r) {
    float* lo = x + r * head_dim;
    float* hi = lo + half;
    size_t i = 0;
    for (; i + W <= n_pairs; i += W) {
      const Vec a = Vec::load_unaligned(lo + i);
      const Vec b = Vec::load_unaligned(hi + i);
      const Vec c = Vec::load_unaligned(cos + i);
      const Vec s = Vec::load_unaligned(sin + i);
      (a * c - b * s).store_unaligned(lo + i);
      (b * c + a * s).store_unaligned(hi + i);
    }
    if (i < n_pairs) {
      const size_t m = n_pairs - i;
      const Vec a = load_tail(lo + i, m, 0.0f);
      const Vec b = load_tail(hi + i, m, 0.0f);
      const Vec c = load_tail(cos + i, m, 1.0f);
      const Vec s = load_tail(sin + i, m, 0.0f);
      store_tail(a * c - b * s, lo + i, m);
      store_tail(b * c + a * s, hi + i, m);
    }
  }
}

void softmax(float* x, size_t n) {
  constexpr float kNegInf = -__builtin_inff();
  Vec vmax(kNegInf);
  size_t i = 0;
  for (; i + W <= n; i += W) vmax = xsimd::max(vmax, Vec::load_unaligned(x + i));
  if (i < n) vmax = xsimd::max(vmax, load_tail(x + i, n - i, kNegInf));
  const float max = lane_max(vmax);
  if (max == kNegInf) {
    for (size_t j = 0; j < n; ++j) x[j] = 0.0f;
    return;
  }
  const Vec m(max);
  Vec sum(0.0f);
  i = 0;
  for (; i + W <= n; i += W) {
    const Vec e = xsimd::exp(Vec::load_unaligned(x + i) - m);
    e.store_unaligned(x + i);
    sum += e;
  }
  if (i < n) {
    // Padding with -inf makes the padded lanes exp(-inf) = 0 in the sum.
    const Vec e = xsimd::exp(load_tail(x + i, n - i, kNegInf) - m);
    store_tail(e, x + i, n - i);
    sum += e;
  }
  const Vec inv(1.0f / xsimd::hadd(sum));
  map1(x, x, n, [&](const Vec& v) { return v * inv; });
}

void gelu_tanh(const float* x, float* out, size_t n) {
  map1(x, out, n, gelu_vec);
}

void geglu(const float* gate, const float* up, float* out, size_t n) {
  map2(gate, up, out, n, [](const Vec& g, const Vec& u) { return gelu_vec(g) * u; });
}

void softcap(float* x, size_t n, float cap) {
  const Vec c(cap);
  map1(x, x, n, [&](const Vec& v) { return c * xsimd::tanh(v / c); });
}

void add(const float* a, const float* b, float* out, size_t n) {
  map2(a, b, out, n, [](const Vec& u, const Vec& v) { return u + v; });
}

void mul(const float* a, const float* b, float* out, size_t n) {
  map2(a, b, out, n, [](const Vec& u, const Vec& v) { return u * v; });
}

void scale(const float* x, float s, float* out, size_t n) {
  const Vec sv(s);
  map1(x, out, n, [&](const Vec& v) { return v * sv; });
}

void add_scaled(float* acc, const float* x, float s, size_t n) {
  const Vec sv(s);
  map2(acc, x, acc, n, [&](const Vec& a, const Vec& v) { return a + sv * v; });
}

// Same selection as the reference (the shared TopKHeap); SIMD only skips
// batches in which no value beats the current k-th best, which is most of a
// 262144-entry logit vector once the heap has filled.
size_t top_k(const float* x, size_t n, size_t k, uint32_t* indices, float* values) {
  ops_ref::TopKHeap heap(k, indices, values);
  size_t i = 0;
  for (; i < n && !heap.full(); ++i) heap.offer(static_cast<uint32_t>(i), x[i]);
  if (heap.full()) {
    Vec threshold(heap.threshold());
    for (; i + W <= n; i += W) {
      if (xsimd::any(Vec::load_unaligned(x + i) > threshold)) {
        for (size_t j = i; j < i + W; ++j) heap.offer(static_cast<uint32_t>(j), x[j]);
        threshold = Vec(heap.threshold());
      }
    }
  }
  for (; i < n; ++i) heap.offer(static_cast<uint32_t>(i), x[i]);
  return heap.finish();
}

}  // namespace

const OpsTable& ops_table() {
  static const OpsTable table{rms_norm, rope, softmax, gelu_tanh, geglu, softcap, add, mul, scale, add_scaled, top_k};
  return table;
}

#endif

}  // namespace gemma4::kernels::GEMMA4_ISA_NS
