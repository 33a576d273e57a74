// Register-blocked tiles: R weight rows times T activation rows per pass, for
// the types where the one-row dot product (matmul_isa.cpp) runs out of
// instructions before it runs out of memory bandwidth. One pass loads and
// unpacks each weight block once for T tokens and each activation block once
// for R rows, and the block scales of 8 blocks are converted together.
//
// Every (row, token) accumulator sees the same operations in the same order
// whatever R, T and the split into tiles are, so a tile's results are
// bitwise identical to the one-row, one-token call: matvec and matmul agree,
// and the thread count does not change a bit.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/kernel_table.hpp"
#include "kernels/cpu/quant_types.hpp"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace gemma4::kernels::GEMMA4_ISA_NS {
namespace {

#if defined(__AVX2__)

// Tokens per tile: AVX-512 has 32 vector registers, AVX2 16.
#if defined(__AVX512F__)
constexpr int kMaxT = 4;
#else
constexpr int kMaxT = 2;
#endif
constexpr int kMaxR = 4;
constexpr int kGroup = 8;  // blocks whose scales are converted together
static_assert(kGroup == kChunkGroup, "Q4_0's chunk order is per group");

float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Scales of blocks 0..7 of a row of 32-element blocks (d first) as floats.
template <typename Block>
__m256 scales8(const Block* row) {
  __m128i h = _mm_cvtsi32_si128(row[0].d);
  h = _mm_insert_epi16(h, row[1].d, 1);
  h = _mm_insert_epi16(h, row[2].d, 2);
  h = _mm_insert_epi16(h, row[3].d, 3);
  h = _mm_insert_epi16(h, row[4].d, 4);
  h = _mm_insert_epi16(h, row[5].d, 5);
  h = _mm_insert_epi16(h, row[6].d, 6);
  h = _mm_insert_epi16(h, row[7].d, 7);
  return _mm256_cvtph_ps(h);
}

__m256i load_x(const int8_t* x) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
}

// Sums of 4 adjacent products of unsigned u and signed s bytes, as 8 int32.
// Exact either way here (|u| <= 128, |s| <= 127: the int16 pair sums of
// maddubs cannot saturate), so both builds give the same bits.
__m256i dot_u8_i8(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// What a tile needs to know about a 32-element weight type. The activations
// come in chunk order (quant_types.hpp): in a run of four blocks a, b, c, d,
// block k's qs hold chunk k (elements 8k..8k+7) of all four. chunks() puts
// four weight blocks into the same order, once per row for all tokens, and
// dot4() sums the four chunk products so that int32 lanes 0-1 hold block a,
// 2-3 block b, 4-5 c and 6-7 d: one convert and one FMA then finish four
// blocks. kChunkOffset is the constant level offset of those operands
// (weight = d * (q - offset)), applied through BlockQ8A::sum. Blocks past the
// last full group are in element order and go one at a time through
// unpack() and dot(), with offset kOffset.
//
// kMultiRowGemv: whether a single token is also worth kMaxR rows per pass.
// Neither is now. Q8_0 is bound by memory, and one sequential row streams
// 22.9 GB/s per core against 8.7 for four interleaved ones (bench_kernels,
// 262144 x 1536, Zen 4). Q4_0 was bound by instructions while it summed one
// or two blocks per accumulator, and four rows won (15.0 against 11.9 GB/s);
// with four blocks per accumulator one row streams faster: 29-30 GB/s
// against 22-23 at 2 threads (0.97-0.99 of the roof against 0.73-0.74).
struct Q4_0Traits {
  using Block = BlockQ4_0;
  static constexpr float kOffset = 8.0f, kChunkOffset = 8.0f;
  static constexpr bool kMultiRowGemv = false;
  struct Unpacked {
    __m256i q;  // the 32 levels 0..15 in element order
  };
  static Unpacked unpack(const Block& b) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
    return {_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f))};
  }
  static __m256i dot(const Unpacked& u, const int8_t* x) { return dot_u8_i8(u.q, load_x(x)); }

  // Bytes 0..7 of a block hold chunk 0 (low nibbles) and chunk 2 (high),
  // bytes 8..15 chunks 1 and 3.
  struct Chunks {
    __m256i c[4];
  };
  static Chunks chunks(const Block* q) {
    const __m256i ac =
        _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(q[2].qs), reinterpret_cast<const __m128i*>(q[0].qs));
    const __m256i bd =
        _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(q[3].qs), reinterpret_cast<const __m128i*>(q[1].qs));
    const __m256i first = _mm256_unpacklo_epi64(ac, bd);   // bytes 0..7 of a, b | c, d
    const __m256i second = _mm256_unpackhi_epi64(ac, bd);  // bytes 8..15
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    return {{_mm256_and_si256(first, low4), _mm256_and_si256(second, low4),
             _mm256_and_si256(_mm256_srli_epi16(first, 4), low4),
             _mm256_and_si256(_mm256_srli_epi16(second, 4), low4)}};
  }
  static __m256i dot4(const Chunks& w, const BlockQ8A* x) {
#if defined(__AVX512VNNI__)
    __m256i sum = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w.c[0], load_x(x[0].qs));
    for (int k = 1; k < 4; ++k) sum = _mm256_dpbusd_epi32(sum, w.c[k], load_x(x[k].qs));
    return sum;
