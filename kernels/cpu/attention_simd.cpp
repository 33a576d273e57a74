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
#pragma GCC diagnostic ignored "-Wuninitialized"
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
#if defined(GEMMA4_ISA_avx512)
  return Vec(_mm512_fmadd_ps(a, b, c));  // xsimd 8.1 has no AVX-512 fma: it would multiply, then add
#else
  return xsimd::fma(a, b, c);
#endif
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

// The rows of one block of keys (or values): each position's row is either
// F32 (the chunk's own rows, or an F32 cache) or F16 (an F16 cache).
struct BlockRows {
  const float* f32[kBlock];
  const uint16_t* f16[kBlock];
};

// Which loads a block needs: all F32, all F16, or both (the one block per
// query where cached positions meet the chunk's own rows).
enum Kind { kAllF32, kAllF16, kMixed };

template <int K>
Vec load_row(const BlockRows& r, size_t j, size_t d) {
  if constexpr (K == kAllF32) {
    return vload(r.f32[j] + d);
  } else if constexpr (K == kAllF16) {
    return vload(r.f16[j] + d);
  } else {
    return r.f16[j] != nullptr ? vload(r.f16[j] + d) : vload(r.f32[j] + d);
  }
}

// Vector registers of the path; decides whether two keys (or two vectors of
// head_dim) can be worked on at once without spilling the accumulators.
#if defined(GEMMA4_ISA_avx512)
constexpr int kRegs = 32;
#else
constexpr int kRegs = 16;
#endif
template <int NH>
constexpr bool kPaired = 2 * NH + 3 <= kRegs;

// s[i][j] = scale * q_i . k_j for the nb keys of the block and the NH heads.
// NH is a template parameter so the accumulators live in registers. Two keys
// at a time share each load of q when the registers allow; either way every
// (head, key) dot product is the same sequence of operations.
template <int NH, int K>
void block_scores(const float* const* q, const BlockRows& k, size_t nb, size_t hd, float scale, float (*s)[kBlock]) {
  size_t j = 0;
  if constexpr (kPaired<NH>) {
    for (; j + 2 <= nb; j += 2) {
      Vec a0[NH], a1[NH];
      for (int i = 0; i < NH; ++i) a0[i] = a1[i] = vsplat(0.0f);
      for (size_t d = 0; d < hd; d += W) {
        const Vec k0 = load_row<K>(k, j, d);
        const Vec k1 = load_row<K>(k, j + 1, d);
        for (int i = 0; i < NH; ++i) {
          const Vec qv = vload(q[i] + d);
          a0[i] = vfma(qv, k0, a0[i]);
          a1[i] = vfma(qv, k1, a1[i]);
        }
      }
      for (int i = 0; i < NH; ++i) {
        s[i][j] = vsum(a0[i]) * scale;
        s[i][j + 1] = vsum(a1[i]) * scale;
      }
    }
  }
  for (; j < nb; ++j) {
    Vec acc[NH];
    for (int i = 0; i < NH; ++i) acc[i] = vsplat(0.0f);
    for (size_t d = 0; d < hd; d += W) {
      const Vec kv = load_row<K>(k, j, d);
      for (int i = 0; i < NH; ++i) acc[i] = vfma(vload(q[i] + d), kv, acc[i]);
    }
    for (int i = 0; i < NH; ++i) s[i][j] = vsum(acc[i]) * scale;
  }
}

// acc_i += sum_j p[i][j] * v_j, a vector (or two) of head_dim at a time so
// that the NH partial outputs stay in registers across the block's keys and
// each broadcast of p serves two vectors.
template <int NH, int K>
void block_values(const BlockRows& v, size_t nb, size_t hd, const float (*p)[kBlock], float (*acc)[kMaxDim]) {
  size_t d = 0;
  if constexpr (kPaired<NH>) {
    for (; d + 2 * W <= hd; d += 2 * W) {
      Vec o0[NH], o1[NH];
      for (int i = 0; i < NH; ++i) {
        o0[i] = vload(acc[i] + d);
        o1[i] = vload(acc[i] + d + W);
      }
      for (size_t j = 0; j < nb; ++j) {
        const Vec v0 = load_row<K>(v, j, d);
        const Vec v1 = load_row<K>(v, j, d + W);
        for (int i = 0; i < NH; ++i) {
          const Vec pj = vsplat(p[i][j]);
          o0[i] = vfma(pj, v0, o0[i]);
          o1[i] = vfma(pj, v1, o1[i]);
        }
      }
      for (int i = 0; i < NH; ++i) {
        vstore(acc[i] + d, o0[i]);
        vstore(acc[i] + d + W, o1[i]);
      }
    }
  }
  for (; d < hd; d += W) {
    Vec o[NH];
    for (int i = 0; i < NH; ++i) o[i] = vload(acc[i] + d);
    for (size_t j = 0; j < nb; ++j) {
      const Vec vv = load_row<K>(v, j, d);
      for (int i = 0; i < NH; ++i) o[i] = vfma(vsplat(p[i][j]), vv, o[i]);
    }
    for (int i = 0; i < NH; ++i) vstore(acc[i] + d, o[i]);
  }
}

