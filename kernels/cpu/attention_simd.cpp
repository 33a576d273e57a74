// The attention kernel (attention.hpp), compiled once per SIMD path. One
// source serves every path through a handful of vector helpers (load, F16
// load, fma, horizontal sum, exp); the scalar build uses plain floats.
//
// A set of query rows (heads of tokens) walks the positions it sees, oldest
// first, in blocks of kBlock positions aligned to multiples of kBlock. Each
// row keeps a running maximum m, a running denominator l and an unnormalised
// output: the online ("flash") softmax, so memory use does not grow with the
// context. Within a block, up to kMaxHeads rows that read the same KV head
// and see the same positions are computed together, so each K/V row is
// loaded (and converted from F16) once for all of them. Decode walks all
// heads of the token together (each block then reads whole cache slots in
// order); prefill walks one KV head's query heads for several tokens.
// A row's arithmetic does not depend on which rows it is computed with, so
// results are the same bits however a thread pool splits the work, and with
// an F32 cache prefill gives the same bits as token-by-token decode.
//
// Stack use: about 80 KiB per call (accumulators and row states).

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

constexpr size_t kBlock = 32;    // keys per online-softmax step (a multiple of every vector width)
constexpr size_t kMaxHeads = 8;  // query heads sharing each K/V row load

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

// The cache rows of the block after the current one (for one KV head), asked
// for while the current block is computed: two rows after each pair of keys,
// so the requests are spread over the block instead of arriving in one burst
// that the core's miss buffers cannot hold. The chunk's own rows are recent
// and not listed.
//
// They go to L2 (prefetcht1), not L1: a block of K and V rows is 64 KiB at
// head_dim 512, twice the L1, and requests for L2 let the core keep more
// lines in flight. Decode at depth 4096 with the cache in DRAM (bench_kernels
// BM_AttnDecode, 2 threads): E2B full layer 780 -> 560 us, E4B 1.7 -> 1.0 ms,
// 31B 4.2-4.8 -> 2.9 ms; into L1 it was 750-870 us on E2B, no prefetch 770-790.
constexpr int kLocality = 2;

struct NextRows {
  const char* k[kBlock];
  const char* v[kBlock];
  size_t n = 0;      // rows listed
  size_t bytes = 0;  // bytes per row
};

// always_inline: see prefetch_block.
[[gnu::always_inline]] inline void prefetch_next(const NextRows* next, size_t j) {
  if (next == nullptr || j >= next->n) return;
  for (size_t o = 0; o < next->bytes; o += 64) {
    __builtin_prefetch(next->k[j] + o, 0, kLocality);
    __builtin_prefetch(next->v[j] + o, 0, kLocality);
  }
}

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
void block_scores(const float* const* q, const BlockRows& k, size_t nb, size_t hd, float scale, float (*s)[kBlock],
                  const NextRows* next) {
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
      prefetch_next(next, j);
      prefetch_next(next, j + 1);
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
    prefetch_next(next, j);
  }
  for (; j < kBlock; ++j) prefetch_next(next, j);  // a short block, a full next one
}