#else
    // int16 sums of four maddubs stay below 4 x 2 x 15 x 128 in size: exact
    const __m256i s01 =
        _mm256_add_epi16(_mm256_maddubs_epi16(w.c[0], load_x(x[0].qs)), _mm256_maddubs_epi16(w.c[1], load_x(x[1].qs)));
    const __m256i s23 =
        _mm256_add_epi16(_mm256_maddubs_epi16(w.c[2], load_x(x[2].qs)), _mm256_maddubs_epi16(w.c[3], load_x(x[3].qs)));
    return _mm256_madd_epi16(_mm256_add_epi16(s01, s23), _mm256_set1_epi16(1));
#endif
  }
};

struct Q8_0Traits {
  using Block = BlockQ8_0;
  static constexpr bool kMultiRowGemv = false;
  static constexpr float kOffset = 0.0f;
  struct Unpacked {
    __m256i q, abs_q;  // maddubs wants an unsigned side: |q|, and q's sign moves to x
  };
  static Unpacked unpack(const Block& b) {
    const __m256i q = load_x(b.qs);
    return {q, _mm256_sign_epi8(q, q)};
  }
  static __m256i dot(const Unpacked& u, const int8_t* x) {
    return dot_u8_i8(u.abs_q, _mm256_sign_epi8(load_x(x), u.q));
  }

  // The four blocks' 32-byte runs, transposed in 8-byte chunks. With VNNI the
  // levels become unsigned (q + 128, offset 128: vpdpbusd adds in int32 and
  // cannot saturate); without it maddubs could (255 x 127 x 2 > 32767), so
  // the sign of q moves to x as in dot().
#if defined(__AVX512VNNI__)
  static constexpr float kChunkOffset = 128.0f;
#else
  static constexpr float kChunkOffset = 0.0f;
#endif
  struct Chunks {
    __m256i c[4];
  };
  static Chunks chunks(const Block* q) {
    const __m256i t0 = _mm256_unpacklo_epi64(load_x(q[0].qs), load_x(q[1].qs));  // a0 b0 | a2 b2
    const __m256i t1 = _mm256_unpackhi_epi64(load_x(q[0].qs), load_x(q[1].qs));  // a1 b1 | a3 b3
    const __m256i t2 = _mm256_unpacklo_epi64(load_x(q[2].qs), load_x(q[3].qs));  // c0 d0 | c2 d2
    const __m256i t3 = _mm256_unpackhi_epi64(load_x(q[2].qs), load_x(q[3].qs));  // c1 d1 | c3 d3
    Chunks w = {{_mm256_permute2x128_si256(t0, t2, 0x20), _mm256_permute2x128_si256(t1, t3, 0x20),
                 _mm256_permute2x128_si256(t0, t2, 0x31), _mm256_permute2x128_si256(t1, t3, 0x31)}};
#if defined(__AVX512VNNI__)
    for (auto& c : w.c) c = _mm256_xor_si256(c, _mm256_set1_epi8(static_cast<char>(0x80)));
#endif
    return w;
  }
  static __m256i dot4(const Chunks& w, const BlockQ8A* x) {
#if defined(__AVX512VNNI__)
    __m256i sum = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w.c[0], load_x(x[0].qs));
    for (int k = 1; k < 4; ++k) sum = _mm256_dpbusd_epi32(sum, w.c[k], load_x(x[k].qs));
    return sum;
#else
    __m256i sum = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      const __m256i p =
          _mm256_maddubs_epi16(_mm256_sign_epi8(w.c[k], w.c[k]), _mm256_sign_epi8(load_x(x[k].qs), w.c[k]));
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
    }
    return sum;
#endif
  }
};

// Touches the next tile's weights (pf, pf_bytes) a slice per group of blocks,
// so they arrive while this tile computes: tiles of short rows are too short
// for the hardware prefetcher to pick up their streams.
// Single rows get none: one sequential stream is what the hardware prefetcher
// follows best (Q8_0: 22.9 GB/s per core without, 19.7 with).
struct Prefetch {
  const unsigned char* p = nullptr;
  size_t bytes = 0;
  size_t step = 1;  // bytes per group
  void slice(size_t g) const {
    const size_t end = std::min(bytes, (g + 1) * step);
    for (size_t off = g * step; off < end; off += 64) _mm_prefetch(reinterpret_cast<const char*>(p + off), _MM_HINT_T0);
  }
};

