// Dot products of one weight row with prepared activations, for every weight
// type, plus the activation quantizers. Compiled once per ISA (see
// CMakeLists.txt): the AVX2 and AVX-512 copies use intrinsics, every other
// copy (scalar, NEON for now) the portable code, which is also the reference
// the SIMD copies are tested against.
//
// Integer types: activations are quantized per block to int8 (BlockQ8A for
// the 32-element types, BlockQ8K for the K-quants) by the same arithmetic on
// every path, so all paths compute identical integer block sums; only the
// order of the float accumulation differs.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/kernel_table.hpp"
#include "kernels/cpu/quant.hpp"
#include "kernels/cpu/quant_types.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#define GEMMA4_X86_SIMD 1
#endif

namespace gemma4::kernels::GEMMA4_ISA_NS {
namespace {

float h2f(uint16_t h) {
#if defined(GEMMA4_X86_SIMD)
  return _cvtsh_ss(h);
#else
  return half_to_float_portable(h);
#endif
}

// Local max: the std:: templates would be instantiated in every ISA copy
// under one name (see the ODR rule in CMakeLists.txt).
float max_f(float a, float b) {
  return a < b ? b : a;
}

float bf2f(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Round to nearest even (the default rounding mode, as cvtps2dq does) and
// saturate to int8 the way the SIMD packs do; NaN becomes -128 on every path.
int8_t to_int8(float v) {
  const float r = std::nearbyint(v);
  if (r >= -128.0f && r <= 127.0f) return static_cast<int8_t>(r);
  return r > 127.0f ? int8_t{127} : int8_t{-128};
}

// Scale of an activation block: amax maps to 127.
void act_scale(float amax, float& d, float& inv) {
  d = amax / 127.0f;
  inv = d != 0.0f ? 1.0f / d : 0.0f;
}

// ============================================================ portable path

[[maybe_unused]] void quantize_q8a_portable(const float* x, size_t n, void* out) {
  auto* b = static_cast<BlockQ8A*>(out);
  for (size_t i = 0; i < n / kQK; ++i, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = max_f(amax, std::fabs(x[j]));
    float d, inv;
    act_scale(amax, d, inv);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      b[i].qs[j] = to_int8(x[j] * inv);
      sum += b[i].qs[j];
    }
    b[i].d = d;
    b[i].sum = d * static_cast<float>(sum);
  }
}

[[maybe_unused]] void quantize_q8k_portable(const float* x, size_t n, void* out) {
  auto* b = static_cast<BlockQ8K*>(out);
  for (size_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float amax = 0.0f;
    for (int j = 0; j < kQK_K; ++j) amax = max_f(amax, std::fabs(x[j]));
    float d, inv;
    act_scale(amax, d, inv);
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int j = 16 * g; j < 16 * g + 16; ++j) {
        b[i].qs[j] = to_int8(x[j] * inv);
        sum += b[i].qs[j];
      }
      b[i].bsums[g] = static_cast<int16_t>(sum);
    }
    b[i].d = d;
  }
}

[[maybe_unused]] float dot_f32_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  const auto* b = static_cast<const float*>(x);
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

[[maybe_unused]] float dot_f16_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const float*>(x);
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += h2f(a[i]) * b[i];
  return s;
}

// BF16 activations come in the bf16_pairs order (matmul.cpp): in each full
// run of 32, the 16 even-indexed values and then the 16 odd-indexed ones.
[[maybe_unused]] float dot_bf16_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const float*>(x);
  float s = 0.0f;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (size_t k = 0; k < 16; ++k) s += bf2f(a[i + 2 * k]) * b[i + k] + bf2f(a[i + 2 * k + 1]) * b[i + 16 + k];
  }
  for (; i < n; ++i) s += bf2f(a[i]) * b[i];
  return s;
}