// acc_i += sum_j p[i][j] * v_j, a vector (or two) of head_dim at a time so
// that the NH partial outputs stay in registers across the block's keys and
// each broadcast of p serves two vectors.
template <int NH, int K>
void block_values(const BlockRows& v, size_t nb, size_t hd, const float (*p)[kBlock], float* const* acc) {
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

// Byte offset of KV head kv's row of position p in the cache's K (or V) buffer.
size_t row_offset_bytes(const KvCache& c, int64_t p, size_t kv) {
  const auto up = static_cast<size_t>(p);
  const size_t elem = c.dtype == DType::F16 ? 2 : 4;
  return ((c.ring ? up % c.slots : up) * c.n_kv_heads + kv) * c.head_dim * elem;
}

// Asks for block positions b .. b+nb-1 ahead of use: for each position the
// K and V rows of KV heads kv_lo..kv_hi, which sit next to each other in a
// slot. (Rows of one KV head alone are a stride apart that the hardware
// prefetchers do not follow.) The chunk's own rows are recent and skipped.
// Used for the first block of a walk; later blocks are asked for a row at a
// time (NextRows).
//
// always_inline: GCC's IPA pure-const pass takes a function that only
// prefetches for one without side effects and deletes the calls (at -O2 and
// -O3, so before this the attention kernels issued no prefetch at all).
[[gnu::always_inline]] inline void prefetch_block(const AttentionArgs& a, int64_t b, size_t nb, size_t kv_lo,
                                                  size_t kv_hi) {
  if (a.cache == nullptr) return;
  const KvCache& c = *a.cache;
  const size_t elem = c.dtype == DType::F16 ? 2 : 4;
  const size_t bytes = (kv_hi - kv_lo + 1) * c.head_dim * elem;
  for (size_t j = 0; j < nb; ++j) {
    const int64_t p = b + static_cast<int64_t>(j);
    if (a.k_new != nullptr && p >= a.pos0) break;
    const size_t off = row_offset_bytes(c, p, kv_lo);
    const char* k = static_cast<const char*>(c.k) + off;
    const char* v = static_cast<const char*>(c.v) + off;
    for (size_t o = 0; o < bytes; o += 64) {
      __builtin_prefetch(k + o, 0, kLocality);
      __builtin_prefetch(v + o, 0, kLocality);
    }
  }
}

// Lists the cache rows of positions b .. b+nb-1 for KV head kv, stopping at
// the chunk's own rows.
void list_next(const AttentionArgs& a, size_t kv, int64_t b, size_t nb, NextRows& next) {
  next.n = 0;
  if (a.cache == nullptr) return;
  const KvCache& c = *a.cache;
  next.bytes = c.head_dim * (c.dtype == DType::F16 ? 2 : 4);
  for (size_t j = 0; j < nb; ++j) {
    const int64_t p = b + static_cast<int64_t>(j);
    if (a.k_new != nullptr && p >= a.pos0) break;
    const size_t off = row_offset_bytes(c, p, kv);
    next.k[j] = static_cast<const char*>(c.k) + off;
    next.v[j] = static_cast<const char*>(c.v) + off;
    next.n = j + 1;
  }
}

// One query row (a head of a token) during a walk: its query and output,
// the positions it sees, its KV head, and the running state of the online
// softmax: maximum m, denominator l, unnormalised output acc.
struct QueryRow {
  const float* q;
  float* out;
  int64_t lo;
  int64_t pos;
  size_t kv;
  float* acc;
  float m;
  float l;
  // The softmax state of the segments already finished (see fold()); their
  // unnormalised output sits in `out`.
  float total_m;
  float total_l;
};

// Positions are walked in segments of kSegment, aligned to multiples of it.
// Each segment has its own online-softmax state, folded into the row's total
// in segment order when the segment ends. Decode at depth computes the
// segments on different threads and folds them in the same order
// (attention_split_*), so both give the same bits.
constexpr int64_t kSegment = kAttentionSegment;

// Folds a row's segment state (m, l, acc) into its total (total_m, total_l,
// out) and clears it for the next segment.
void fold_state(float m, float l, const float* acc, float& total_m, float& total_l, float* out, size_t hd) {
  if (l == 0.0f) return;  // the segment saw no position
  if (total_l == 0.0f) {
    for (size_t d = 0; d < hd; d += W) vstore(out + d, vload(acc + d));
    total_m = m;
    total_l = l;
    return;
  }
  const float m_new = m > total_m ? m : total_m;
  const float c_total = exp1(total_m - m_new), c_seg = exp1(m - m_new);
  const Vec ct = vsplat(c_total), cs = vsplat(c_seg);
  for (size_t d = 0; d < hd; d += W) vstore(out + d, vfma(vload(acc + d), cs, vload(out + d) * ct));
  total_l = total_l * c_total + l * c_seg;
  total_m = m_new;
}

void fold(QueryRow& r, size_t hd) {
  fold_state(r.m, r.l, r.acc, r.total_m, r.total_l, r.out, hd);
  r.m = -__builtin_inff();
  r.l = 0.0f;
  for (size_t d = 0; d < hd; d += W) vstore(r.acc + d, vsplat(0.0f));
}

// One block of keys, positions b .. b+nb-1, for NH rows that all read KV
// head kv and all see the whole range: scores, softmax rescaling, weighted
// values.
template <int NH>
void step(const AttentionArgs& a, QueryRow* const* rows, size_t kv, int64_t b, size_t nb, const NextRows* next) {
  constexpr float kNegInf = -__builtin_inff();
  const size_t hd = a.head_dim;
  const float* q[NH];
  float* acc[NH];
  for (int i = 0; i < NH; ++i) {
    q[i] = rows[i]->q;
    acc[i] = rows[i]->acc;
  }
  BlockRows krows, vrows;
  const int kind = gather_rows(a, kv, b, nb, krows, vrows);
  alignas(64) float s[NH][kBlock];
  switch (kind) {
    case kAllF32:
      block_scores<NH, kAllF32>(q, krows, nb, hd, a.scale, s, next);
      break;
    case kAllF16:
      block_scores<NH, kAllF16>(q, krows, nb, hd, a.scale, s, next);
      break;
    default:
      block_scores<NH, kMixed>(q, krows, nb, hd, a.scale, s, next);
      break;
  }
  for (int i = 0; i < NH; ++i) {
    QueryRow& r = *rows[i];
    float block_max = kNegInf;
    for (size_t j = 0; j < nb; ++j) block_max = s[i][j] > block_max ? s[i][j] : block_max;
    const float m_new = block_max > r.m ? block_max : r.m;
    // Unused tail lanes become exp(-inf) = 0.
    for (size_t j = 0; j < kBlock; ++j) s[i][j] = j < nb ? s[i][j] - m_new : kNegInf;
    exp_inplace(s[i], kBlock);
    float block_sum = 0.0f;
    for (size_t j = 0; j < nb; ++j) block_sum += s[i][j];
    if (m_new != r.m) {
      // The maximum rose: rescale what was accumulated against the old one.
      const float corr = exp1(r.m - m_new);
      const Vec c = vsplat(corr);
      for (size_t d = 0; d < hd; d += W) vstore(r.acc + d, vload(r.acc + d) * c);
      r.l *= corr;
      r.m = m_new;
    }
    r.l += block_sum;
  }
  switch (kind) {
    case kAllF32:
      block_values<NH, kAllF32>(vrows, nb, hd, s, acc);
      break;
    case kAllF16:
      block_values<NH, kAllF16>(vrows, nb, hd, s, acc);
      break;
    default:
      block_values<NH, kMixed>(vrows, nb, hd, s, acc);
      break;
  }
}

void step(const AttentionArgs& a, QueryRow* const* rows, size_t n, size_t kv, int64_t b, size_t nb,
          const NextRows* next) {
  switch (n) {
    case 1:
      return step<1>(a, rows, kv, b, nb, next);
    case 2:
      return step<2>(a, rows, kv, b, nb, next);
    case 3:
      return step<3>(a, rows, kv, b, nb, next);
    case 4:
      return step<4>(a, rows, kv, b, nb, next);
    case 5:
      return step<5>(a, rows, kv, b, nb, next);
    case 6:
      return step<6>(a, rows, kv, b, nb, next);
    case 7:
      return step<7>(a, rows, kv, b, nb, next);
    default:
      return step<8>(a, rows, kv, b, nb, next);
  }
}

// Accumulator space of one walk (64 KiB of stack): e.g. all 32 heads of one
// token at head_dim 512, or one KV head's 8 query heads for 4 tokens.
constexpr size_t kPassFloats = 16384;
constexpr size_t kMaxRows = 256;  // rows per walk (head_dim 64 or more fills the floats first)

// Walks the positions the rows see, in blocks aligned to multiples of
// kBlock, oldest first. Rows that see the same part of a block and read the
// same KV head are computed together (up to kMaxHeads), so each K/V row is
// loaded once for all of them: the heads of a group, and in prefill several
// tokens. Block boundaries depend only on positions, so a row's arithmetic
// is the same in whichever walk and company it is computed.
// finalize: fold the segments and write normalised outputs; otherwise leave
// each row's state of its (single) segment in m, l, acc (attention_split_run).
void walk(const AttentionArgs& a, QueryRow* rows, size_t n, bool finalize = true) {
  int64_t first = rows[0].lo, last = rows[0].pos;
  size_t kv_lo = rows[0].kv, kv_hi = rows[0].kv;
  for (size_t i = 1; i < n; ++i) {
    first = rows[i].lo < first ? rows[i].lo : first;
    last = rows[i].pos > last ? rows[i].pos : last;
    kv_lo = rows[i].kv < kv_lo ? rows[i].kv : kv_lo;
    kv_hi = rows[i].kv > kv_hi ? rows[i].kv : kv_hi;
  }
  constexpr auto B = static_cast<int64_t>(kBlock);
  const auto visible = [](const QueryRow& r, int64_t b, int64_t* vlo, int64_t* vhi) {
    *vlo = r.lo > b ? r.lo : b;
    *vhi = r.pos < b + B - 1 ? r.pos : b + B - 1;
    return *vlo <= *vhi;
  };
  const int64_t start = first - first % B;
  const int64_t first_end = start + B - 1 < last ? start + B - 1 : last;
  prefetch_block(a, first, static_cast<size_t>(first_end - first + 1), kv_lo, kv_hi);
  for (int64_t b = start; b <= last; b += B) {
    if (finalize && b > start && b % kSegment == 0) {
      for (size_t r = 0; r < n; ++r) fold(rows[r], a.head_dim);
    }
    const int64_t next_b = b + B;
    size_t prefetched = kv_hi + 1;  // none yet
    NextRows next;
    QueryRow* group[kMaxHeads];
    size_t i = 0;
    while (i < n) {
      int64_t vlo, vhi;
      if (!visible(rows[i], b, &vlo, &vhi)) {
        ++i;
        continue;
      }
      const size_t kv = rows[i].kv;
      // The first group of each KV head asks for its rows of the next block.
      const NextRows* ask = nullptr;
      if (next_b <= last && kv != prefetched) {
        const int64_t nb_next = last - next_b + 1 < B ? last - next_b + 1 : B;
        list_next(a, kv, next_b, static_cast<size_t>(nb_next), next);
        ask = &next;
        prefetched = kv;
      }
      // Following rows join while they read the same KV head and see the
      // same part of the block.
      size_t count = 0;
      group[count++] = &rows[i++];
      int64_t wlo, whi;
      while (i < n && count < kMaxHeads && rows[i].kv == kv && visible(rows[i], b, &wlo, &whi) && wlo == vlo &&
             whi == vhi) {
        group[count++] = &rows[i++];
      }
      step(a, group, count, kv, vlo, static_cast<size_t>(vhi - vlo + 1), ask);
    }
  }
  if (!finalize) return;
  for (size_t r = 0; r < n; ++r) {
    fold(rows[r], a.head_dim);
    const Vec inv = vsplat(1.0f / rows[r].total_l);
    for (size_t d = 0; d < a.head_dim; d += W) vstore(rows[r].out + d, vload(rows[r].out + d) * inv);
  }
}

// Sets up the row of item (token t, head h) with accumulator space acc.
QueryRow make_row(const AttentionArgs& a, size_t t, size_t h, float* acc) {
  QueryRow r;
  const size_t off = (t * a.n_q_heads + h) * a.head_dim;
  r.q = a.q + off;
  r.out = a.out + off;
  r.pos = a.pos0 + static_cast<int64_t>(t);
  r.lo = 0;
  if (a.window > 0) {
    r.lo = r.pos - static_cast<int64_t>(a.window) + 1;
    if (r.lo < 0) r.lo = 0;
  }
  r.kv = h / (a.n_q_heads / a.n_kv_heads);
  r.acc = acc;
  r.m = -__builtin_inff();
  r.l = 0.0f;
  r.total_m = -__builtin_inff();
  r.total_l = 0.0f;
  for (size_t d = 0; d < a.head_dim; ++d) acc[d] = 0.0f;
  return r;
}

// The segments a single token's rows see: [first, first + count).
void token_segments(const AttentionArgs& a, int64_t& first, size_t& count) {
  const int64_t pos = a.pos0;
  int64_t lo = 0;
  if (a.window > 0) lo = pos - static_cast<int64_t>(a.window) + 1 > 0 ? pos - static_cast<int64_t>(a.window) + 1 : 0;
  first = lo / kSegment;
  count = static_cast<size_t>(pos / kSegment - first + 1);
}

}  // namespace