// Over a block, sum of d_w (q - o) * d_x x_q = d_w d_x (q . x_q) - o d_w
// (d_x sum x_q): the second term uses BlockQ8A::sum and goes into the same
// accumulator lanes, which are all added at the end anyway. A group of 8
// blocks is two runs of four in chunk order. Four blocks per accumulator
// (against two, lanes 0-3 and 4-7, before): single-thread Q4_0 GEMM on the
// E4B/31B shapes went from 116-128 to 137-145 GFLOP/s.
template <typename Tr, int R, int T>
void tile32(size_t nb, const typename Tr::Block* const* w, const BlockQ8A* const* x, float* const* y,
            const Prefetch& pf) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  alignas(32) float s[R][T][kGroup];  // d_w * d_x per block of the group

  size_t i = 0;
  for (; i + kGroup <= nb; i += kGroup) {
    pf.slice(i / kGroup);
    __m256 dx[T], neg_sum[T];
    for (int t = 0; t < T; ++t) {
      const float* ds = chunked_scales(x[t], nb);  // d[nb], then sum[nb]
      dx[t] = _mm256_loadu_ps(ds + i);
      if constexpr (Tr::kChunkOffset != 0.0f) {
        neg_sum[t] = _mm256_mul_ps(_mm256_set1_ps(-Tr::kChunkOffset), _mm256_loadu_ps(ds + nb + i));
      }
    }
    for (int r = 0; r < R; ++r) {
      const __m256 dw = scales8(w[r] + i);
      for (int t = 0; t < T; ++t) {
        _mm256_store_ps(s[r][t], _mm256_mul_ps(dw, dx[t]));
        if constexpr (Tr::kChunkOffset != 0.0f) acc[r][t] = _mm256_fmadd_ps(dw, neg_sum[t], acc[r][t]);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const size_t k = i + 4 * static_cast<size_t>(h);
      const __m256i pick =
          _mm256_setr_epi32(4 * h, 4 * h, 4 * h + 1, 4 * h + 1, 4 * h + 2, 4 * h + 2, 4 * h + 3, 4 * h + 3);
      // Unrolled so that acc[r][t] stays in registers: GCC 12 keeps the
      // accumulators of a rolled row loop in memory (single-thread GEMM:
      // Q4_0 +5 %, Q5_K and Q6_K +20 %, the Q4_K tile below +20 %).
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const typename Tr::Chunks c = Tr::chunks(w[r] + k);
        for (int t = 0; t < T; ++t) {
          const __m256 sc = _mm256_permutevar8x32_ps(_mm256_load_ps(s[r][t]), pick);
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Tr::dot4(c, x[t] + k)), sc, acc[r][t]);
        }
      }
    }
  }
  if (nb < kGroup) pf.slice(0);
  // Leftover blocks, in element order, one at a time.
  for (; i < nb; ++i) {
    for (int r = 0; r < R; ++r) {
      const float dw = _cvtsh_ss(w[r][i].d);
      const typename Tr::Unpacked u = Tr::unpack(w[r][i]);
      for (int t = 0; t < T; ++t) {
        const BlockQ8A& b = x[t][i];
        if constexpr (Tr::kOffset != 0.0f) {
          acc[r][t] = _mm256_add_ps(acc[r][t], _mm256_setr_ps(-Tr::kOffset * dw * b.sum, 0, 0, 0, 0, 0, 0, 0));
        }
        const __m256 p = _mm256_cvtepi32_ps(Tr::dot(u, b.qs));
        acc[r][t] = _mm256_fmadd_ps(p, _mm256_set1_ps(dw * b.d), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t][r] = hsum8(acc[r][t]);
}

// ------------------------------------------------------------ K-quants
// The 256-element types share one tile loop (tile_k, after Q6_K): a traits
// type's unpack() runs once per (row, super-block) into its Row, and
// accumulate() adds one token's super-block to an accumulator. Q5_K's Row
// holds eight runs of 32 levels in element order and an int16 scale vector
// per run; Q4_K and Q6_K keep each sub-block in lanes of its own so that
// their scales are applied once per super-block instead of once per run.

struct KUnpacked {
  __m256i lv[8], scale[8];
  __m256i mn16;  // each sub-block's min twice, against bsums' 16-element groups
  float d, dmin;
};

// The int16 products of maddubs cannot saturate (levels <= 63, |x| <= 127)
// and their scaled pair sums are exact in int32, so vpdpwssd (VNNI: multiply
// by the scales and accumulate in one instruction) gives the same bits.
__m256i k_levels_dot(const KUnpacked& u, const int8_t* xq) {
  __m256i isum = _mm256_setzero_si256();
  for (int j = 0; j < 8; ++j) {
    const __m256i p = _mm256_maddubs_epi16(u.lv[j], load_x(xq + 32 * j));
#if defined(__AVX512VNNI__)
    isum = _mm256_dpwssd_epi32(isum, p, u.scale[j]);
#else
    isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, u.scale[j]));
#endif
  }
  return isum;
}

__m256i load_bsums(const BlockQ8K& b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.bsums));
}

// Q5_K: Q4_K's levels plus a fifth bit: bit j of qh[l] belongs to element l
// of sub-block j. Shifting qh within 16-bit lanes and keeping bit 4 of each
// byte never mixes bits of neighbouring bytes for these shift counts.
struct Q5_KTraits {
  using Block = BlockQ5_K;
  using Act = BlockQ8K;
  using Row = KUnpacked;
  static void unpack(const Block& b, KUnpacked& u) {
    uint8_t sc[8], mn[8];
    k_scales(b.scales, sc, mn);
    const __m256i low4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
    const __m256i qh = load_x(reinterpret_cast<const int8_t*>(b.qh));
    __m256i hb[8];
    hb[0] = _mm256_slli_epi16(qh, 4);
    hb[1] = _mm256_slli_epi16(qh, 3);
    hb[2] = _mm256_slli_epi16(qh, 2);
    hb[3] = _mm256_slli_epi16(qh, 1);
    hb[4] = qh;
    hb[5] = _mm256_srli_epi16(qh, 1);
    hb[6] = _mm256_srli_epi16(qh, 2);
    hb[7] = _mm256_srli_epi16(qh, 3);
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load_x(reinterpret_cast<const int8_t*>(b.qs) + 32 * c);
      u.lv[2 * c] = _mm256_or_si256(_mm256_and_si256(q, low4), _mm256_and_si256(hb[2 * c], bit4));
      u.lv[2 * c + 1] =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), _mm256_and_si256(hb[2 * c + 1], bit4));
    }
    for (int j = 0; j < 8; ++j) u.scale[j] = _mm256_set1_epi16(sc[j]);
    uint64_t m8;
    std::memcpy(&m8, mn, 8);
    const __m128i m = _mm_cvtsi64_si128(static_cast<long long>(m8));
    u.mn16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m));
    u.d = _cvtsh_ss(b.d);
    u.dmin = _cvtsh_ss(b.dmin);
  }
  static __m256 accumulate(const KUnpacked& u, const BlockQ8K& x, __m256 dx, __m256 acc) {
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(k_levels_dot(u, x.qs)), _mm256_mul_ps(_mm256_set1_ps(u.d), dx), acc);
    const __m256i mins = _mm256_madd_epi16(u.mn16, load_bsums(x));
    return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_mul_ps(_mm256_set1_ps(u.dmin), dx), acc);
  }
};

