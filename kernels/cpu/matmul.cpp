#include "kernels/cpu/matmul.hpp"

#include <gemma4/error.hpp>

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/cpu/cpu_features.hpp"
#include "kernels/cpu/isa.hpp"
#include "kernels/cpu/kernel_table.hpp"
#include "kernels/cpu/quant_types.hpp"

namespace gemma4::kernels {
namespace {

const MatmulTable& table_for(Isa isa) {
  switch (isa) {
#if defined(GEMMA4_HAVE_ISA_AVX2)
    case Isa::avx2:
      return avx2::matmul_table();
#endif
#if defined(GEMMA4_HAVE_ISA_AVX512)
    case Isa::avx512:
      return avx512::matmul_table();
#endif
#if defined(GEMMA4_HAVE_ISA_NEON)
    case Isa::neon:
      return neon::matmul_table();
#endif
    default:
      return scalar::matmul_table();
  }
}

const MatmulTable& active_table() {
  return table_for(active_isa());
}

const TileKernels& active_tiles() {
  switch (active_isa()) {
#if defined(GEMMA4_HAVE_ISA_AVX2)
    case Isa::avx2:
      return avx2::tile_kernels();
#endif
#if defined(GEMMA4_HAVE_ISA_AVX512)
    case Isa::avx512:
#if defined(GEMMA4_HAVE_TILES_AVX512VNNI)
      if (cpu_features().avx512_vnni) return avx512vnni::tile_kernels();
#endif
      return avx512::tile_kernels();
#endif
#if defined(GEMMA4_HAVE_ISA_NEON)
    case Isa::neon:
      return neon::tile_kernels();
#endif
    default:
      return scalar::tile_kernels();
  }
}

// The register-blocked kernel for w on the active path, or null.
TileDotFn tile_for(DType w) {
  switch (w) {
    case DType::Q4_0:
      return active_tiles().q4_0;
    case DType::Q8_0:
      return active_tiles().q8_0;
    case DType::Q4_K:
      return active_tiles().q4_k;
    case DType::Q5_K:
      return active_tiles().q5_k;
    case DType::Q6_K:
      return active_tiles().q6_k;
    case DType::BF16:
      return active_tiles().bf16;
    default:
      return nullptr;
  }
}

// f32: x as is. bf16_pairs: x with each full run of 32 values reordered as its
// 16 even-indexed values, then its 16 odd-indexed ones (the tail as is): a
// 32-bit lane of BF16 weights holds an even and an odd element, and this
// order lets the dot product widen them with one shift and one mask.
// q8a_chunked: q8a in chunk order (quant_types.hpp), for Q4_0 and Q8_0.
// q8k_chunked: q8k with each block's qs in K-chunk order (quant_types.hpp),
// for Q4_K. q8k_q6: BlockQ8KQ6 blocks (quant_types.hpp), for Q6_K.
enum class ActKind { f32, bf16_pairs, q8a, q8a_chunked, q8k, q8k_chunked, q8k_q6 };

struct Kernel {
  ActKind act;
  VecDotFn dot;
};

// The dot product and activation format for weight type w; throws for types
// without kernels and for rows that do not fill whole blocks.
Kernel kernel_for(DType w, size_t cols, const MatmulTable& t) {
  const DTypeInfo& info = dtype_info(w);
  if (cols % info.block_elems != 0) {
    throw Error("matmul: row length " + std::to_string(cols) + " is not a multiple of the " + std::string(info.name) +
                " block size " + std::to_string(info.block_elems));
  }
  switch (w) {
    case DType::F32:
      return {ActKind::f32, t.dot_f32};
    case DType::F16:
      return {ActKind::f32, t.dot_f16};
    case DType::BF16:
      return {ActKind::bf16_pairs, t.dot_bf16};
    case DType::Q4_0:
      return {ActKind::q8a_chunked, t.dot_q4_0};
    case DType::Q4_1:
      return {ActKind::q8a, t.dot_q4_1};
    case DType::Q5_0:
      return {ActKind::q8a, t.dot_q5_0};
    case DType::Q5_1:
      return {ActKind::q8a, t.dot_q5_1};
    case DType::Q8_0:
      return {ActKind::q8a_chunked, t.dot_q8_0};
    case DType::Q4_K:
      return {ActKind::q8k_chunked, t.dot_q4_k};
    case DType::Q5_K:
      return {ActKind::q8k, t.dot_q5_k};
    case DType::Q6_K:
      return {ActKind::q8k_q6, t.dot_q6_k};
    default:
      break;
  }
  throw Error("matmul: weight type " + std::string(info.name) + " is not supported");
}

size_t act_bytes(ActKind kind, size_t cols) {
  switch (kind) {
    case ActKind::f32:
    case ActKind::bf16_pairs:
      return cols * sizeof(float);
    case ActKind::q8a:
      return cols / kQK * sizeof(BlockQ8A);
    case ActKind::q8a_chunked:  // blocks, then d[] and sum[] (quant_types.hpp)
      return cols / kQK * (sizeof(BlockQ8A) + 2 * sizeof(float));
    case ActKind::q8k:
    case ActKind::q8k_chunked:
      return cols / kQK_K * sizeof(BlockQ8K);
    case ActKind::q8k_q6:
      return cols / kQK_K * sizeof(BlockQ8KQ6);
  }
  return 0;
}

// Puts quantized activation blocks into chunk order and writes the d[] and
// sum[] arrays after them (quant_types.hpp).
void to_chunk_order(BlockQ8A* blocks, size_t nb) {
  auto* d = reinterpret_cast<float*>(blocks + nb);
  for (size_t i = 0; i < nb; ++i) {
    d[i] = blocks[i].d;
    d[nb + i] = blocks[i].sum;
  }
  const size_t full = nb / kChunkGroup * kChunkGroup;
  for (size_t b = 0; b < full; b += 4) {
    int8_t chunked[4][kQK];
    for (size_t k = 0; k < 4; ++k)
      for (size_t a = 0; a < 4; ++a) std::memcpy(chunked[k] + 8 * a, blocks[b + a].qs + 8 * k, 8);
    for (size_t k = 0; k < 4; ++k) std::memcpy(blocks[b + k].qs, chunked[k], kQK);
  }
}

// Puts each block's qs into K-chunk order (quant_types.hpp). The order moves
// whole 8-byte pieces, so they are copied as such (byte by byte this was
// about 1 % of an E4B Q4_K_M prefill).
void to_k_chunk_order(BlockQ8K* blocks, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    int8_t ordered[kQK_K];
    for (size_t e = 0; e < kQK_K; e += 8) std::memcpy(ordered + q4k_act_index(e), blocks[i].qs + e, 8);
    std::memcpy(blocks[i].qs, ordered, kQK_K);
  }
}

// Quantizes x as Q8_K blocks and writes them as BlockQ8KQ6 (quant_types.hpp).
void quantize_q6_order(const MatmulTable& t, const float* x, size_t nb, BlockQ8KQ6* out) {
  for (size_t i = 0; i < nb; ++i) {
    BlockQ8K b;
    t.quantize_q8k(x + i * kQK_K, kQK_K, &b);
    out[i].d = b.d;
    for (size_t e = 0; e < kQK_K; e += 4) std::memcpy(out[i].qs + q6k_act_index(e), b.qs + e, 4);  // 4-byte pieces
    for (size_t s = 0; s < kQK_K / 16; ++s) out[i].off[q6k_lane(s)] = -32 * b.bsums[s];
  }
}

// Rows per tile in matmul: about 64 KiB of weights, which stays in L2 while
// each token of the token tile streams past it; a multiple of the 4 rows a
// tile kernel takes at a time, so that no row is left to the slower 1-row
// kernels.
constexpr size_t kTileKernelRows = 4;
size_t rows_per_tile(size_t row_bytes) {
  const size_t rows = std::clamp<size_t>((64 * 1024) / std::max<size_t>(row_bytes, 1), kTileKernelRows, 256);
  return rows / kTileKernelRows * kTileKernelRows;
}
constexpr size_t kTokensPerTile = 32;

// F32 activations (for BF16 weights) take 4 bytes an element, 4x the
// quantized ones: the activations of all the tokens do not stay in L2, and
// streaming them from L3 again for every row tile held BF16 GEMM to ~60 % of
// the rate of its kernel. For them the token tile is the outer loop, sized so
// its activations (~768 KiB) stay in L2, and the rows run over it a group at
// a time (the tile kernel's bf16_gemm).
// Single thread, 512 tokens: 47-61 GFLOP/s -> 82-95 on the E2B-31B shapes.
bool tokens_outside(ActKind act) {
  return act == ActKind::bf16_pairs;
}
size_t tokens_per_outer_tile(size_t x_stride) {
  const size_t fit = (768 * 1024) / std::max<size_t>(x_stride, 1);
  return std::clamp<size_t>(fit / kBf16TokensPerPass, 1, 40) * kBf16TokensPerPass;
}

}  // namespace