// Decode (the range within one token): the token's heads walk together, so
// each block reads whole cache slots in order. Prefill: per KV head, its
// query heads for as many tokens as fit walk together, so each K/V row
// loaded serves several tokens.
void attention_run(const AttentionArgs& a, size_t begin, size_t end) {
  alignas(64) float acc[kPassFloats];
  QueryRow rows[kMaxRows];
  const size_t hd = a.head_dim;
  const size_t nq = a.n_q_heads;
  const size_t group = nq / a.n_kv_heads;
  const size_t cap = kPassFloats / hd < kMaxRows ? kPassFloats / hd : kMaxRows;  // rows per walk, >= 16
  const size_t t_first = begin / nq;
  const size_t t_last = (end - 1) / nq;
  if (t_first == t_last) {
    for (size_t i = begin; i < end;) {
      size_t n = 0;
      for (; i < end && n < cap; ++i, ++n) rows[n] = make_row(a, i / nq, i % nq, acc + n * hd);
      walk(a, rows, n);
    }
    return;
  }
  const size_t tokens_per_walk = cap / group > 0 ? cap / group : 1;
  for (size_t t0 = t_first; t0 <= t_last; t0 += tokens_per_walk) {
    const size_t t1 = t0 + tokens_per_walk <= t_last + 1 ? t0 + tokens_per_walk : t_last + 1;
    for (size_t kv = 0; kv < a.n_kv_heads; ++kv) {
      size_t n = 0;
      for (size_t t = t0; t < t1; ++t) {
        for (size_t h = kv * group; h < (kv + 1) * group; ++h) {
          const size_t item = t * nq + h;
          if (item < begin || item >= end) continue;
          rows[n] = make_row(a, t, h, acc + n * hd);
          if (++n == cap) {  // a group wider than one walk (very large head_dim)
            walk(a, rows, n);
            n = 0;
          }
        }
      }
      if (n > 0) walk(a, rows, n);
    }
  }
}