// ----------------------------------------------------------------- Q4_K
// Q4_K with activations in K-chunk order (quant_types.hpp). A super-block's
// four 32-byte chunks, transposed as 4 x 4 pieces of 8 bytes, give four
// registers whose piece p holds 8 bytes of chunk p: their low nibbles are
// 8 levels of sub-block 2p, their high nibbles 8 levels of sub-block 2p + 1.
// Four byte dot products per nibble half then leave sub-block 2p (or 2p + 1)
// alone in int32 lanes 2p and 2p + 1, so the eight scales are applied once
// per super-block (Q4_KTraits::accumulate), where multiplying per sub-block
// (maddubs, then vpdpwssd by the scale) cost two multiply instructions per
// 32 products. Single-thread GEMM (bench_kernels, 512 tokens): 105-110
// GFLOP/s before, 150-165 after (with the unrolled rows). Both paths leave
// the same int32 lanes.
struct Q4KRow {
  __m256i lv[8];  // [2g]: low nibbles of piece row g; [2g + 1]: high nibbles
  __m256i sc16;   // int16 scales against packs(lo, hi): sc0 sc0 sc2 sc2 sc1 sc1 sc3 sc3 | 4 4 6 6 5 5 7 7
  __m256i mn16;   // each sub-block's min twice, against bsums' 16-element groups
  __m256 dd;      // d d -dmin -dmin | d d -dmin -dmin: the lanes of hadd(scaled sums, mins)
};

[[gnu::always_inline]] inline void unpack_q4k(const BlockQ4_K& b, Q4KRow& u) {
  const auto* qs = reinterpret_cast<const int8_t*>(b.qs);
  const __m256i q0 = load_x(qs), q1 = load_x(qs + 32), q2 = load_x(qs + 64), q3 = load_x(qs + 96);
  const __m256i t0 = _mm256_unpacklo_epi64(q0, q1);  // q0.0 q1.0 | q0.2 q1.2 (chunk.piece)
  const __m256i t1 = _mm256_unpackhi_epi64(q0, q1);  // q0.1 q1.1 | q0.3 q1.3
  const __m256i t2 = _mm256_unpacklo_epi64(q2, q3);
  const __m256i t3 = _mm256_unpackhi_epi64(q2, q3);
  const __m256i rows[4] = {_mm256_permute2x128_si256(t0, t2, 0x20), _mm256_permute2x128_si256(t1, t3, 0x20),
                           _mm256_permute2x128_si256(t0, t2, 0x31), _mm256_permute2x128_si256(t1, t3, 0x31)};
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (int g = 0; g < 4; ++g) {
    u.lv[2 * g] = _mm256_and_si256(rows[g], low4);
    u.lv[2 * g + 1] = _mm256_and_si256(_mm256_srli_epi16(rows[g], 4), low4);
  }
  uint8_t sc[8], mn[8];
  k_scales(b.scales, sc, mn);
  uint64_t s8, m8;
  std::memcpy(&s8, sc, 8);
  std::memcpy(&m8, mn, 8);
  const __m128i s = _mm_shuffle_epi8(_mm_cvtsi64_si128(static_cast<long long>(s8)),
                                     _mm_setr_epi8(0, 0, 2, 2, 1, 1, 3, 3, 4, 4, 6, 6, 5, 5, 7, 7));
  u.sc16 = _mm256_cvtepu8_epi16(s);
  const __m128i m = _mm_cvtsi64_si128(static_cast<long long>(m8));
  u.mn16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m));
  const float d = _cvtsh_ss(b.d), dmin = _cvtsh_ss(b.dmin);
  u.dd = _mm256_setr_ps(d, d, -dmin, -dmin, d, d, -dmin, -dmin);
}

// Levels x activations of the even sub-blocks (lo) and the odd ones (hi),
// each sub-block in its two int32 lanes. Exact on both paths and the same
// per lane: the byte-pair sums of maddubs cannot saturate (2 x 15 x 127),
// four of them stay below 2^15, and madd by 1 sums the same four-byte groups
// that vpdpbusd does.
struct Q4KDots {
  __m256i lo, hi;
};
[[gnu::always_inline]] inline Q4KDots q4k_dot(const Q4KRow& u, const int8_t* xq) {
#if defined(__AVX512VNNI__)
  __m256i lo = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u.lv[0], load_x(xq));
  __m256i hi = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u.lv[1], load_x(xq + 32));
  for (int g = 1; g < 4; ++g) {
    lo = _mm256_dpbusd_epi32(lo, u.lv[2 * g], load_x(xq + 64 * g));
    hi = _mm256_dpbusd_epi32(hi, u.lv[2 * g + 1], load_x(xq + 64 * g + 32));
  }
  return {lo, hi};
