// Block layouts (hand-built blocks with known values), round-trip error
// bounds per type, and errors for bad input.
#include "kernels/cpu/quant.hpp"

#include <gtest/gtest.h>
#include <gemma4/error.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/fp16.hpp"
#include "kernels/cpu/quant_types.hpp"

using namespace gemma4::kernels;

namespace {

constexpr uint16_t kHalfOne = 0x3c00;      // 1.0
constexpr uint16_t kHalfHalf = 0x3800;     // 0.5
constexpr uint16_t kHalfQuarter = 0x3400;  // 0.25
constexpr uint16_t kHalfMinusOne = 0xbc00;

std::vector<float> dequant(DType t, const void* block, size_t n) {
  std::vector<float> out(n);
  dequantize_row(t, block, out.data(), n);
  return out;
}

TEST(QuantLayout, Q4_0NibblesAndOffset) {
  BlockQ4_0 b{};
  b.d = kHalfHalf;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequant(DType::Q4_0, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8)) << j;       // low nibbles: elements 0..15
    EXPECT_EQ(y[j + 16], 0.5f * (7 - j)) << j;  // high nibbles: elements 16..31
  }
}

TEST(QuantLayout, Q4_1ScaleAndMin) {
  BlockQ4_1 b{};
  b.d = kHalfHalf;
  b.m = kHalfMinusOne;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (3 << 4));
  const auto y = dequant(DType::Q4_1, &b, 32);
  EXPECT_EQ(y[0], -1.0f);
  EXPECT_EQ(y[15], 6.5f);
  EXPECT_EQ(y[20], 0.5f);
}

TEST(QuantLayout, Q5_0FifthBitFromLittleEndianQh) {
  BlockQ5_0 b{};
  b.d = kHalfOne;
  // qh = 0x80000001: elements 0 and 31 have the fifth bit.
  b.qh[0] = 0x01;
  b.qh[3] = 0x80;
  for (int j = 0; j < 16; ++j) b.qs[j] = 0xff;
  const auto y = dequant(DType::Q5_0, &b, 32);
  EXPECT_EQ(y[0], 15.0f);  // 31 - 16
  EXPECT_EQ(y[1], -1.0f);  // 15 - 16
  EXPECT_EQ(y[16], -1.0f);
  EXPECT_EQ(y[31], 15.0f);
}

TEST(QuantLayout, Q5_1) {
  BlockQ5_1 b{};
  b.d = kHalfQuarter;
  b.m = kHalfOne;
  b.qh[2] = 0x01;  // bit 16: element 16
  b.qs[0] = 0x21;  // element 0 level 1, element 16 level 2 | 16
  const auto y = dequant(DType::Q5_1, &b, 32);
  EXPECT_EQ(y[0], 1.25f);
  EXPECT_EQ(y[16], 1.0f + 0.25f * 18);
  EXPECT_EQ(y[1], 1.0f);
}

TEST(QuantLayout, Q8_0) {
  BlockQ8_0 b{};
  b.d = kHalfQuarter;
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 127);
  const auto y = dequant(DType::Q8_0, &b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.25f * (j * 8 - 127));
}

// Packs 6-bit scales and mins as the Q4_K/Q5_K format documents it, written
// here independently of the library's packer.
void pack_scales(const int sc[8], const int mn[8], uint8_t out[12]) {
  std::memset(out, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      out[j] |= static_cast<uint8_t>(sc[j]);
      out[j + 4] |= static_cast<uint8_t>(mn[j]);
    } else {
      out[j + 4] = static_cast<uint8_t>((sc[j] & 15) | ((mn[j] & 15) << 4));
      out[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      out[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
}

TEST(QuantLayout, Q4_KSubBlocksScalesAndMins) {
  BlockQ4_K b{};
  b.d = kHalfHalf;
  b.dmin = kHalfQuarter;
  const int sc[8] = {1, 2, 3, 17, 33, 63, 40, 5};
  const int mn[8] = {0, 4, 63, 16, 31, 1, 2, 50};
  pack_scales(sc, mn, b.scales);
  // Element e lives in sub-block e / 32; chunk e / 64, low nibble for even
  // sub-blocks and high nibble for odd ones, byte (e % 32) of the chunk.
  auto level = [](int e) { return (e * 7 + 3) % 16; };
  for (int e = 0; e < 256; ++e) {
    const int chunk = e / 64, byte = e % 32;
    const bool high = (e / 32) % 2 == 1;
    b.qs[32 * chunk + byte] |= static_cast<uint8_t>(high ? level(e) << 4 : level(e));
  }
  const auto y = dequant(DType::Q4_K, &b, 256);
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32;
    EXPECT_EQ(y[e], 0.5f * sc[s] * level(e) - 0.25f * mn[s]) << e;
  }
}

TEST(QuantLayout, Q5_KFifthBits) {
  BlockQ5_K b{};
  b.d = kHalfOne;
  b.dmin = kHalfOne;
  const int sc[8] = {1, 1, 1, 1, 1, 1, 1, 63};
  const int mn[8] = {0, 0, 0, 0, 0, 0, 0, 32};
  pack_scales(sc, mn, b.scales);
  auto level = [](int e) { return (e * 11 + 5) % 32; };
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32, chunk = e / 64, byte = e % 32;
    const int l = level(e);
    b.qs[32 * chunk + byte] |= static_cast<uint8_t>(s % 2 ? (l & 15) << 4 : (l & 15));
    if (l & 16) b.qh[byte] |= static_cast<uint8_t>(1u << s);  // bit s of qh[byte]
  }
  const auto y = dequant(DType::Q5_K, &b, 256);
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32;
    EXPECT_EQ(y[e], static_cast<float>(sc[s] * level(e) - mn[s])) << e;
  }
}

