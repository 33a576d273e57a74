#include "kernels/cpu/quant.hpp"

#include <gemma4/error.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/cpu/fp16.hpp"
#include "kernels/cpu/quant_types.hpp"

namespace gemma4::kernels {
namespace {

// Throws unless `type` has kernels and n fills whole blocks.
void check_row(DType type, size_t n, const char* what) {
  const DTypeInfo& info = dtype_info(type);
  if (!info.compute_supported) {
    throw Error(std::string(what) + ": type " + std::string(info.name) + " is not supported");
  }
  if (n % info.block_elems != 0) {
    throw Error(std::string(what) + ": row of " + std::to_string(n) + " elements is not a multiple of the " +
                std::string(info.name) + " block size " + std::to_string(info.block_elems));
  }
}

// Rounds to the nearest integer, ties to even, for |v| < 2^22: adding 1.5 * 2^23
// leaves the rounded integer in the low mantissa bits. This is the rounding
// ggml's K-quant reference quantizers use, so the bytes we write match theirs.
int nearest_int(float v) {
  const float shifted = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// ---------------------------------------------------------------- dequantize

void dequant_q4_0(const BlockQ4_0* b, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((b[i].qs[j] & 0x0f) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequant_q4_1(const BlockQ4_1* b, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(b[i].qs[j] & 0x0f) * d + m;
      y[j + kQK / 2] = static_cast<float>(b[i].qs[j] >> 4) * d + m;
    }
  }
}

// The fifth bit of element i of a Q5 block, as 0 or 16.
int q5_high(const uint8_t qh[4], int i) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  return static_cast<int>((bits >> i) & 1u) << 4;
}

void dequant_q5_0(const BlockQ5_0* b, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(((b[i].qs[j] & 0x0f) | q5_high(b[i].qh, j)) - 16) * d;
      y[j + kQK / 2] = static_cast<float>(((b[i].qs[j] >> 4) | q5_high(b[i].qh, j + kQK / 2)) - 16) * d;
    }
  }
}

void dequant_q5_1(const BlockQ5_1* b, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((b[i].qs[j] & 0x0f) | q5_high(b[i].qh, j)) * d + m;
      y[j + kQK / 2] = static_cast<float>((b[i].qs[j] >> 4) | q5_high(b[i].qh, j + kQK / 2)) * d + m;
    }
  }
}