#else
  __m256i lo = _mm256_maddubs_epi16(u.lv[0], load_x(xq));
  __m256i hi = _mm256_maddubs_epi16(u.lv[1], load_x(xq + 32));
  for (int g = 1; g < 4; ++g) {
    lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(u.lv[2 * g], load_x(xq + 64 * g)));
    hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(u.lv[2 * g + 1], load_x(xq + 64 * g + 32)));
  }
  const __m256i one = _mm256_set1_epi16(1);
  return {_mm256_madd_epi16(lo, one), _mm256_madd_epi16(hi, one)};
#endif
}

struct Q4_KTraits {
  using Block = BlockQ4_K;
  using Act = BlockQ8K;
  using Row = Q4KRow;
  static void unpack(const Block& b, Q4KRow& u) { unpack_q4k(b, u); }
  // |lo|, |hi| <= 4 x 4 x 15 x 127 fit int16, so one packs and one madd apply
  // all eight scales (pairs of lanes of one sub-block); hadd then puts the
  // scaled sums beside the mins, and one convert and one FMA (d for the one,
  // -dmin for the other) finish the super-block.
  static __m256 accumulate(const Q4KRow& u, const BlockQ8K& x, __m256 dx, __m256 acc) {
    const Q4KDots p = q4k_dot(u, x.qs);
    const __m256i scaled = _mm256_madd_epi16(_mm256_packs_epi32(p.lo, p.hi), u.sc16);
    const __m256i mins = _mm256_madd_epi16(u.mn16, load_bsums(x));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_hadd_epi32(scaled, mins)), _mm256_mul_ps(u.dd, dx), acc);
  }
};

// ----------------------------------------------------------------- Q6_K
// Q6_K with BlockQ8KQ6 activations (quant_types.hpp). The levels are built
// as 32-element runs (run j: sub-block 2j in its low 128-bit lane, 2j + 1
// in its high one); an in-lane 4 x 4 transpose of four runs leaves int32
// lane l of register k holding elements 4k..4k+3 of one sub-block, so four
// byte dot products sum each of 8 sub-blocks in one lane, starting from the
// activations' level offset, and two float multiplies per super-block apply
// the 16 scales (maddubs, then vpdpwssd per 32-element run, before).
struct Q6KRow {
  __m256i w[8];  // [4h + k]: half h of the super-block, register k
  __m256 s[2];   // d x scale of the sub-block in each lane, per half
};

[[gnu::always_inline]] inline void transpose4x4_epi32(__m256i& a, __m256i& b, __m256i& c, __m256i& d) {
  const __m256i ab_lo = _mm256_unpacklo_epi32(a, b), ab_hi = _mm256_unpackhi_epi32(a, b);
  const __m256i cd_lo = _mm256_unpacklo_epi32(c, d), cd_hi = _mm256_unpackhi_epi32(c, d);
  a = _mm256_unpacklo_epi64(ab_lo, cd_lo);
  b = _mm256_unpackhi_epi64(ab_lo, cd_lo);
  c = _mm256_unpacklo_epi64(ab_hi, cd_hi);
  d = _mm256_unpackhi_epi64(ab_hi, cd_hi);
}

[[gnu::always_inline]] inline void unpack_q6k(const BlockQ6_K& b, Q6KRow& u) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), top2 = _mm256_set1_epi8(0x30);
  for (int h = 0; h < 2; ++h) {
    const auto* ql = reinterpret_cast<const int8_t*>(b.ql) + 64 * h;
    const __m256i ql0 = load_x(ql), ql1 = load_x(ql + 32);
    const __m256i qh = load_x(reinterpret_cast<const int8_t*>(b.qh) + 32 * h);
    __m256i* lv = u.w + 4 * h;  // level runs 4h..4h+3, then transposed in place
    lv[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), top2));
    lv[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), top2));
    lv[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, top2));
    lv[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                            _mm256_and_si256(_mm256_srli_epi16(qh, 2), top2));
    transpose4x4_epi32(lv[0], lv[1], lv[2], lv[3]);
  }
  // Scales in lane order: 0 2 4 6 1 3 5 7, then the same plus 8.
  const __m128i sc = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)),
                                      _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15));
  const __m256 d = _mm256_set1_ps(_cvtsh_ss(b.d));
  u.s[0] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));
  u.s[1] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8))));
}

// (levels - 32) . activations of the sub-block in each int32 lane, for half
// h. Exact on both paths and the same per lane: maddubs pair sums stay below
// 2 x 63 x 127, two of them below 2^15, and madd by 1 then sums the same
// four-byte groups that vpdpbusd does.
[[gnu::always_inline]] inline __m256i q6k_dot(const Q6KRow& u, const BlockQ8KQ6& x, int h) {
  const int8_t* xq = x.qs + 128 * h;
  const __m256i off = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.off + 8 * h));
  const __m256i* w = u.w + 4 * h;
#if defined(__AVX512VNNI__)
  __m256i sum = off;
  for (int k = 0; k < 4; ++k) sum = _mm256_dpbusd_epi32(sum, w[k], load_x(xq + 32 * k));
  return sum;
#else
  const __m256i one = _mm256_set1_epi16(1);
  const __m256i p01 =
      _mm256_add_epi16(_mm256_maddubs_epi16(w[0], load_x(xq)), _mm256_maddubs_epi16(w[1], load_x(xq + 32)));
  const __m256i p23 =
      _mm256_add_epi16(_mm256_maddubs_epi16(w[2], load_x(xq + 64)), _mm256_maddubs_epi16(w[3], load_x(xq + 96)));
  return _mm256_add_epi32(off, _mm256_add_epi32(_mm256_madd_epi16(p01, one), _mm256_madd_epi16(p23, one)));