// Fills the row pointers of positions b .. b+nb-1 for KV head kv and says
// which kind of block it is.
int gather_rows(const AttentionArgs& a, size_t kv, int64_t b, size_t nb, BlockRows& k, BlockRows& v) {
  bool any_f32 = false, any_f16 = false;
  for (size_t j = 0; j < nb; ++j) {
    const int64_t p = b + static_cast<int64_t>(j);
    k.f32[j] = v.f32[j] = nullptr;
    k.f16[j] = v.f16[j] = nullptr;
    if (a.k_new != nullptr && p >= a.pos0) {
      const size_t off = (static_cast<size_t>(p - a.pos0) * a.n_kv_heads + kv) * a.head_dim;
      k.f32[j] = a.k_new + off;
      v.f32[j] = a.v_new + off;
      any_f32 = true;
      continue;
    }
    const KvCache& c = *a.cache;
    const auto up = static_cast<size_t>(p);
    const size_t off = ((c.ring ? up % c.slots : up) * c.n_kv_heads + kv) * c.head_dim;
    if (c.dtype == DType::F16) {
      k.f16[j] = static_cast<const uint16_t*>(c.k) + off;
      v.f16[j] = static_cast<const uint16_t*>(c.v) + off;
      any_f16 = true;
    } else {
      k.f32[j] = static_cast<const float*>(c.k) + off;
      v.f32[j] = static_cast<const float*>(c.v) + off;
      any_f32 = true;
    }
  }
  return any_f16 ? (any_f32 ? kMixed : kAllF16) : kAllF32;
}

// Asks for the rows of a block ahead of use. Rows of one KV head are
// n_kv_heads * head_dim elements apart, a stride the hardware prefetchers do
// not follow, so without this the kernel waits on memory row by row.
void prefetch_rows(const BlockRows& r, size_t nb, size_t hd) {
  for (size_t j = 0; j < nb; ++j) {
    const char* p =
        r.f16[j] != nullptr ? reinterpret_cast<const char*>(r.f16[j]) : reinterpret_cast<const char*>(r.f32[j]);
    const size_t bytes = hd * (r.f16[j] != nullptr ? 2 : 4);
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
  }
}

// The query heads [h0, h0 + NH) of token t, all reading KV head kv.
template <int NH>
void run_group(const AttentionArgs& a, size_t t, size_t kv, size_t h0) {
  const size_t hd = a.head_dim;
  const float* q[NH];
  float* out[NH];
  for (int i = 0; i < NH; ++i) {
    const size_t row = (t * a.n_q_heads + h0 + static_cast<size_t>(i)) * hd;
    q[i] = a.q + row;
    out[i] = a.out + row;
  }

  constexpr float kNegInf = -__builtin_inff();
  alignas(64) float acc[NH][kMaxDim];
  alignas(64) float s[NH][kBlock];
  float m[NH];
  float l[NH];
  for (int i = 0; i < NH; ++i) {
    m[i] = kNegInf;
    l[i] = 0.0f;
    for (size_t d = 0; d < hd; ++d) acc[i][d] = 0.0f;
  }

  const int64_t pos = a.pos0 + static_cast<int64_t>(t);
  int64_t lo = 0;
  if (a.window > 0) {
    lo = pos - static_cast<int64_t>(a.window) + 1;
    if (lo < 0) lo = 0;
  }
  // Double-buffered row pointers: while block b is computed, block b+1's
  // keys are already on their way.
  BlockRows krows[2], vrows[2];
  int kinds[2] = {kAllF32, kAllF32};
  const auto block_len = [&](int64_t b) {
    return static_cast<size_t>(pos - b + 1 < static_cast<int64_t>(kBlock) ? pos - b + 1 : kBlock);
  };
  int cur = 0;
  kinds[cur] = gather_rows(a, kv, lo, block_len(lo), krows[cur], vrows[cur]);
  prefetch_rows(krows[cur], block_len(lo), hd);
  for (int64_t b = lo; b <= pos; b += static_cast<int64_t>(kBlock), cur ^= 1) {
    const size_t nb = block_len(b);
    const int kind = kinds[cur];
    prefetch_rows(vrows[cur], nb, hd);
    switch (kind) {
      case kAllF32:
        block_scores<NH, kAllF32>(q, krows[cur], nb, hd, a.scale, s);
        break;
      case kAllF16:
        block_scores<NH, kAllF16>(q, krows[cur], nb, hd, a.scale, s);
        break;
      default:
        block_scores<NH, kMixed>(q, krows[cur], nb, hd, a.scale, s);
        break;
    }
    const int64_t next = b + static_cast<int64_t>(kBlock);
    if (next <= pos) {
      kinds[cur ^ 1] = gather_rows(a, kv, next, block_len(next), krows[cur ^ 1], vrows[cur ^ 1]);
      prefetch_rows(krows[cur ^ 1], block_len(next), hd);
    }
    for (int i = 0; i < NH; ++i) {
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
        for (size_t d = 0; d < hd; d += W) vstore(acc[i] + d, vload(acc[i] + d) * c);
        l[i] *= corr;
        m[i] = m_new;
      }
      l[i] += block_sum;
    }
    switch (kind) {
      case kAllF32:
        block_values<NH, kAllF32>(vrows[cur], nb, hd, s, acc);
        break;
      case kAllF16:
        block_values<NH, kAllF16>(vrows[cur], nb, hd, s, acc);
        break;
      default:
        block_values<NH, kMixed>(vrows[cur], nb, hd, s, acc);
        break;
    }
  }

  for (int i = 0; i < NH; ++i) {
    const Vec inv = vsplat(1.0f / l[i]);
    for (size_t d = 0; d < hd; d += W) vstore(out[i] + d, vload(acc[i] + d) * inv);
  }
}

void run_group(const AttentionArgs& a, size_t t, size_t kv, size_t h0, size_t nh) {
  switch (nh) {
    case 1:
      return run_group<1>(a, t, kv, h0);
    case 2:
      return run_group<2>(a, t, kv, h0);
    case 3:
      return run_group<3>(a, t, kv, h0);
    case 4:
      return run_group<4>(a, t, kv, h0);
    case 5:
      return run_group<5>(a, t, kv, h0);
    case 6:
      return run_group<6>(a, t, kv, h0);
    case 7:
      return run_group<7>(a, t, kv, h0);
    default:
      return run_group<8>(a, t, kv, h0);
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