void dequant_q8_0(const BlockQ8_0* b, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += kQK) {
    const float d = f16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

// Q4_K and Q5_K walk their super-block in 4 chunks of 64 elements; chunk c
// covers sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles).
void dequant_q4_k(const BlockQ4_K* b, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    uint8_t sc[8], mn[8];
    unpack_k_scales(b[i].scales, sc, mn);
    const uint8_t* q = b[i].qs;
    for (int c = 0; c < 4; ++c, q += 32) {
      const float d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
      const float d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void dequant_q5_k(const BlockQ5_K* b, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(b[i].d), dmin = f16_to_f32(b[i].dmin);
    uint8_t sc[8], mn[8];
    unpack_k_scales(b[i].scales, sc, mn);
    const uint8_t* q = b[i].qs;
    for (int c = 0; c < 4; ++c, q += 32) {
      const float d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
      const float d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
      const uint8_t bit_lo = static_cast<uint8_t>(1u << (2 * c)), bit_hi = static_cast<uint8_t>(2u << (2 * c));
      for (int l = 0; l < 32; ++l) {
        *y++ = d1 * static_cast<float>((q[l] & 0x0f) + ((b[i].qh[l] & bit_lo) ? 16 : 0)) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        *y++ = d2 * static_cast<float>((q[l] >> 4) + ((b[i].qh[l] & bit_hi) ? 16 : 0)) - m2;
      }
    }
  }
}

// Q6_K: in each half of 128 elements, element l + 32k (l < 32, k < 4) takes
// its low 4 bits from ql[l + 32 (k & 1)] (low nibble for k < 2, else high) and
// its high 2 bits from bits 2k..2k+1 of qh[l].
void dequant_q6_k(const BlockQ6_K* b, float* y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(b[i].d);
    for (int half = 0; half < 2; ++half, y += 128) {
      const uint8_t* ql = b[i].ql + 64 * half;
      const uint8_t* qh = b[i].qh + 32 * half;
      const int8_t* sc = b[i].scales + 8 * half;
      for (int l = 0; l < 32; ++l) {
        const int g = l / 16;  // which 16-element group inside each 32-run
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[g]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[g + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[g + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[g + 6]) * static_cast<float>(q4);
      }
    }
  }
}

// ------------------------------------------------- quantize, legacy types

// Q4_0/Q5_0: the scale maps the value of largest magnitude to the most
// negative level (-8 or -16), so the full range of levels is used.
template <int kLevels>  // 16 for Q4_0, 32 for Q5_0
float symmetric_scale(const float* x, float& inv) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / static_cast<float>(-kLevels / 2);
  inv = d != 0.0f ? 1.0f / d : 0.0f;
  return d;
}

// float -> level by truncation toward zero, as ggml's (int8_t)/(uint8_t)
// casts do for the values finite input produces (0 <= v < top + 1); anything
// else is clamped into [0, top], NaN (from NaN or infinite input) to 0, so
// bad input gives bad levels, never undefined behaviour.
int truncated_level(float v, int top) {
  if (!(v > 0.0f)) return 0;
  if (v >= static_cast<float>(top)) return top;
  return static_cast<int>(v);
}

// Level for x * inv in a symmetric scheme: shift by half the levels and round
// half up (one float addition of levels/2 + 0.5, as ggml does), clamped to the
// top level (the most negative value maps to 0 exactly).
int symmetric_level(float scaled, int levels) {
  const float offset = static_cast<float>(levels / 2) + 0.5f;  // 8.5 or 16.5, exact
  return truncated_level(scaled + offset, levels - 1);
}

void quant_q4_0(const float* x, BlockQ4_0* b, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += kQK) {
    float inv;
    b[i].d = f32_to_f16(symmetric_scale<16>(x, inv));
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = symmetric_level(x[j] * inv, 16), hi = symmetric_level(x[j + kQK / 2] * inv, 16);
      b[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quant_q5_0(const float* x, BlockQ5_0* b, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += kQK) {
    float inv;
    b[i].d = f32_to_f16(symmetric_scale<32>(x, inv));
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = symmetric_level(x[j] * inv, 32), hi = symmetric_level(x[j + kQK / 2] * inv, 32);
      b[i].qs[j] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
      qh |= static_cast<uint32_t>(lo >> 4) << j;
      qh |= static_cast<uint32_t>(hi >> 4) << (j + kQK / 2);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

// Q4_1/Q5_1: levels spread evenly from the block's min to its max.
void min_max(const float* x, float& min, float& max) {
  min = FLT_MAX;
  max = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
}

void quant_q4_1(const float* x, BlockQ4_1* b, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += kQK) {
    float min, max;
    min_max(x, min, max);
    const float d = (max - min) / 15.0f;
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    b[i].m = f32_to_f16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = truncated_level((x[j] - min) * inv + 0.5f, 15);
      const int hi = truncated_level((x[j + kQK / 2] - min) * inv + 0.5f, 15);
      b[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quant_q5_1(const float* x, BlockQ5_1* b, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += kQK) {
    float min, max;
    min_max(x, min, max);
    const float d = (max - min) / 31.0f;
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    b[i].m = f32_to_f16(min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = truncated_level((x[j] - min) * inv + 0.5f, 31);
      const int hi = truncated_level((x[j + kQK / 2] - min) * inv + 0.5f, 31);
      b[i].qs[j] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
      qh |= static_cast<uint32_t>(lo >> 4) << j;
      qh |= static_cast<uint32_t>(hi >> 4) << (j + kQK / 2);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

void quant_q8_0(const float* x, BlockQ8_0* b, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < kQK; ++j) {
      const float r = std::round(x[j] * inv);  // |r| <= 127 for finite input
      b[i].qs[j] = static_cast<int8_t>(r >= -127.0f && r <= 127.0f ? r : (r > 0 ? 127.0f : r < 0 ? -127.0f : 0.0f));
    }
  }
}

// ------------------------------------------------------ quantize, K-quants

// Fits x[i] ~= scale * L[i] - min_out (L in 0..nmax, min_out >= 0) for one
// sub-block, minimising the weighted squared error: start from the min/max
// grid, then try nstep + 1 slightly different grids and keep the one whose
// least-squares (scale, offset) gives the smallest error. This is the search
// ggml's reference K-quantizers run (make_qkx2_quants); the float operations
// are done in the same order so that the chosen levels match.
float fit_scale_and_min(int n, int nmax, const float* x, const float* w, uint8_t* L, float& min_out, float rmin,
                        float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;  // the offset only ever subtracts
  if (max == min) {
    std::fill(L, L + n, 0);
    min_out = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
    const float diff = scale * L[i] + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  uint8_t trial[kQK_K];
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * static_cast<float>(l);
      sum_l2 += w[i] * static_cast<float>(l) * static_cast<float>(l);
      sum_xl += w[i] * static_cast<float>(l) * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;  // also skips NaN
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = this_scale * trial[i] + this_min - x[i];
      error += w[i] * (diff * diff);
    }
    if (error < best_error) {
      std::copy(trial, trial + n, L);
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  min_out = -min;
  return scale;
}

// Packs 6-bit scale/min pairs the way unpack_k_scales reads them.
void pack_k_scales(const uint8_t sc[8], const uint8_t mn[8], uint8_t out[12]) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    out[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0f) | ((mn[j + 4] & 0x0f) << 4));
  }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per sub-block fit, then 6-bit
// scales relative to the super-block maxima, then levels recomputed against
// the scales as stored. Writes d, dmin, scales and the levels L[256].
template <typename Block>
void quant_k_superblock(const float* x, Block& b, int nmax, float rmin, float rdelta, int nstep, uint8_t* L) {
  float scales[8], mins[8], weights[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    // Weigh each element by the sub-block's RMS plus its own magnitude.
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float rms = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = rms + std::fabs(xs[l]);
    scales[j] = fit_scale_and_min(32, nmax, xs, weights, L + 32 * j, mins[j], rmin, rdelta, nstep);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    // ggml stores nearest_int into a uint8_t before clamping to 63; same here.
    sc[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    mn[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
  }
  pack_k_scales(sc, mn, b.scales);
  b.d = f32_to_f16(max_scale / 63.0f);
  b.dmin = f32_to_f16(max_min / 63.0f);
  for (int j = 0; j < 8; ++j) {
    const float d = f16_to_f32(b.d) * sc[j];
    if (d == 0.0f) continue;
    const float dm = f16_to_f32(b.dmin) * mn[j];
    for (int l = 0; l < 32; ++l) {
      L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
    }
  }
}

void quant_q4_k(const float* x, BlockQ4_K* b, size_t nb) {
  uint8_t L[kQK_K];
  for (size_t i = 0; i < nb; ++i, x += kQK_K) {
    quant_k_superblock(x, b[i], 15, -1.0f, 0.1f, 20, L);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l)
        b[i].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + l + 32] << 4));
    }
  }
}

void quant_q5_k(const float* x, BlockQ5_K* b, size_t nb) {
  uint8_t L[kQK_K];
  for (size_t i = 0; i < nb; ++i, x += kQK_K) {
    quant_k_superblock(x, b[i], 31, -0.5f, 0.1f, 15, L);
    std::memset(b[i].qh, 0, sizeof b[i].qh);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l], hi = L[64 * c + l + 32];
        b[i].qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
        b[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }
}

// Fits x[i] ~= scale * (L[i] - nmax) for a symmetric 16-element group of
// Q6_K (L in 0..2 nmax - 1), weighting each element by x^2: start from the
// grid that maps the largest magnitude to -nmax, then try 18 nearby grids
// and keep the best least-squares fit. Same search and operation order as
// ggml's make_qx_quants with rmse_type 1.
float fit_symmetric_scale(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < 1e-15f) {  // all (nearly) zero
    std::fill(L, L + n, 0);
    return 0.0f;
  }
  auto level = [nmax](float v) { return std::clamp(nearest_int(v), -nmax, nmax - 1); };
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = level(iscale * x[i]);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = level(iscale * x[i]);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * static_cast<float>(l);
      suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(level(iscale * x[i]) + nmax);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

void quant_q6_k(const float* x, BlockQ6_K* b, size_t nb) {
  int8_t L[kQK_K];
  float scales[16];
  for (size_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0, max_abs_scale = 0;
    for (int g = 0; g < 16; ++g) {
      scales[g] = fit_symmetric_scale(16, 32, x + 16 * g, L + 16 * g);
      if (std::fabs(scales[g]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[g]);
        max_scale = scales[g];
      }
    }
    std::memset(&b[i], 0, sizeof b[i]);
    if (max_abs_scale < 1e-15f) continue;  // an all-zero block: d = 0, everything 0
    // 8-bit group scales relative to the largest, signed so that the largest
    // maps to -128 (then clamped into int8).
    const float iscale = -128.0f / max_scale;
    b[i].d = f32_to_f16(1 / iscale);
    for (int g = 0; g < 16; ++g) b[i].scales[g] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[g])));
    for (int g = 0; g < 16; ++g) {
      const float d = f16_to_f32(b[i].d) * b[i].scales[g];
      if (d == 0.0f) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * g + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * g + l] / d), -32, 31) + 32);
      }
    }
    for (int half = 0; half < 2; ++half) {
      uint8_t* ql = b[i].ql + 64 * half;
      uint8_t* qh = b[i].qh + 32 * half;
      const int8_t* Lh = L + 128 * half;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((Lh[l] & 0x0f) | ((Lh[l + 64] & 0x0f) << 4));
        ql[l + 32] = static_cast<uint8_t>((Lh[l + 32] & 0x0f) | ((Lh[l + 96] & 0x0f) << 4));
        qh[l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                     ((Lh[l + 96] >> 4) << 6));
      }
    }
  }
}

}  // namespace