#endif
}

struct Q6_KTraits {
  using Block = BlockQ6_K;
  using Act = BlockQ8KQ6;
  using Row = Q6KRow;
  static void unpack(const Block& b, Q6KRow& u) { unpack_q6k(b, u); }
  static __m256 accumulate(const Q6KRow& u, const BlockQ8KQ6& x, __m256 dx, __m256 acc) {
    for (int h = 0; h < 2; ++h) {
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q6k_dot(u, x, h)), _mm256_mul_ps(u.s[h], dx), acc);
    }
    return acc;
  }
};

// The loop of every 256-element tile: one unpack per (row, super-block),
// used by all T tokens; Tr::accumulate adds one token's super-block.
template <typename Tr, int R, int T>
void tile_k(size_t nb, const typename Tr::Block* const* w, const typename Tr::Act* const* x, float* const* y,
            const Prefetch& pf) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  typename Tr::Row u;
  for (size_t i = 0; i < nb; ++i) {
    pf.slice(i);
    __m256 dx[T];
    for (int t = 0; t < T; ++t) dx[t] = _mm256_set1_ps(x[t][i].d);
#pragma GCC unroll 4  // see tile32
    for (int r = 0; r < R; ++r) {
      Tr::unpack(w[r][i], u);
      for (int t = 0; t < T; ++t) acc[r][t] = Tr::accumulate(u, x[t][i], dx[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t][r] = hsum8(acc[r][t]);
}

// ----------------------------------------------------------------- BF16
// F32 arithmetic on BF16 weights: widening is a shift (even elements) or a
// mask (odd ones) of each 32-bit lane, and the activations come in the
// bf16_pairs order (matmul.cpp) so that both halves meet their inputs with
// plain loads. The tail past the last run of 32 is in natural order.
float bf16_to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

#if defined(__AVX512F__)
// GCC 12's own AVX-512 headers trip -Wmaybe-uninitialized on their
// _mm512_undefined_* helpers (a known false positive), as in matmul_isa.cpp.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// 512-bit: a run of 32 weights is one load; its even elements meet the 16
// activations at i, the odd ones the 16 at i + 16, both into the one
// accumulator of their (row, token).
//
// The T tokens' activations of a run are loaded into registers first; then
// the rows come one at a time, each widened once and met by all T tokens.
// With one accumulator per (row, token), 8 rows x 3 tokens fit in the 32
// registers (24 accumulators, 6 activation vectors, the widened row), and
// a run needs 8 weight and 6 activation loads for 48 FMAs. Both mostly come
// from L2 in a prefill: this load count, not the FMA rate, set the pace of
// the 4 x 2 tile with its two accumulators per element (16 FMAs for 8
// loads). Left to itself GCC folds the activation loads into the FMAs (one
// load per FMA) and loads each weight run twice (for the shift and the
// mask); the empty asm statements pin the loaded values in registers.
// Measured in docs/kernels.md.
//
// One token has a single chain of dependent FMAs per row; a memory-bound
// GEMV still streams at the same rate as with two chains (262144 x 1536,
// one and two cores).
//
// Never inlined: inside bf16_gemm's loops its 32 registers spill (E2B BF16
// pp512 160 -> 108 t/s when GCC inlined the 8 x 3 tile there).
template <int R, int T>
[[gnu::noinline]] void tile_bf16(size_t n, const uint16_t* const* w, const float* const* x, float* const* y,
                                 const Prefetch& pf) {
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    pf.slice(i / 32);
    __m512 x_even[T], x_odd[T];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      x_even[t] = _mm512_loadu_ps(x[t] + i);
      x_odd[t] = _mm512_loadu_ps(x[t] + i + 16);
      asm("" : "+v"(x_even[t]), "+v"(x_odd[t]));
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      __m512i v = _mm512_loadu_si512(w[r] + i);
      asm("" : "+v"(v));
      const __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
      const __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(v, high));
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        acc[r][t] = _mm512_fmadd_ps(even, x_even[t], acc[r][t]);
        acc[r][t] = _mm512_fmadd_ps(odd, x_odd[t], acc[r][t]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      float tail = 0.0f;
      for (size_t k = i; k < n; ++k) tail += bf16_to_float(w[r][k]) * x[t][k];
      y[t][r] = _mm512_reduce_add_ps(acc[r][t]) + tail;
    }
  }
}
#else
// 256-bit: two accumulators per (row, token), for the even and the odd
// elements; with 16 registers the tile is 2 x 2 and one chain of dependent
// FMAs would leave a single row (decode) latency-bound. Never inlined, as
// the 512-bit one.
template <int R, int T>
[[gnu::noinline]] void tile_bf16(size_t n, const uint16_t* const* w, const float* const* x, float* const* y,
                                 const Prefetch& pf) {
  const __m256i high = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  __m256 acc_even[R][T], acc_odd[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc_even[r][t] = acc_odd[r][t] = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    pf.slice(i / 32);
    for (size_t h = 0; h < 2; ++h) {  // as the 512-bit tile, in two halves
      __m256 even[R], odd[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r] + i + 16 * h));
        asm("" : "+x"(v));
        even[r] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        odd[r] = _mm256_castsi256_ps(_mm256_and_si256(v, high));
      }
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        __m256 x_even = _mm256_loadu_ps(x[t] + i + 8 * h), x_odd = _mm256_loadu_ps(x[t] + i + 16 + 8 * h);
        asm("" : "+x"(x_even), "+x"(x_odd));
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          acc_even[r][t] = _mm256_fmadd_ps(even[r], x_even, acc_even[r][t]);
          acc_odd[r][t] = _mm256_fmadd_ps(odd[r], x_odd, acc_odd[r][t]);
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      float tail = 0.0f;
      for (size_t k = i; k < n; ++k) tail += bf16_to_float(w[r][k]) * x[t][k];
      y[t][r] = hsum8(_mm256_add_ps(acc_even[r][t], acc_odd[r][t])) + tail;
    }
  }
}