// x in that order: each full run of 32 as its even-indexed values, then its
// odd-indexed ones; the tail past the last run as it is.
[[maybe_unused]] void order_bf16_portable(const float* x, size_t n, void* out) {
  auto* o = static_cast<float*>(out);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (size_t k = 0; k < 16; ++k) o[i + k] = x[i + 2 * k], o[i + 16 + k] = x[i + 2 * k + 1];
  }
  std::memcpy(o + i, x + i, (n - i) * sizeof(float));
}

// Level q (before the type's offset) of element j of a 32-element block.
int nibble(const uint8_t* qs, int j) {
  return j < kQK / 2 ? (qs[j] & 0x0f) : (qs[j - kQK / 2] >> 4);
}
int fifth_bit(const uint8_t* qh, int j) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  return static_cast<int>((bits >> j) & 1u) << 4;
}

// Level j of activation block i of a row of nb blocks in chunk order
// (quant_types.hpp; Q4_0 and Q8_0).
int8_t chunked_level(const BlockQ8A* b, size_t nb, size_t i, int j) {
  const size_t full = nb / kChunkGroup * kChunkGroup;
  return i < full ? b[i / 4 * 4 + static_cast<size_t>(j / 8)].qs[(i % 4) * 8 + static_cast<size_t>(j % 8)] : b[i].qs[j];
}

// The only Q4_0 and Q8_0 dot products: every SIMD path has tile kernels for
// them, which matvec uses instead.
float dot_q4_0_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_0*>(w);
  const auto* b = static_cast<const BlockQ8A*>(x);
  const size_t nb = n / kQK;
  float s = 0.0f;
  for (size_t i = 0; i < nb; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += (nibble(a[i].qs, j) - 8) * chunked_level(b, nb, i, j);
    s += h2f(a[i].d) * b[i].d * static_cast<float>(isum);
  }
  return s;
}

[[maybe_unused]] float dot_q4_1_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_1*>(w);
  const auto* b = static_cast<const BlockQ8A*>(x);
  float s = 0.0f;
  for (size_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += nibble(a[i].qs, j) * b[i].qs[j];
    s += h2f(a[i].d) * b[i].d * static_cast<float>(isum) + h2f(a[i].m) * b[i].sum;
  }
  return s;
}

[[maybe_unused]] float dot_q5_0_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_0*>(w);
  const auto* b = static_cast<const BlockQ8A*>(x);
  float s = 0.0f;
  for (size_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += ((nibble(a[i].qs, j) | fifth_bit(a[i].qh, j)) - 16) * b[i].qs[j];
    s += h2f(a[i].d) * b[i].d * static_cast<float>(isum);
  }
  return s;
}

[[maybe_unused]] float dot_q5_1_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_1*>(w);
  const auto* b = static_cast<const BlockQ8A*>(x);
  float s = 0.0f;
  for (size_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += (nibble(a[i].qs, j) | fifth_bit(a[i].qh, j)) * b[i].qs[j];
    s += h2f(a[i].d) * b[i].d * static_cast<float>(isum) + h2f(a[i].m) * b[i].sum;
  }
  return s;
}

float dot_q8_0_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ8_0*>(w);
  const auto* b = static_cast<const BlockQ8A*>(x);
  const size_t nb = n / kQK;
  float s = 0.0f;
  for (size_t i = 0; i < nb; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += a[i].qs[j] * chunked_level(b, nb, i, j);
    s += h2f(a[i].d) * b[i].d * static_cast<float>(isum);
  }
  return s;
}

// The min term of a K super-block: sum over sub-blocks of mn[j] * sum(x in j).
int k_min_term(const uint8_t mn[8], const int16_t* bsums) {
  int s = 0;
  for (int j = 0; j < 8; ++j) s += mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
  return s;
}

