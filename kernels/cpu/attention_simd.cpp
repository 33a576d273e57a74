// The attention kernel (attention.hpp), compiled once per SIMD path. One
// source serves every path through a handful of vector helpers (load, F16
// load, fma, horizontal sum, exp); the scalar build uses plain floats.
//
// Per (token, KV head) the kernel walks the visible keys in blocks of kBlock
// positions, oldest first, keeping for each query head a running maximum m,
// a running denominator l and an unnormalised output accumulator: the online
// ("flash") softmax, so memory use is independent of the context length.
// Up to kMaxHeads query heads that share a KV head are processed together so
// each K/V row is loaded (and converted from F16) once for all of them; the
// arithmetic of each head is the same whatever it is grouped with, which is
// what makes results independent of how a thread pool splits the work.
// GCC 12 reports its own AVX-512 intrinsics headers (the self-initialised
// _mm512_undefined_ps) as "maybe uninitialized" once xsimd inlines them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/cpu/attention_isa.hpp"

#if defined(GEMMA4_ISA_scalar)
#include "kernels/cpu/fp16.hpp"  // compiled with baseline flags here: safe to share
#else
#include <xsimd/xsimd.hpp>
#endif
#if defined(GEMMA4_ISA_avx2) || defined(GEMMA4_ISA_avx512)
#include <immintrin.h>
#endif
#if defined(GEMMA4_ISA_neon)
#include <arm_neon.h>
#endif

namespace gemma4::kernels::GEMMA4_ISA_NS {
namespace {

constexpr size_t kBlock = 32;     // keys per online-softmax step (a multiple of every vector width)
constexpr size_t kMaxHeads = 8;   // query heads sharing one pass over K/V
constexpr size_t kMaxDim = 1024;  // largest head_dim (checked in attention.cpp)

// ---- vector helpers ----
#if defined(GEMMA4_ISA_scalar)
using Vec = float;
constexpr size_t W = 1;
Vec vload(const float* p) {
  return *p;
}
Vec vload(const uint16_t* p) {
  return f16_to_f32(*p);
}
Vec vsplat(float x) {
  return x;
}
Vec vfma(Vec a, Vec b, Vec c) {
  return a * b + c;
}
float vsum(Vec v) {
  return v;
}
void vstore(float* p, Vec v) {
  *p = v;
}
void exp_inplace(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = __builtin_expf(x[i]);
}
float exp1(float x) {
  return __builtin_expf(x);
}
#else
using Vec = xsimd::batch<float, xsimd::default_arch>;
constexpr size_t W = Vec::size;
Vec vload(const float* p) {
  return Vec::load_unaligned(p);
}
Vec vload(const uint16_t* p) {
#if defined(GEMMA4_ISA_avx512)
  return Vec(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#elif defined(GEMMA4_ISA_avx2)
  return Vec(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#elif defined(GEMMA4_ISA_neon)
  return Vec(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))));
#else
#error "attention_simd.cpp: no F16 load for this path"
#endif
}
Vec vsplat(float x) {
  return Vec(x);
}
Vec vfma(const Vec& a, const Vec& b, const Vec& c) {
  return xsimd::fma(a, b, c);
}
float vsum(const Vec& v) {
  return xsimd::hadd(v);
}
void vstore(float* p, const Vec& v) {
  v.store_unaligned(p);
}
// n is a multiple of W here (kBlock).
void exp_inplace(float* x, size_t n) {
  for (size_t i = 0; i < n; i += W) xsimd::exp(Vec::load_unaligned(x + i)).store_unaligned(x + i);
}
// One exp through the same vector code, so every path rescales consistently.
float exp1(float x) {
  alignas(64) float buf[W];
  xsimd::exp(Vec(x)).store_aligned(buf);
  return buf[0];
}
#endif

static_assert(kBlock % W == 0, "a key block must be whole vectors");

// The query heads [h0, h0 + nh) of one token, all reading KV head kv.
struct Group {
  const float* q[kMaxHeads];
  float* out[kMaxHeads];
  size_t nh;
  size_t hd;
};

// s[i][j] = scale * q_i . k for the key row k, for every head i of the group.
template <class T>
void score_row(const Group& g, const T* k, float scale, float (*s)[kBlock], size_t j) {
  Vec acc[kMaxHeads];
  for (size_t i = 0; i < g.nh; ++i) acc[i] = vsplat(0.0f);
  for (size_t d = 0; d < g.hd; d += W) {
    const Vec kv = vload(k + d);
    for (size_t i = 0; i < g.nh; ++i) acc[i] = vfma(vload(g.q[i] + d), kv, acc[i]);
  }
  for (size_t i = 0; i < g.nh; ++i) s[i][j] = vsum(acc[i]) * scale;
}

// acc_i += p[i][j] * v for every head i.
template <class T>
void accumulate_row(const Group& g, const T* v, const float (*p)[kBlock], size_t j, float (*acc)[kMaxDim]) {
  for (size_t d = 0; d < g.hd; d += W) {
    const Vec vv = vload(v + d);
    for (size_t i = 0; i < g.nh; ++i) vstore(acc[i] + d, vfma(vsplat(p[i][j]), vv, vload(acc[i] + d)));
  }
}

// Where the K/V rows of one KV head come from (see AttentionArgs).
struct Rows {
  const AttentionArgs* a;
  size_t kv;