// Decode at depth (attention.hpp): item i is segment i / n_kv_heads of the
// token's positions for KV head i % n_kv_heads (all its query heads); each
// writes its segment states to scratch, [segment][q head][m, l, acc].
void attention_split_run(const AttentionArgs& a, size_t begin, size_t end, float* scratch) {
  int64_t first;
  size_t count;
  token_segments(a, first, count);
  const size_t hd = a.head_dim, nq = a.n_q_heads, group = nq / a.n_kv_heads;
  for (size_t item = begin; item < end; ++item) {
    const size_t seg = item / a.n_kv_heads, kv = item % a.n_kv_heads;
    const int64_t seg_lo = (first + static_cast<int64_t>(seg)) * kSegment, seg_hi = seg_lo + kSegment - 1;
    QueryRow rows[kMaxHeads];
    size_t n = 0;
    for (size_t h = kv * group; h < (kv + 1) * group; ++h) {
      float* state = scratch + (seg * nq + h) * (hd + 2);
      QueryRow r = make_row(a, 0, h, state + 2);
      r.lo = r.lo > seg_lo ? r.lo : seg_lo;
      r.pos = r.pos < seg_hi ? r.pos : seg_hi;
      rows[n++] = r;
      if (n == kMaxHeads || h + 1 == (kv + 1) * group) {
        walk(a, rows, n, /*finalize=*/false);
        for (size_t k = 0; k < n; ++k) {
          float* st = rows[k].acc - 2;
          st[0] = rows[k].m;
          st[1] = rows[k].l;
        }
        n = 0;
      }
    }
  }
}

void attention_split_merge(const AttentionArgs& a, const float* scratch) {
  int64_t first;
  size_t count;
  token_segments(a, first, count);
  const size_t hd = a.head_dim, nq = a.n_q_heads;
  for (size_t h = 0; h < nq; ++h) {
    float* out = a.out + h * hd;
    float total_m = -__builtin_inff(), total_l = 0.0f;
    for (size_t seg = 0; seg < count; ++seg) {
      const float* st = scratch + (seg * nq + h) * (hd + 2);
      fold_state(st[0], st[1], st + 2, total_m, total_l, out, hd);
    }
    const Vec inv = vsplat(1.0f / total_l);
    for (size_t d = 0; d < hd; d += W) vstore(out + d, vload(out + d) * inv);
  }
}

}  // namespace gemma4::kernels::GEMMA4_ISA_NS