// The only Q4_K dot product: every SIMD path has a tile kernel for it, which
// matvec uses instead. The activations are in K-chunk order (quant_types.hpp).
float dot_q4_k_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_K*>(w);
  const auto* b = static_cast<const BlockQ8K*>(x);
  float s = 0.0f;
  for (size_t i = 0; i < n / kQK_K; ++i) {
    uint8_t sc[8], mn[8];
    k_scales(a[i].scales, sc, mn);
    int isum = 0;
    for (int c = 0; c < 4; ++c) {
      int lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo += (a[i].qs[32 * c + l] & 0x0f) * b[i].qs[q4k_act_index(64 * c + l)];
        hi += (a[i].qs[32 * c + l] >> 4) * b[i].qs[q4k_act_index(64 * c + 32 + l)];
      }
      isum += sc[2 * c] * lo + sc[2 * c + 1] * hi;
    }
    s += h2f(a[i].d) * b[i].d * static_cast<float>(isum) -
         h2f(a[i].dmin) * b[i].d * static_cast<float>(k_min_term(mn, b[i].bsums));
  }
  return s;
}

[[maybe_unused]] float dot_q5_k_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_K*>(w);
  const auto* b = static_cast<const BlockQ8K*>(x);
  float s = 0.0f;
  for (size_t i = 0; i < n / kQK_K; ++i) {
    uint8_t sc[8], mn[8];
    k_scales(a[i].scales, sc, mn);
    int isum = 0;
    for (int c = 0; c < 4; ++c) {
      int lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        const int h = a[i].qh[l] >> (2 * c);
        lo += ((a[i].qs[32 * c + l] & 0x0f) | ((h & 1) << 4)) * b[i].qs[64 * c + l];
        hi += ((a[i].qs[32 * c + l] >> 4) | ((h & 2) << 3)) * b[i].qs[64 * c + 32 + l];
      }
      isum += sc[2 * c] * lo + sc[2 * c + 1] * hi;
    }
    s += h2f(a[i].d) * b[i].d * static_cast<float>(isum) -
         h2f(a[i].dmin) * b[i].d * static_cast<float>(k_min_term(mn, b[i].bsums));
  }
  return s;
}

// Q6_K: sum over the 16 sub-blocks of sc[j] * sum((q - 32) * x), the -32
// coming with the activations (BlockQ8KQ6::off).
// The only Q6_K dot product: every SIMD path has a tile kernel for it, which
// matvec uses instead. The activations are BlockQ8KQ6 (quant_types.hpp).
float dot_q6_k_portable(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ6_K*>(w);
  const auto* b = static_cast<const BlockQ8KQ6*>(x);
  float s = 0.0f;
  for (size_t i = 0; i < n / kQK_K; ++i) {
    int g[16] = {};  // per sub-block: (levels - 32) . activations
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = a[i].ql + 64 * half;
      const uint8_t* qh = a[i].qh + 32 * half;
      for (int l = 0; l < 32; ++l) {
        const int q[4] = {(ql[l] & 0x0f) | ((qh[l] & 3) << 4), (ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4),
                          (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4), (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)};
        for (int k = 0; k < 4; ++k) {
          const size_t e = static_cast<size_t>(128 * half + 32 * k + l);
          g[e / 16] += q[k] * b[i].qs[q6k_act_index(e)];
        }
      }
    }
    int isum = 0;
    for (size_t j = 0; j < 16; ++j) isum += a[i].scales[j] * (g[j] + b[i].off[q6k_lane(j)]);
    s += h2f(a[i].d) * b[i].d * static_cast<float>(isum);
  }
  return s;
}

#if defined(GEMMA4_X86_SIMD)
// =============================================================== x86 SIMD
// 256-bit integer code serves both AVX2 and AVX-512 (where the compiler may
// use EVEX encodings); the float dot products get 512-bit versions.

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

float amax_of(const float* x, size_t n) {  // n a multiple of 32
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (size_t j = 0; j < n; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Quantizes 32 floats (times inv) to int8 at out; returns the integer sums of
// the first and second 16.
void quantize32(const float* x, __m256 inv, int8_t* out, int& sum_lo, int& sum_hi) {
  const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), inv));
  const __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), inv));
  const __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), inv));
  const __m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), inv));
  // packs work within 128-bit lanes; the permute restores element order.
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  const __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), q);
  sum_lo = hsum_i32(_mm256_add_epi32(a, b));
  sum_hi = hsum_i32(_mm256_add_epi32(c, d));
}

