// Block layouts of the quantized weight types, byte for byte as ggml stores
// them in GGUF files (ggml-common.h), so community files load unchanged; plus
// the 8-bit activation blocks our integer dot products quantize x into.
//
// Every block is a plain struct of bytes with alignment 2 at most, so a
// pointer into a memory-mapped file may be cast to it. Half-precision scales
// are kept as raw IEEE binary16 bits (uint16_t); convert with fp16.hpp.
//
// This header declares data, plus a few helpers that read the layouts; the
// helpers are `static` (internal linkage), so each per-ISA translation unit
// keeps its own copy, compiled for its own path (see the ODR rule in
// kernels/cpu/CMakeLists.txt).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gemma4::kernels {

inline constexpr int kQK = 32;     // elements per block of the "legacy" types
inline constexpr int kQK_K = 256;  // elements per super-block of the K-quants

// Q4_0: 32 weights = d * (q - 8), q in 0..15. Byte j holds element j in its
// low nibble and element j + 16 in its high nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};

// Q4_1: weight = d * q + m, q in 0..15, nibbles packed as in Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};

// Q5_0: weight = d * (q - 16), q in 0..31. The low 4 bits are packed as in
// Q4_0; bit i of the little-endian 32-bit qh is the fifth bit of element i.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// Q5_1: weight = d * q + m, q in 0..31, bits packed as in Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// Q8_0: weight = d * q, q in -127..127.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};

// Q4_K: a super-block of 8 sub-blocks of 32. Weight = d * sc[j] * q - dmin * m[j]
// with 6-bit sc/m packed into `scales` (see unpack in quant.cpp), q in 0..15.
// qs holds 4 chunks of 32 bytes; chunk c has sub-block 2c in the low nibbles
// and sub-block 2c + 1 in the high nibbles.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};

// The 8 6-bit scales and mins of a Q4_K/Q5_K super-block, as
// unpack_k_scales (quant.cpp) reads them byte by byte, here four sub-blocks
// per 32-bit word.
static inline void k_scales(const uint8_t* p, uint8_t sc[8], uint8_t mn[8]) {
  uint32_t lo_sc, lo_mn, hi;
  std::memcpy(&lo_sc, p, 4);
  std::memcpy(&lo_mn, p + 4, 4);
  std::memcpy(&hi, p + 8, 4);
  const uint32_t s03 = lo_sc & 0x3f3f3f3fu, m03 = lo_mn & 0x3f3f3f3fu;
  const uint32_t s47 = (hi & 0x0f0f0f0fu) | ((lo_sc >> 2) & 0x30303030u);
  const uint32_t m47 = ((hi >> 4) & 0x0f0f0f0fu) | ((lo_mn >> 2) & 0x30303030u);
  std::memcpy(sc, &s03, 4);
  std::memcpy(sc + 4, &s47, 4);
  std::memcpy(mn, &m03, 4);
  std::memcpy(mn + 4, &m47, 4);
}

// Q5_K: Q4_K plus a fifth bit per weight: bit 2c of qh[l] belongs to element l
// of sub-block 2c, bit 2c + 1 to element l of sub-block 2c + 1. q in 0..31.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// Q6_K: 16 sub-blocks of 16, weight = d * scales[j] * (q - 32), q in 0..63.
// Each half of 128 elements uses 64 bytes of ql (low 4 bits) and 32 of qh
// (high 2 bits); the element order is spelled out in quant.cpp.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(alignof(BlockQ6_K) == 2 && alignof(BlockQ4_K) == 2);

// ---- activation blocks (our own, never stored in files) ----

// x quantized for the 32-element types: x[i] ~= d * qs[i]. `sum` is
// d * (qs[0] + ... + qs[31]); the types with an offset m need it.
struct BlockQ8A {
  float d;
  float sum;
  int8_t qs[kQK];
};

// x quantized for the K-quants: x[i] ~= d * qs[i]; bsums[g] is the integer
// sum of qs[16g .. 16g + 15] (the min/offset terms need them). Same layout
// as ggml's block_q8_K.
struct BlockQ8K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

// Q4_0's and Q8_0's activation rows are BlockQ8A blocks in "chunk order": in every full
// group of kChunkGroup blocks, each run of four blocks b..b+3 holds in block
// b + k's qs the 8-element chunk k (elements 8k..8k+7) of blocks b, b+1, b+2
// and b+3, side by side; d and sum stay with their own block, and blocks past
// the last full group are in element order. Then four plain loads give the
// operands of four byte dot products whose sums keep each block in two int32
// lanes, so one convert and one FMA finish four blocks (matmul_tile_isa.cpp).
// Element j of block i (i in a full group) is at block i / 4 * 4 + j / 8,
// byte (i % 4) * 8 + j % 8.
// After the nb blocks such a row holds two float arrays, d[nb] and sum[nb]:
// copies of the blocks' d and sum side by side, so that a tile loads the
// eight of a group with one instruction instead of gathering them.
inline constexpr size_t kChunkGroup = 8;

// The d[] and sum[] arrays after a chunk-order row of nb blocks.
static inline const float* chunked_scales(const BlockQ8A* row, size_t nb) {
  return reinterpret_cast<const float*>(row + nb);
}

// Q4_K's activation rows are BlockQ8K blocks whose qs are in "K-chunk
// order": eight runs of 32 bytes, run 2g + h (g = 0..3, h = 0..1) holding in
// its 8-byte piece p the elements 8g..8g+7 of sub-block 2p + h. That is the
// order in which a Q4_K block's nibbles come out of a 4 x 4 transpose of its
// four 32-byte chunks (matmul_tile_isa.cpp), so that one byte dot product per
// run keeps every sub-block in its own pair of int32 lanes and the scales are
// applied once per super-block instead of once per sub-block. d and bsums
// stay as in element order.
static constexpr size_t q4k_act_index(size_t e) {
  const size_t s = e / 32, pos = e % 32;
  return 64 * (pos / 8) + 32 * (s % 2) + 8 * (s / 2) + pos % 8;
}

// Q6_K's activation rows: blocks of 256 quantized activations as in
// BlockQ8K, qs in "Q6-chunk order", and instead of bsums the level offset
// ready to add: off[l] = -32 x (sum of qs over the 16-element sub-block that
// int32 lane l % 8 of the half l / 8 carries). In each half of 128 elements,
// run k (32 bytes) holds in int32 lane l the elements 4k..4k+3 of sub-block
// 2l (l < 4) or 2(l - 4) + 1 (l >= 4): the order in which an in-lane 4 x 4
// transpose of the weights' 32-element runs leaves the levels
// (matmul_tile_isa.cpp), so each sub-block stays in one int32 lane and its
// scale is applied once per super-block.
struct BlockQ8KQ6 {
  float d;
  int8_t qs[kQK_K];
  int32_t off[kQK_K / 16];
};

// Lane of sub-block s (0..15) in BlockQ8KQ6::off.
static constexpr size_t q6k_lane(size_t s) {
  const size_t h = s / 8, j = s % 8;
  return 8 * h + 4 * (j % 2) + j / 2;
}

static constexpr size_t q6k_act_index(size_t e) {
  const size_t s = e / 16, pos = e % 16;
  return 128 * (s / 8) + 32 * (pos / 4) + 4 * (q6k_lane(s) % 8) + pos % 4;
}

static_assert(sizeof(BlockQ8A) == 40);
static_assert(sizeof(BlockQ8K) == 292);
static_assert(sizeof(BlockQ8KQ6) == 324);

}  // namespace gemma4::kernels