#endif

template <typename Weight, typename Act>
using TileFn = void (*)(size_t, const Weight* const*, const Act* const*, float* const*, const Prefetch&);

// Runs the tile kernels over rows x tokens, y[t * ldy + r]: RowsPerTile rows
// x TokensPerTile tokens at a time, then the leftover rows one at a time, then
// the leftover tokens one at a time (RowsPerTile rows per pass after whole
// token tiles, see below). Single tokens (decode) go RowsPerTile rows at a
// time only where MultiRowGemv says so.
template <typename Weight, typename Act, TileFn<Weight, Act> TileRT, TileFn<Weight, Act> TileR1,
          TileFn<Weight, Act> Tile1T, TileFn<Weight, Act> Tile11, bool MultiRowGemv, int RowsPerTile = kMaxR,
          int TokensPerTile = kMaxT>
void run_tiles(size_t nb, size_t groups, const void* w, size_t w_stride, size_t rows, const void* x, size_t x_stride,
               size_t n_tok, float* y, size_t ldy) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* xb = static_cast<const unsigned char*>(x);
  groups = std::max<size_t>(groups, 1);  // Prefetch::slice calls per tile
  // The weights of rows [r, r + n), to prefetch while the tile before them runs.
  auto next = [&](size_t r, size_t n) {
    const size_t bytes = r < rows ? std::min(n, rows - r) * w_stride : 0;
    return Prefetch{wb + r * w_stride, bytes, (bytes + groups - 1) / groups};
  };
  auto row = [&](size_t r) { return reinterpret_cast<const Weight*>(wb + r * w_stride); };
  auto act = [&](size_t t) { return reinterpret_cast<const Act*>(xb + t * x_stride); };

  const Weight* wr[RowsPerTile];
  const Act* xt[TokensPerTile];
  float* yr[TokensPerTile];
  size_t t = 0;
  for (; t + TokensPerTile <= n_tok; t += TokensPerTile) {
    for (int k = 0; k < TokensPerTile; ++k) xt[k] = act(t + k);
    size_t r = 0;
    for (; r + RowsPerTile <= rows; r += RowsPerTile) {
      for (int k = 0; k < RowsPerTile; ++k) wr[k] = row(r + k);
      for (int k = 0; k < TokensPerTile; ++k) yr[k] = y + (t + k) * ldy + r;
      TileRT(nb, wr, xt, yr, next(r + RowsPerTile, RowsPerTile));
    }
    for (; r < rows; ++r) {
      wr[0] = row(r);
      for (int k = 0; k < TokensPerTile; ++k) yr[k] = y + (t + k) * ldy + r;
      Tile1T(nb, wr, xt, yr, Prefetch{});
    }
  }
  // Tokens left over after whole token tiles find the rows in cache (the
  // tiles just read them): several rows per pass then beat one dependent
  // chain per row whatever the type.
  const bool multi_row = MultiRowGemv || t > 0;
  for (; t < n_tok; ++t) {
    xt[0] = act(t);
    size_t r = 0;
    for (; multi_row && r + RowsPerTile <= rows; r += RowsPerTile) {
      for (int k = 0; k < RowsPerTile; ++k) wr[k] = row(r + k);
      yr[0] = y + t * ldy + r;
      TileR1(nb, wr, xt, yr, next(r + RowsPerTile, RowsPerTile));
    }
    for (; r < rows; ++r) {
      wr[0] = row(r);
      yr[0] = y + t * ldy + r;
      Tile11(nb, wr, xt, yr, Prefetch{});
    }
  }
}

template <typename Tr>
void tile_blocks32(size_t n, const void* w, size_t w_stride, size_t rows, const void* x, size_t x_stride, size_t n_tok,
                   float* y, size_t ldy) {
  using B = typename Tr::Block;
  run_tiles<B, BlockQ8A, tile32<Tr, kMaxR, kMaxT>, tile32<Tr, kMaxR, 1>, tile32<Tr, 1, kMaxT>, tile32<Tr, 1, 1>,
            Tr::kMultiRowGemv>(n / kQK, n / kQK / kGroup, w, w_stride, rows, x, x_stride, n_tok, y, ldy);
}

// K-quant rows are read one at a time for a single token: one sequential
// stream, as the 32-element Q8_0 (see kMultiRowGemv above).
template <typename Tr>
void tile_blocks256(size_t n, const void* w, size_t w_stride, size_t rows, const void* x, size_t x_stride, size_t n_tok,
                    float* y, size_t ldy) {
  using B = typename Tr::Block;
  run_tiles<B, typename Tr::Act, tile_k<Tr, kMaxR, kMaxT>, tile_k<Tr, kMaxR, 1>, tile_k<Tr, 1, kMaxT>, tile_k<Tr, 1, 1>,
            false>(n / kQK_K, n / kQK_K, w, w_stride, rows, x, x_stride, n_tok, y, ldy);
}