void quantize_q8a_simd(const float* x, size_t n, void* out) {
  auto* b = static_cast<BlockQ8A*>(out);
  for (size_t i = 0; i < n / kQK; ++i, x += kQK) {
    float d, inv;
    act_scale(amax_of(x, kQK), d, inv);
    int lo, hi;
    quantize32(x, _mm256_set1_ps(inv), b[i].qs, lo, hi);
    b[i].d = d;
    b[i].sum = d * static_cast<float>(lo + hi);
  }
}

void quantize_q8k_simd(const float* x, size_t n, void* out) {
  auto* b = static_cast<BlockQ8K*>(out);
  for (size_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float d, inv;
    act_scale(amax_of(x, kQK_K), d, inv);
    const __m256 vinv = _mm256_set1_ps(inv);
    for (int c = 0; c < kQK_K / 32; ++c) {
      int lo, hi;
      quantize32(x + 32 * c, vinv, b[i].qs + 32 * c, lo, hi);
      b[i].bsums[2 * c] = static_cast<int16_t>(lo);
      b[i].bsums[2 * c + 1] = static_cast<int16_t>(hi);
    }
    b[i].d = d;
  }
}

// Sum of unsigned w (0..127) * signed x over 32 byte pairs, as 8 int32
// partial sums.
__m256i dot_u8(__m256i w, __m256i x) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
}

// The 32 nibbles of a legacy block in element order (low nibbles first).
__m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// 0x10 in byte i where bit i of the 32-bit qh is set.
__m256i fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i mask = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

__m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

float dot_q4_1_simd(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ4_1*>(w);
  const auto* b = static_cast<const BlockQ8A*>(x);
  __m256 acc = _mm256_setzero_ps();
  float offsets = 0.0f;
  for (size_t i = 0; i < n / kQK; ++i) {
    const __m256 p = _mm256_cvtepi32_ps(dot_u8(unpack_nibbles(a[i].qs), load256(b[i].qs)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * b[i].d), p, acc);
    offsets += h2f(a[i].m) * b[i].sum;
  }
  return hsum(acc) + offsets;
}

float dot_q5_0_simd(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_0*>(w);
  const auto* b = static_cast<const BlockQ8A*>(x);
  __m256 acc = _mm256_setzero_ps();
  float offsets = 0.0f;
  for (size_t i = 0; i < n / kQK; ++i) {
    const float d = h2f(a[i].d);
    const __m256i q = _mm256_or_si256(unpack_nibbles(a[i].qs), fifth_bits(a[i].qh));
    const __m256 p = _mm256_cvtepi32_ps(dot_u8(q, load256(b[i].qs)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * b[i].d), p, acc);
    offsets += d * b[i].sum;
  }
  return hsum(acc) - 16.0f * offsets;
}

float dot_q5_1_simd(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_1*>(w);
  const auto* b = static_cast<const BlockQ8A*>(x);
  __m256 acc = _mm256_setzero_ps();
  float offsets = 0.0f;
  for (size_t i = 0; i < n / kQK; ++i) {
    const __m256i q = _mm256_or_si256(unpack_nibbles(a[i].qs), fifth_bits(a[i].qh));
    const __m256 p = _mm256_cvtepi32_ps(dot_u8(q, load256(b[i].qs)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * b[i].d), p, acc);
    offsets += h2f(a[i].m) * b[i].sum;
  }
  return hsum(acc) + offsets;
}