TEST(QuantLayout, Q6_KHalvesAndGroups) {
  BlockQ6_K b{};
  b.d = kHalfQuarter;
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<int8_t>(g * 9 - 70);
  auto level = [](int e) { return (e * 13 + 7) % 64; };
  // Within a half of 128: element 32k + l (k < 4) keeps its low 4 bits in
  // ql[l + 32 (k % 2)] (low nibble for k < 2) and its top 2 bits in bits
  // 2k..2k+1 of qh[l].
  for (int e = 0; e < 256; ++e) {
    const int half = e / 128, k = (e % 128) / 32, l = e % 32;
    const int q = level(e);
    b.ql[64 * half + l + 32 * (k % 2)] |= static_cast<uint8_t>(k < 2 ? (q & 15) : (q & 15) << 4);
    b.qh[32 * half + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
  }
  const auto y = dequant(DType::Q6_K, &b, 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], 0.25f * b.scales[e / 16] * (level(e) - 32)) << e;
}

TEST(QuantLayout, FloatTypes) {
  const uint16_t h[3] = {kHalfOne, 0xc000 /* -2 */, 0x0001 /* smallest subnormal */};
  EXPECT_EQ(dequant(DType::F16, h, 3), (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24)}));
  const uint16_t bf[2] = {0x3f80, 0xc040};  // 1, -3
  EXPECT_EQ(dequant(DType::BF16, bf, 2), (std::vector<float>{1.0f, -3.0f}));
}

// ------------------------------------------------------------- round trips

std::vector<float> gaussian(size_t n, unsigned seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> round_trip(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(*row_bytes(t, x.size()));
  quantize_row(t, x.data(), q.data(), x.size());
  return dequant(t, q.data(), x.size());
}

float amax(const float* x, int n) {
  float m = 0;
  for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

// Legacy types: per-block worst-case bounds from the format. A level step is
// range / levels; rounding costs half a step; the f16 scale and min cost up
// to 2^-11 relative each, times the largest level.
TEST(QuantRoundTrip, LegacyTypesWithinPerBlockBounds) {
  const auto x = gaussian(32 * 64, 1);
  struct Case {
    DType t;
    float step_per_amax;  // step = amax * this (symmetric) or range * this
    bool has_min;
    float worst_steps;  // rounding error in steps (1 where the top level is clamped)
    int max_level;
  };
  const Case cases[] = {{DType::Q8_0, 1.0f / 127, false, 0.5f, 127},
                        {DType::Q4_0, 1.0f / 8, false, 1.0f, 8},
                        {DType::Q5_0, 1.0f / 16, false, 1.0f, 16},
                        {DType::Q4_1, 1.0f / 15, true, 0.5f, 15},
                        {DType::Q5_1, 1.0f / 31, true, 0.5f, 31}};
  for (const Case& c : cases) {
    const auto y = round_trip(c.t, x);
    for (int b = 0; b < 64; ++b) {
      const float* xb = x.data() + 32 * b;
      float lo = xb[0], hi = xb[0];
      for (int j = 0; j < 32; ++j) lo = std::min(lo, xb[j]), hi = std::max(hi, xb[j]);
      const float step = (c.has_min ? hi - lo : amax(xb, 32)) * c.step_per_amax;
      const float f16_err = std::ldexp(1.0f, -11) * (step * c.max_level + (c.has_min ? std::fabs(lo) : 0.0f));
      const float bound = c.worst_steps * step + f16_err + 1e-6f;
      for (int j = 0; j < 32; ++j) {
        ASSERT_LE(std::fabs(y[32 * b + j] - xb[j]), bound) << dtype_name(c.t) << " block " << b << " elem " << j;
      }
    }
  }
}

// K-quants: the fitted scales have no simple worst case, so bound the RMS
// error relative to the data's RMS (measured for N(0,1) data: Q4_K ~0.07,
// Q5_K ~0.035, Q6_K ~0.018) and the worst element.
TEST(QuantRoundTrip, KQuantsWithinRmsBounds) {
  const auto x = gaussian(256 * 64, 2, 0.02f);  // typical weight scale
  struct Case {
    DType t;
    double max_rel_rms;
    double max_rel_abs;  // worst |error| / block amax
  };
  for (const Case& c :
       {Case{DType::Q4_K, 0.09, 0.12}, Case{DType::Q5_K, 0.045, 0.06}, Case{DType::Q6_K, 0.022, 0.03}}) {
    const auto y = round_trip(c.t, x);
    double err2 = 0, sig2 = 0, worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      err2 += double(y[i] - x[i]) * (y[i] - x[i]);
      sig2 += double(x[i]) * x[i];
      worst = std::max(worst, std::fabs(double(y[i] - x[i])) / amax(x.data() + i / 256 * 256, 256));
    }
    const double rel = std::sqrt(err2 / sig2);
    EXPECT_LT(rel, c.max_rel_rms) << dtype_name(c.t);
    EXPECT_GT(rel, c.max_rel_rms / 10) << dtype_name(c.t) << ": suspiciously exact";
    EXPECT_LT(worst, c.max_rel_abs) << dtype_name(c.t);
  }
}

TEST(QuantRoundTrip, FloatTypesRoundToNearest) {
  const auto x = gaussian(1000, 3);
  const auto h = round_trip(DType::F16, x);
  const auto b = round_trip(DType::BF16, x);
  const auto f = round_trip(DType::F32, x);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(std::fabs(h[i] - x[i]), std::fabs(x[i]) * std::ldexp(1.0f, -11) + std::ldexp(1.0f, -25));
    EXPECT_LE(std::fabs(b[i] - x[i]), std::fabs(x[i]) * std::ldexp(1.0f, -8));
    EXPECT_EQ(f[i], x[i]);
  }
}