  // Row offset (in elements) of position p in the new rows or in the cache.
  bool from_new(int64_t p) const { return a->k_new != nullptr && p >= a->pos0; }
  size_t new_offset(int64_t p) const { return (static_cast<size_t>(p - a->pos0) * a->n_kv_heads + kv) * a->head_dim; }
  size_t cache_offset(int64_t p) const {
    const KvCache& c = *a->cache;
    const auto up = static_cast<size_t>(p);
    const size_t slot = c.ring ? up % c.slots : up;
    return (slot * c.n_kv_heads + kv) * c.head_dim;
  }
};

template <class Fn>
void with_row(const Rows& r, int64_t p, bool want_k, Fn fn) {
  if (r.from_new(p)) {
    fn((want_k ? r.a->k_new : r.a->v_new) + r.new_offset(p));
    return;
  }
  const KvCache& c = *r.a->cache;
  const void* base = want_k ? c.k : c.v;
  if (c.dtype == DType::F16) {
    fn(static_cast<const uint16_t*>(base) + r.cache_offset(p));
  } else {
    fn(static_cast<const float*>(base) + r.cache_offset(p));
  }
}

void run_group(const AttentionArgs& a, size_t t, size_t kv, size_t h0, size_t nh) {
  Group g{};
  g.nh = nh;
  g.hd = a.head_dim;
  for (size_t i = 0; i < nh; ++i) {
    const size_t row = (t * a.n_q_heads + h0 + i) * a.head_dim;
    g.q[i] = a.q + row;
    g.out[i] = a.out + row;
  }
  const Rows rows{&a, kv};

  constexpr float kNegInf = -__builtin_inff();
  alignas(64) float acc[kMaxHeads][kMaxDim];
  alignas(64) float s[kMaxHeads][kBlock];
  float m[kMaxHeads];
  float l[kMaxHeads];
  for (size_t i = 0; i < nh; ++i) {
    m[i] = kNegInf;
    l[i] = 0.0f;
    for (size_t d = 0; d < g.hd; ++d) acc[i][d] = 0.0f;
  }

  const int64_t pos = a.pos0 + static_cast<int64_t>(t);
  int64_t lo = 0;
  if (a.window > 0) {
    lo = pos - static_cast<int64_t>(a.window) + 1;
    if (lo < 0) lo = 0;
  }
  for (int64_t b = lo; b <= pos; b += static_cast<int64_t>(kBlock)) {
    const auto nb = static_cast<size_t>(pos - b + 1 < static_cast<int64_t>(kBlock) ? pos - b + 1 : kBlock);
    for (size_t j = 0; j < nb; ++j) {
      with_row(rows, b + static_cast<int64_t>(j), true, [&](const auto* k) { score_row(g, k, a.scale, s, j); });
    }
    for (size_t i = 0; i < nh; ++i) {
      float block_max = kNegInf;
      for (size_t j = 0; j < nb; ++j) block_max = s[i][j] > block_max ? s[i][j] : block_max;
      const float m_new = block_max > m[i] ? block_max : m[i];
      // Unused tail lanes become exp(-inf) = 0.
      for (size_t j = 0; j < kBlock; ++j) s[i][j] = j < nb ? s[i][j] - m_new : kNegInf;
      exp_inplace(s[i], kBlock);
      float block_sum = 0.0f;
      for (size_t j = 0; j < nb; ++j) block_sum += s[i][j];
      if (m_new != m[i]) {
        // The maximum rose: rescale what was accumulated against the old one.
        const float corr = exp1(m[i] - m_new);
        const Vec c = vsplat(corr);
        for (size_t d = 0; d < g.hd; d += W) vstore(acc[i] + d, vload(acc[i] + d) * c);
        l[i] *= corr;
        m[i] = m_new;
      }
      l[i] += block_sum;
    }
    for (size_t j = 0; j < nb; ++j) {
      with_row(rows, b + static_cast<int64_t>(j), false, [&](const auto* v) { accumulate_row(g, v, s, j, acc); });
    }
  }

  for (size_t i = 0; i < nh; ++i) {
    const Vec inv = vsplat(1.0f / l[i]);
    for (size_t d = 0; d < g.hd; d += W) vstore(g.out[i] + d, vload(acc[i] + d) * inv);
  }
}

}  // namespace

void attention_run(const AttentionArgs& a, size_t begin, size_t end) {
  const size_t group = a.n_q_heads / a.n_kv_heads;
  size_t i = begin;
  while (i < end) {
    const size_t t = i / a.n_q_heads;
    const size_t h = i % a.n_q_heads;
    const size_t kv = h / group;
    size_t stop = t * a.n_q_heads + (kv + 1) * group;  // end of this KV head's query heads
    if (stop > end) stop = end;
    if (stop > i + kMaxHeads) stop = i + kMaxHeads;
    run_group(a, t, kv, h, stop - i);
    i = stop;
  }
}

}  // namespace gemma4::kernels::GEMMA4_ISA_NS