float half_to_float_portable(uint16_t h) {
  return f16_to_f32(h);
}

void unpack_k_scales(const uint8_t packed[12], uint8_t scales[8], uint8_t mins[8]) {
  // Sub-blocks 0..3: low 6 bits of bytes 0..3 (scale) and 4..7 (min).
  // Sub-blocks 4..7: low/high nibble of bytes 8..11, plus the top 2 bits
  // of bytes 0..3 (scale) and 4..7 (min) as bits 4..5.
  for (int j = 0; j < 4; ++j) {
    scales[j] = packed[j] & 63;
    mins[j] = packed[j + 4] & 63;
    scales[j + 4] = static_cast<uint8_t>((packed[j + 8] & 0x0f) | ((packed[j] >> 6) << 4));
    mins[j + 4] = static_cast<uint8_t>((packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4));
  }
}

void dequantize_row(DType type, const void* src, float* dst, size_t n) {
  check_row(type, n, "dequantize_row");
  switch (type) {
    case DType::F32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::F16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::Q4_0:
      return dequant_q4_0(static_cast<const BlockQ4_0*>(src), dst, n / kQK);
    case DType::Q4_1:
      return dequant_q4_1(static_cast<const BlockQ4_1*>(src), dst, n / kQK);
    case DType::Q5_0:
      return dequant_q5_0(static_cast<const BlockQ5_0*>(src), dst, n / kQK);
    case DType::Q5_1:
      return dequant_q5_1(static_cast<const BlockQ5_1*>(src), dst, n / kQK);
    case DType::Q8_0:
      return dequant_q8_0(static_cast<const BlockQ8_0*>(src), dst, n / kQK);
    case DType::Q4_K:
      return dequant_q4_k(static_cast<const BlockQ4_K*>(src), dst, n / kQK_K);
    case DType::Q5_K:
      return dequant_q5_k(static_cast<const BlockQ5_K*>(src), dst, n / kQK_K);
    case DType::Q6_K:
      return dequant_q6_k(static_cast<const BlockQ6_K*>(src), dst, n / kQK_K);
    default:
      break;
  }
  throw Error("dequantize_row: type " + std::string(dtype_name(type)) + " is not supported");
}