// K-quants: one chunk of 64 elements = 32 unsigned levels for sub-block s
// (lo) and 32 for sub-block s + 1 (hi), each weighted by its 6-bit scale.
__m256i k_chunk(__m256i lo, __m256i hi, const int8_t* xq, int sc_lo, int sc_hi) {
  const __m256i plo = _mm256_maddubs_epi16(lo, load256(xq));
  const __m256i phi = _mm256_maddubs_epi16(hi, load256(xq + 32));
  return _mm256_add_epi32(_mm256_madd_epi16(plo, _mm256_set1_epi16(static_cast<short>(sc_lo))),
                          _mm256_madd_epi16(phi, _mm256_set1_epi16(static_cast<short>(sc_hi))));
}

// sum over sub-blocks j of mn[j] * (bsums[2j] + bsums[2j + 1]).
int k_min_term_simd(const uint8_t mn[8], const int16_t* bsums) {
  const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums));
  const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 8));
  const __m128i pairs = _mm_hadd_epi16(b0, b1);  // |pair| <= 2 * 16 * 128: fits int16
  uint64_t m8;
  std::memcpy(&m8, mn, 8);
  __m128i prod = _mm_madd_epi16(pairs, _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(m8))));
  prod = _mm_add_epi32(prod, _mm_shuffle_epi32(prod, _MM_SHUFFLE(1, 0, 3, 2)));
  prod = _mm_add_epi32(prod, _mm_shuffle_epi32(prod, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(prod);
}

float dot_q5_k_simd(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const BlockQ5_K*>(w);
  const auto* b = static_cast<const BlockQ8K*>(x);
  const __m256i low4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (size_t i = 0; i < n / kQK_K; ++i) {
    uint8_t sc[8], mn[8];
    k_scales(a[i].scales, sc, mn);
    const __m256i qh = load256(a[i].qh);
    __m256i isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(a[i].qs + 32 * c);
      // Bit 2c of qh[l] (lo) and bit 2c + 1 (hi), moved to bit 4.
      const __m256i h = _mm256_srli_epi16(qh, 2 * c);
      const __m256i hlo = _mm256_and_si256(_mm256_slli_epi16(h, 4), bit4);
      const __m256i hhi = _mm256_and_si256(_mm256_slli_epi16(h, 3), bit4);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, low4), hlo);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), hhi);
      isum = _mm256_add_epi32(isum, k_chunk(lo, hi, b[i].qs + 64 * c, sc[2 * c], sc[2 * c + 1]));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * b[i].d), _mm256_cvtepi32_ps(isum), acc);
    mins += h2f(a[i].dmin) * b[i].d * static_cast<float>(k_min_term_simd(mn, b[i].bsums));
  }
  return hsum(acc) - mins;
}

#if defined(__AVX512F__)
// GCC 12's own AVX-512 headers trip -Wuninitialized on their _mm512_undefined_*
// helpers (a known compiler false positive); silence it for these functions.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// 16 floats per step; the tail uses a masked load (no scalar loop).
template <typename Load>
float dot_float512(size_t n, const float* x, Load load) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(load(i, __mmask16(0xffff)), _mm512_loadu_ps(x + i), acc0);
    acc1 = _mm512_fmadd_ps(load(i + 16, __mmask16(0xffff)), _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(load(i, m), _mm512_maskz_loadu_ps(m, x + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_f32_simd(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  return dot_float512(n, static_cast<const float*>(x),
                      [a](size_t i, __mmask16 m) { return _mm512_maskz_loadu_ps(m, a + i); });
}

float dot_f16_simd(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  return dot_float512(n, static_cast<const float*>(x),
                      [a](size_t i, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, a + i)); });
}

// 32 BF16 weights per 512-bit load: shifting each 32-bit lane left by 16
// gives the even elements as floats, masking off the low half the odd ones;
// the activations are already split the same way (bf16_pairs).
float dot_bf16_simd(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const float*>(x);
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i v = _mm512_loadu_si512(a + i);
    acc0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, high)), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) {  // the tail is in natural order
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, a + i));
    acc0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)), _mm512_maskz_loadu_ps(m, b + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}