size_t activation_row_bytes(DType w, size_t cols) {
  return act_bytes(kernel_for(w, cols, scalar::matmul_table()).act, cols);
}

void prepare_activations(DType w, const float* x, size_t cols, void* out) {
  const MatmulTable& t = active_table();
  switch (kernel_for(w, cols, t).act) {
    case ActKind::f32:
      std::memcpy(out, x, cols * sizeof(float));
      return;
    case ActKind::bf16_pairs:
      t.order_bf16(x, cols, out);
      return;
    case ActKind::q8a:
      t.quantize_q8a(x, cols, out);
      return;
    case ActKind::q8a_chunked:
      t.quantize_q8a(x, cols, out);
      to_chunk_order(static_cast<BlockQ8A*>(out), cols / kQK);
      return;
    case ActKind::q8k:
      t.quantize_q8k(x, cols, out);
      return;
    case ActKind::q8k_chunked:
      t.quantize_q8k(x, cols, out);
      to_k_chunk_order(static_cast<BlockQ8K*>(out), cols / kQK_K);
      return;
    case ActKind::q8k_q6:
      quantize_q6_order(t, x, cols / kQK_K, static_cast<BlockQ8KQ6*>(out));
      return;
  }
}

void matvec(DType w, const void* weights, size_t cols, const void* x_prepared, float* y, size_t r0, size_t r1) {
  const Kernel k = kernel_for(w, cols, active_table());
  const size_t stride = *row_bytes(w, cols);
  const auto* base = static_cast<const unsigned char*>(weights);
  if (const TileDotFn tile = tile_for(w)) {
    if (r1 > r0) tile(cols, base + r0 * stride, stride, r1 - r0, x_prepared, 0, 1, y + r0, 0);
    return;
  }
  for (size_t r = r0; r < r1; ++r) y[r] = k.dot(cols, base + r * stride, x_prepared);
}