void quantize_row(DType type, const float* src, void* dst, size_t n) {
  check_row(type, n, "quantize_row");
  switch (type) {
    case DType::F32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::F16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::Q4_0:
      return quant_q4_0(src, static_cast<BlockQ4_0*>(dst), n / kQK);
    case DType::Q4_1:
      return quant_q4_1(src, static_cast<BlockQ4_1*>(dst), n / kQK);
    case DType::Q5_0:
      return quant_q5_0(src, static_cast<BlockQ5_0*>(dst), n / kQK);
    case DType::Q5_1:
      return quant_q5_1(src, static_cast<BlockQ5_1*>(dst), n / kQK);
    case DType::Q8_0:
      return quant_q8_0(src, static_cast<BlockQ8_0*>(dst), n / kQK);
    case DType::Q4_K:
      return quant_q4_k(src, static_cast<BlockQ4_K*>(dst), n / kQK_K);
    case DType::Q5_K:
      return quant_q5_k(src, static_cast<BlockQ5_K*>(dst), n / kQK_K);
    case DType::Q6_K:
      return quant_q6_k(src, static_cast<BlockQ6_K*>(dst), n / kQK_K);
    default:
      break;
  }
  throw Error("quantize_row: type " + std::string(dtype_name(type)) + " is not supported");
}

}  // namespace gemma4::kernels