#pragma GCC diagnostic pop
#else
// 8 floats per step with two accumulators, scalar tail.
template <typename Load, typename LoadOne>
float dot_float256(size_t n, const float* x, Load load, LoadOne load_one) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(load(i + 8), _mm256_loadu_ps(x + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(x + i), acc0);
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += load_one(i) * x[i];
  return s;
}

float dot_f32_simd(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const float*>(w);
  return dot_float256(
      n, static_cast<const float*>(x), [a](size_t i) { return _mm256_loadu_ps(a + i); },
      [a](size_t i) { return a[i]; });
}

float dot_f16_simd(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  return dot_float256(
      n, static_cast<const float*>(x),
      [a](size_t i) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i))); },
      [a](size_t i) { return h2f(a[i]); });
}

// As the AVX-512 version, 16 weights per 256-bit load: the even elements of
// weights i..i+15 meet activations at offset 8h of their run of 32 (h = which
// half), the odd ones 16 further.
float dot_bf16_simd(size_t n, const void* w, const void* x) {
  const auto* a = static_cast<const uint16_t*>(w);
  const auto* b = static_cast<const float*>(x);
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (size_t h = 0; h < 2; ++h) {
      const __m256i v = load256(a + i + 16 * h);
      acc0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), _mm256_loadu_ps(b + i + 8 * h), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v, high)), _mm256_loadu_ps(b + i + 16 + 8 * h), acc1);
    }
  }
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += bf2f(a[i]) * b[i];
  return s;
}
#endif  // __AVX512F__

// order_bf16_portable with permutes: a run of 32 is 2 (4) loads.
void order_bf16_simd(const float* x, size_t n, void* out) {
  auto* o = static_cast<float*>(out);
  size_t i = 0;
#if defined(__AVX512F__)
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (; i + 32 <= n; i += 32) {
    const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    _mm512_storeu_ps(o + i, _mm512_permutex2var_ps(a, even, b));
    _mm512_storeu_ps(o + i + 16, _mm512_permutex2var_ps(a, odd, b));
  }
#else
  // Each 8 values as their 4 even ones, then their 4 odd ones; then the
  // halves of two such vectors are paired up.
  const __m256i split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  for (; i + 32 <= n; i += 32) {
    __m256 v[4];
    for (int k = 0; k < 4; ++k) v[k] = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + i + 8 * k), split);
    _mm256_storeu_ps(o + i, _mm256_permute2f128_ps(v[0], v[1], 0x20));
    _mm256_storeu_ps(o + i + 8, _mm256_permute2f128_ps(v[2], v[3], 0x20));
    _mm256_storeu_ps(o + i + 16, _mm256_permute2f128_ps(v[0], v[1], 0x31));
    _mm256_storeu_ps(o + i + 24, _mm256_permute2f128_ps(v[2], v[3], 0x31));
  }
#endif
  std::memcpy(o + i, x + i, (n - i) * sizeof(float));
}

constexpr MatmulTable kTable = {
    quantize_q8a_simd, quantize_q8k_simd, order_bf16_simd, dot_f32_simd,      dot_f16_simd,
    dot_bf16_simd,     dot_q4_0_portable, dot_q4_1_simd,   dot_q5_0_simd,     dot_q5_1_simd,
    dot_q8_0_portable, dot_q4_k_portable, dot_q5_k_simd,   dot_q6_k_portable,
};
#else
constexpr MatmulTable kTable = {
    quantize_q8a_portable, quantize_q8k_portable, order_bf16_portable, dot_f32_portable,  dot_f16_portable,
    dot_bf16_portable,     dot_q4_0_portable,     dot_q4_1_portable,   dot_q5_0_portable, dot_q5_1_portable,
    dot_q8_0_portable,     dot_q4_k_portable,     dot_q5_k_portable,   dot_q6_k_portable,
};
#endif

}  // namespace

const MatmulTable& matmul_table() {
  return kTable;
}

}  // namespace gemma4::kernels::GEMMA4_ISA_NS