void matmul(DType w, const void* weights, size_t cols, const void* x_prepared, size_t n_tokens, float* y, size_t ldy,
            size_t r0, size_t r1) {
  const Kernel k = kernel_for(w, cols, active_table());
  const size_t stride = *row_bytes(w, cols);
  const size_t x_stride = act_bytes(k.act, cols);
  const auto* base = static_cast<const unsigned char*>(weights);
  const auto* xs = static_cast<const unsigned char*>(x_prepared);
  const TileDotFn tile = tile_for(w);
  if (tile && tokens_outside(k.act)) {
    const size_t tokens_per_tile = tokens_per_outer_tile(x_stride);
    for (size_t tt = 0; tt < n_tokens; tt += tokens_per_tile) {
      const size_t tt_end = std::min(n_tokens, tt + tokens_per_tile);
      tile(cols, base + r0 * stride, stride, r1 - r0, xs + tt * x_stride, x_stride, tt_end - tt, y + tt * ldy + r0,
           ldy);
    }
    return;
  }
  const size_t tile_rows = rows_per_tile(stride);
  for (size_t rt = r0; rt < r1; rt += tile_rows) {
    const size_t rt_end = std::min(r1, rt + tile_rows);
    for (size_t tt = 0; tt < n_tokens; tt += kTokensPerTile) {
      const size_t tt_end = std::min(n_tokens, tt + kTokensPerTile);
      if (tile) {
        tile(cols, base + rt * stride, stride, rt_end - rt, xs + tt * x_stride, x_stride, tt_end - tt,
             y + tt * ldy + rt, ldy);
        continue;
      }
      for (size_t r = rt; r < rt_end; ++r) {
        const unsigned char* row = base + r * stride;
        for (size_t t = tt; t < tt_end; ++t) y[t * ldy + r] = k.dot(cols, row, xs + t * x_stride);
      }
    }
  }
}

}  // namespace gemma4::kernels