// Constant and all-zero blocks must round-trip exactly (no division by zero).
TEST(QuantRoundTrip, ZeroBlocksStayZero) {
  const std::vector<float> zeros(256, 0.0f);
  for (DType t :
       {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    for (float v : round_trip(t, zeros)) ASSERT_EQ(v, 0.0f) << dtype_name(t);
  }
}

// The quantizers follow ggml's reference rules: spot-check the documented
// choices for the legacy types on a block whose answer is known by hand.
TEST(QuantRoundTrip, LegacyQuantizersFollowGgmlRules) {
  std::vector<float> x(32, 0.0f);
  x[0] = -4.0f;  // largest magnitude, negative: Q4_0 d = -4 / -8 = 0.5
  x[1] = 4.0f;   // opposite extreme: level 8 + 8 = 16, clamped to 15
  x[2] = 0.25f;  // exactly half a step: 8.5 + 0.5 rounds half up to level 9
  BlockQ4_0 b;
  quantize_row(DType::Q4_0, x.data(), &b, 32);
  EXPECT_EQ(b.d, 0x3800);  // 0.5
  EXPECT_EQ(b.qs[0] & 15, 0);
  EXPECT_EQ(b.qs[1] & 15, 15);
  EXPECT_EQ(b.qs[2] & 15, 9);
  EXPECT_EQ(b.qs[3] & 15, 8);
  BlockQ8_0 q8;
  quantize_row(DType::Q8_0, x.data(), &q8, 32);  // d = amax / 127, levels = round(x / d)
  EXPECT_EQ(q8.d, f32_to_f16(4.0f / 127.0f));
  EXPECT_EQ(q8.qs[0], -127);
  EXPECT_EQ(q8.qs[1], 127);
  EXPECT_EQ(q8.qs[2], 8);  // 0.25 * 127 / 4 = 7.94
}

// ------------------------------------------------------------------ errors

TEST(QuantErrors, UnsupportedTypeAndPartialBlocksAreRejected) {
  std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> buf(1024);
  EXPECT_THROW(quantize_row(DType::Q2_K, x.data(), buf.data(), 256), gemma4::Error);
  EXPECT_THROW(dequantize_row(DType::IQ4_XS, buf.data(), x.data(), 256), gemma4::Error);
  try {
    dequantize_row(DType::Q4_K, buf.data(), x.data(), 100);
    FAIL() << "expected an error";
  } catch (const gemma4::Error& e) {
    EXPECT_NE(std::string(e.what()).find("q4_K"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("100"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

// NaN and infinite inputs give garbage levels in their own block but never
// crash, trip UB (see it under -fsanitize=undefined) or leak into the
// other blocks of the row.
TEST(QuantErrors, NonFiniteInputStaysInItsBlock) {
  std::vector<float> x(512, 0.5f);
  x[3] = std::nanf("");
  x[40] = INFINITY;
  x[77] = -INFINITY;
  std::vector<uint8_t> buf(2048);
  std::vector<float> y(512);
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q5_K,
                  DType::Q6_K, DType::F16, DType::BF16}) {
    quantize_row(t, x.data(), buf.data(), 512);
    dequantize_row(t, buf.data(), y.data(), 512);
    for (size_t i = 256; i < 512; ++i) ASSERT_NEAR(y[i], 0.5f, 0.02f) << dtype_name(t) << " element " << i;
  }
}

}  // namespace