// Many tokens (prefill): groups of R rows (8 on AVX-512, 2 on AVX2) each
// run over all the tokens T at a time (3; 2), so a group's weights come in
// from memory once and stay in L1/L2 while the tokens pass. The next group's
// weights are prefetched meanwhile, a slice during each pass: without that
// every group began by waiting for its rows (one core, E2B's 6144 x 1536
// in a microbenchmark: 95 -> 102 GFLOP/s). Leftover rows go one at a time,
// leftover tokens one at a time over all R rows of the group.
template <int R, int T>
void bf16_gemm(size_t n, const unsigned char* w, size_t w_stride, size_t rows, const unsigned char* x, size_t x_stride,
               size_t n_tok, float* y, size_t ldy) {
  const size_t passes = n_tok / T, steps = std::max<size_t>(n / 32, 1);
  auto row = [&](size_t r) { return reinterpret_cast<const uint16_t*>(w + r * w_stride); };
  auto act = [&](size_t t) { return reinterpret_cast<const float*>(x + t * x_stride); };
  auto round64 = [](size_t b) { return (b + 63) / 64 * 64; };
  const uint16_t* wr[R];
  const float* xt[T];
  float* yt[T];
  size_t r = 0;
  for (; r + R <= rows; r += R) {
    for (int k = 0; k < R; ++k) wr[k] = row(r + k);
    const size_t next_bytes = std::min<size_t>(R, rows - r - R) * w_stride;
    const bool prefetch = passes > 0 && next_bytes > 0;
    const size_t share = prefetch ? round64((next_bytes + passes - 1) / passes) : 0;  // per pass
    const size_t per_step = std::max<size_t>(64, round64((share + steps - 1) / steps));
    for (size_t p = 0; p < passes; ++p) {
      for (int k = 0; k < T; ++k) xt[k] = act(p * T + k), yt[k] = y + (p * T + k) * ldy + r;
      const size_t first = p * share;
      const Prefetch pf = prefetch && first < next_bytes
                              ? Prefetch{w + (r + R) * w_stride + first, std::min(share, next_bytes - first), per_step}
                              : Prefetch{};
      tile_bf16<R, T>(n, wr, xt, yt, pf);
    }
    for (size_t t = passes * T; t < n_tok; ++t) {
      xt[0] = act(t), yt[0] = y + t * ldy + r;
      tile_bf16<R, 1>(n, wr, xt, yt, Prefetch{});
    }
  }
  for (; r < rows; ++r) {
    wr[0] = row(r);
    for (size_t p = 0; p < passes; ++p) {
      for (int k = 0; k < T; ++k) xt[k] = act(p * T + k), yt[k] = y + (p * T + k) * ldy + r;
      tile_bf16<1, T>(n, wr, xt, yt, Prefetch{});
    }
    for (size_t t = passes * T; t < n_tok; ++t) {
      xt[0] = act(t), yt[0] = y + t * ldy + r;
      tile_bf16<1, 1>(n, wr, xt, yt, Prefetch{});
    }
  }
}

// A single token (decode) reads one sequential row at a time, except on long
// rows: there the F32 activations (24-48 KiB) no longer stay in L1 while a
// row streams past them, and a row ran at half the rate of a short one (one
// core, 12288-element rows: 11.5 GB/s; with the activations cut to 6 KiB,
// 24 GB/s). GemvRows rows per pass read them once for 4 (AVX2: 2) rows.
// Measured, 1 thread: 1536 x 6144 0.53-0.64 -> 1.03-1.11 of the roof, E2B
// BF16 decode (its 20 KV-shared layers have 12288-wide down projections)
// 7.7-7.8 -> 8.5-8.6 t/s; 21504 x 5376 unchanged (0.50-0.56), and
// 1536-element rows run slower that way, so only rows of 6144 elements and
// more take it.
void tile_bf16_rows(size_t n, const void* w, size_t w_stride, size_t rows, const void* x, size_t x_stride, size_t n_tok,
                    float* y, size_t ldy) {
#if defined(__AVX512F__)
  constexpr int R = 8, T = 3, GemvRows = 4;
#else
  constexpr int R = 2, T = 2, GemvRows = 2;
#endif
  static_assert(kBf16TokensPerPass % T == 0, "whole token tiles per matmul pass");
  if (n_tok > 1) {
    bf16_gemm<R, T>(n, static_cast<const unsigned char*>(w), w_stride, rows, static_cast<const unsigned char*>(x),
                    x_stride, n_tok, y, ldy);
    return;
  }
  // One token: only run_tiles' one-token loop runs, GemvRows rows per pass
  // on long rows.
  constexpr size_t kLongRow = 6144;
  auto run = [&](auto multi_row_gemv) {
    run_tiles<uint16_t, float, tile_bf16<GemvRows, T>, tile_bf16<GemvRows, 1>, tile_bf16<1, T>, tile_bf16<1, 1>,
              decltype(multi_row_gemv)::value, GemvRows, T>(n, n / 32, w, w_stride, rows, x, x_stride, n_tok, y, ldy);
  };
  if (n >= kLongRow) {
    run(std::true_type{});
  } else {
    run(std::false_type{});
  }
}

constexpr TileKernels kTiles = {tile_blocks32<Q4_0Traits>,  tile_blocks32<Q8_0Traits>,  tile_blocks256<Q4_KTraits>,
                                tile_blocks256<Q5_KTraits>, tile_blocks256<Q6_KTraits>, tile_bf16_rows};
#else
constexpr TileKernels kTiles = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
#endif

}  // namespace

const TileKernels& tile_kernels() {
  return kTiles;
}

}  // namespace gemma4::kernels::GEMMA4_ISA_NS
