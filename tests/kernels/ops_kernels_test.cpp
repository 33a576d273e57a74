// Elementwise ops (kernels/cpu/ops.hpp): the reference against known values,
// then every SIMD path this CPU supports against the reference on random
// inputs whose lengths are not multiples of any vector width.
//
// Tolerances (float outputs of magnitude <= ~30):
//   add, mul, scale, top_k: exact (same operations, no reassociation).
//   add_scaled, rope: 1e-6 absolute (an FMA may or may not be used).
//   rms_norm: 1e-5 relative (SIMD sums squares in float, the reference in double).
//   softmax: 1e-6 absolute + 1e-5 relative.
//   gelu_tanh, geglu, softcap: 2e-6 absolute + 4e-6 relative (xsimd's exp/tanh
//   against libm's, a few ulp apart).
#include "kernels/cpu/ops.hpp"

#include <gtest/gtest.h>
#include <gemma4/error.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/isa.hpp"
#include "kernels/cpu/ops_isa.hpp"
#include "kernels/cpu/ops_ref.hpp"

using namespace gemma4::kernels;

namespace {

// Lengths around every vector width (4, 8, 16) and the real model widths.
const size_t kLengths[] = {1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 63, 100, 256, 257, 1536, 5379};

std::vector<float> random_vector(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Fails with the first index where |got - want| > abs_tol + rel_tol * |want|.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, float abs_tol, float rel_tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    const float tol = abs_tol + rel_tol * std::fabs(want[i]);
    if (!(std::fabs(got[i] - want[i]) <= tol)) {
      FAIL() << what << ": index " << i << " of " << got.size() << ": got " << got[i] << ", want " << want[i]
             << " (tolerance " << tol << ")";
    }
  }
}

void expect_equal(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float))) << what << " is not bit-exact";
}

std::string label(Isa isa, size_t n) {
  return std::string(isa_name(isa)) + " n=" + std::to_string(n);
}

// Restores the process-wide path when a test that switches it ends.
struct IsaGuard {
  Isa saved = active_isa();
  ~IsaGuard() { set_active_isa(saved); }
};

}  // namespace

// ---- the reference against values worked out by hand ----

TEST(OpsReference, RmsNormMatchesDefinition) {
  // x = (1, 2, 3, 4): mean of squares 7.5; w used as is (Gemma 4 has no 1 + w).
  const float x[4] = {1, 2, 3, 4};
  const float w[4] = {1, 0.5f, 2, -1};
  float out[4];
  rms_norm(x, w, out, 1, 4, 1e-6f);
  const double inv = 1.0 / std::sqrt(7.5 + 1e-6);
  EXPECT_NEAR(out[0], 1 * inv * 1, 1e-6);
  EXPECT_NEAR(out[1], 2 * inv * 0.5, 1e-6);
  EXPECT_NEAR(out[2], 3 * inv * 2, 1e-6);
  EXPECT_NEAR(out[3], 4 * inv * -1, 1e-6);
  rms_norm(x, nullptr, out, 1, 4, 1e-6f);  // weightless variant
  EXPECT_NEAR(out[3], 4 * inv, 1e-6);
  // Epsilon sits inside the root: an all-zero row stays finite.
  const float zeros[4] = {0, 0, 0, 0};
  rms_norm(zeros, w, out, 1, 4, 1e-6f);
  EXPECT_EQ(out[0], 0.0f);
}

TEST(OpsReference, RmsNormRowsAreIndependent) {
  const float x[6] = {3, 4, 0, 1, 1, 1};  // two rows of 3
  float out[6];
  rms_norm(x, nullptr, out, 2, 3, 1e-6f);
  EXPECT_NEAR(out[0], 3 / std::sqrt(25.0 / 3), 1e-5);
  EXPECT_NEAR(out[3], 1.0, 1e-5);
}

TEST(OpsReference, RopeRotatesSplitHalfPairs) {
  // head_dim 8: pairs (0,4) (1,5) (2,6) (3,7). Rotate only the first 2 pairs.
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const float c[2] = {0.0f, 1.0f};  // pair 0 by +90 degrees, pair 1 by 0
  const float s[2] = {1.0f, 0.0f};
  rope(x, 1, 8, c, s, 2);
  EXPECT_FLOAT_EQ(x[0], -5.0f);  // a cos - b sin
  EXPECT_FLOAT_EQ(x[4], 1.0f);   // b cos + a sin
  EXPECT_FLOAT_EQ(x[1], 2.0f);
  EXPECT_FLOAT_EQ(x[5], 6.0f);
  EXPECT_FLOAT_EQ(x[2], 3.0f);  // unrotated pairs pass through
  EXPECT_FLOAT_EQ(x[7], 8.0f);
}

TEST(OpsReference, RopeAnglesUseFullHeadDimAsDenominator) {
  // Gemma 4 full layers: head_dim 512, theta 1e6, 64 rotated pairs, with
  // inv_freq[i] = 1e6^(-2i/512) (not 1e6^(-2i/128)).
  std::vector<float> c(64), s(64);
  rope_angles(1000, 512, 64, 1e6f, c.data(), s.data());
  for (size_t i : {0u, 1u, 17u, 63u}) {
    const double inv_freq = std::pow(1e6, -2.0 * static_cast<double>(i) / 512.0);
    const double angle = static_cast<double>(static_cast<float>(1000.0f * static_cast<float>(inv_freq)));
    EXPECT_NEAR(c[i], std::cos(angle), 1e-6) << i;
    EXPECT_NEAR(s[i], std::sin(angle), 1e-6) << i;
  }
  // Sliding layers: all 128 pairs of head_dim 256, theta 1e4; position 0 is the identity.
  std::vector<float> c0(128), s0(128);
  rope_angles(0, 256, 128, 1e4f, c0.data(), s0.data());
  for (size_t i = 0; i < 128; ++i) {
    EXPECT_EQ(c0[i], 1.0f);
    EXPECT_EQ(s0[i], 0.0f);
  }
}

TEST(OpsReference, SoftmaxGeluSoftcap) {
  float x[3] = {1.0f, 2.0f, 3.0f};
  softmax(x, 3);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(x[0], std::exp(1.0) / z, 1e-7);
  EXPECT_NEAR(x[2], std::exp(3.0) / z, 1e-7);
  float big[2] = {1000.0f, 1000.0f};  // max subtraction keeps this finite
  softmax(big, 2);
  EXPECT_FLOAT_EQ(big[0], 0.5f);
  const float inf = std::numeric_limits<float>::infinity();
  float masked[2] = {-inf, -inf};
  softmax(masked, 2);
  EXPECT_EQ(masked[0], 0.0f);

  // gelu_tanh(1) = 0.5 (1 + tanh(sqrt(2/pi) 1.044715)) = 0.8411920...
  const float one = 1.0f;
  float g;
  gelu_tanh(&one, &g, 1);
  EXPECT_NEAR(g, 0.841192, 1e-6);
  const float up = 3.0f;
  geglu(&one, &up, &g, 1);
  EXPECT_NEAR(g, 3 * 0.841192, 3e-6);

  float logits[3] = {0.0f, 30.0f, -1e6f};
  softcap(logits, 3, 30.0f);
  EXPECT_EQ(logits[0], 0.0f);
  EXPECT_NEAR(logits[1], 30.0 * std::tanh(1.0), 1e-5);
  EXPECT_NEAR(logits[2], -30.0, 1e-5);
}

TEST(OpsReference, TopKOrdersByValueThenIndexAndSkipsNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float x[8] = {0.5f, 2.0f, nan, 2.0f, -1.0f, 7.0f, 0.5f, 2.0f};
  uint32_t idx[8];
  float val[8];
  ASSERT_EQ(top_k(x, 8, 4, idx, val), 4u);
  EXPECT_EQ(idx[0], 5u);
  EXPECT_EQ(idx[1], 1u);  // three 2.0s: lowest indices first
  EXPECT_EQ(idx[2], 3u);
  EXPECT_EQ(idx[3], 7u);
  EXPECT_EQ(val[3], 2.0f);
  // Asking for all 8 returns the 7 non-NaN values.
  ASSERT_EQ(top_k(x, 8, 8, idx, val), 7u);
  EXPECT_EQ(idx[6], 4u);
  EXPECT_EQ(top_k(x, 8, 0, idx, val), 0u);
}

TEST(OpsReference, AddMulScale) {
  const float a[3] = {1, 2, 3};
  const float b[3] = {4, 5, 6};
  float out[3];
  add(a, b, out, 3);
  EXPECT_EQ(out[2], 9.0f);
  mul(a, b, out, 3);
  EXPECT_EQ(out[1], 10.0f);
  scale(a, 0.5f, out, 3);
  EXPECT_EQ(out[0], 0.5f);
  add_scaled(out, b, 2.0f, 3);
  EXPECT_EQ(out[0], 8.5f);
}

TEST(OpsReference, BadArgumentsThrowNamedErrors) {
  float x[4] = {1, 2, 3, 4};
  float c[2] = {1, 1}, s[2] = {0, 0};
  uint32_t idx[4];
  EXPECT_THROW(rms_norm(x, nullptr, x, 1, 4, 0.0f), gemma4::Error);
  EXPECT_THROW(rms_norm(x, nullptr, x, 1, 4, std::nanf("")), gemma4::Error);
  EXPECT_THROW(rope(x, 1, 4, c, s, 3), gemma4::Error);
  EXPECT_THROW(rope(x, 1, 3, c, s, 1), gemma4::Error);
  EXPECT_THROW(rope_angles(0, 4, 3, 1e4f, c, s), gemma4::Error);
  EXPECT_THROW(rope_angles(-1, 4, 2, 1e4f, c, s), gemma4::Error);
  EXPECT_THROW(softcap(x, 4, 0.0f), gemma4::Error);
  try {
    top_k(x, 4, 5, idx, x);
    FAIL() << "top_k with k > n did not throw";
  } catch (const gemma4::Error& e) {
    EXPECT_NE(std::string(e.what()).find("top_k"), std::string::npos) << e.what();
  }
}

// ---- every path against the reference ----

class OpsPaths : public ::testing::TestWithParam<Isa> {
 protected:
  const OpsTable& t() const { return ops_table_for(GetParam()); }
};

TEST_P(OpsPaths, RmsNorm) {
  for (size_t n : kLengths) {
    const size_t rows = 3;
    const auto x = random_vector(rows * n, -4.0f, 4.0f, static_cast<uint32_t>(n));
    const auto w = random_vector(n, -2.0f, 2.0f, static_cast<uint32_t>(n + 1));
    for (const float* weight : {w.data(), static_cast<const float*>(nullptr)}) {
      std::vector<float> want(rows * n), got(rows * n);
      ops_ref::rms_norm(x.data(), weight, want.data(), rows, n, 1e-6f);
      t().rms_norm(x.data(), weight, got.data(), rows, n, 1e-6f);
      expect_close(got, want, 0.0f, 1e-5f, "rms_norm " + label(GetParam(), n));
      got = x;  // in place
      t().rms_norm(got.data(), weight, got.data(), rows, n, 1e-6f);
      expect_close(got, want, 0.0f, 1e-5f, "rms_norm in place " + label(GetParam(), n));
    }
  }
}

TEST_P(OpsPaths, Rope) {
  for (size_t head_dim : {8u, 16u, 34u, 256u, 512u}) {
    for (size_t n_pairs : {head_dim / 2, head_dim / 8, size_t{3}}) {
      if (n_pairs == 0 || n_pairs > head_dim / 2) continue;
      const size_t rows = 5;
      const auto x = random_vector(rows * head_dim, -2.0f, 2.0f, static_cast<uint32_t>(head_dim * 7 + n_pairs));
      std::vector<float> c(n_pairs), s(n_pairs);
      rope_angles(12345, head_dim, n_pairs, 1e6f, c.data(), s.data());
      auto want = x, got = x;
      ops_ref::rope(want.data(), rows, head_dim, c.data(), s.data(), n_pairs);
      t().rope(got.data(), rows, head_dim, c.data(), s.data(), n_pairs);
      expect_close(got, want, 1e-6f, 0.0f, "rope " + label(GetParam(), head_dim) + " pairs=" + std::to_string(n_pairs));
    }
  }
}

TEST_P(OpsPaths, Softmax) {
  for (size_t n : kLengths) {
    auto x = random_vector(n, -20.0f, 20.0f, static_cast<uint32_t>(n * 3));
    if (n > 4) x[n / 2] = -std::numeric_limits<float>::infinity();  // a masked entry
    auto want = x, got = x;
    ops_ref::softmax(want.data(), n);
    t().softmax(got.data(), n);
    expect_close(got, want, 1e-6f, 1e-5f, "softmax " + label(GetParam(), n));
  }
  std::vector<float> masked(9, -std::numeric_limits<float>::infinity());
  t().softmax(masked.data(), masked.size());
  expect_equal(masked, std::vector<float>(9, 0.0f), "softmax of all -inf");
}

TEST_P(OpsPaths, GeluGegluSoftcap) {
  for (size_t n : kLengths) {
    const auto x = random_vector(n, -8.0f, 8.0f, static_cast<uint32_t>(n * 5));
    const auto up = random_vector(n, -3.0f, 3.0f, static_cast<uint32_t>(n * 5 + 1));
    std::vector<float> want(n), got(n);
    ops_ref::gelu_tanh(x.data(), want.data(), n);
    t().gelu_tanh(x.data(), got.data(), n);
    expect_close(got, want, 2e-6f, 4e-6f, "gelu_tanh " + label(GetParam(), n));
    ops_ref::geglu(x.data(), up.data(), want.data(), n);
    t().geglu(x.data(), up.data(), got.data(), n);
    expect_close(got, want, 2e-6f, 4e-6f, "geglu " + label(GetParam(), n));

    auto logits_want = random_vector(n, -200.0f, 200.0f, static_cast<uint32_t>(n * 5 + 2));
    auto logits_got = logits_want;
    ops_ref::softcap(logits_want.data(), n, 30.0f);
    t().softcap(logits_got.data(), n, 30.0f);
    expect_close(logits_got, logits_want, 2e-6f, 4e-6f, "softcap " + label(GetParam(), n));
  }
}

TEST_P(OpsPaths, AddMulScaleAreExact) {
  for (size_t n : kLengths) {
    const auto a = random_vector(n, -10.0f, 10.0f, static_cast<uint32_t>(n * 11));
    const auto b = random_vector(n, -10.0f, 10.0f, static_cast<uint32_t>(n * 11 + 1));
    std::vector<float> want(n), got(n);
    ops_ref::add(a.data(), b.data(), want.data(), n);
    t().add(a.data(), b.data(), got.data(), n);
    expect_equal(got, want, "add " + label(GetParam(), n));
    ops_ref::mul(a.data(), b.data(), want.data(), n);
    t().mul(a.data(), b.data(), got.data(), n);
    expect_equal(got, want, "mul " + label(GetParam(), n));
    ops_ref::scale(a.data(), 0.0894f, want.data(), n);
    t().scale(a.data(), 0.0894f, got.data(), n);
    expect_equal(got, want, "scale " + label(GetParam(), n));
    auto acc_want = b, acc_got = b;
    ops_ref::add_scaled(acc_want.data(), a.data(), -0.37f, n);
    t().add_scaled(acc_got.data(), a.data(), -0.37f, n);
    expect_close(acc_got, acc_want, 1e-6f, 0.0f, "add_scaled " + label(GetParam(), n));
  }
}

TEST_P(OpsPaths, TopKIsExact) {
  for (size_t n : {1u, 7u, 17u, 100u, 1000u, 262144u + 5u}) {
    // Quantised values make ties common; a few NaNs must be skipped.
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::uniform_int_distribution<int> dist(-2000, 2000);
    std::vector<float> x(n);
    for (float& v : x) v = static_cast<float>(dist(rng)) * 0.25f;
    if (n > 10) x[3] = x[n - 2] = std::numeric_limits<float>::quiet_NaN();
    for (size_t k : {size_t{1}, size_t{5}, size_t{64}, n}) {
      if (k > n) continue;
      std::vector<uint32_t> wi(k), gi(k);
      std::vector<float> wv(k), gv(k);
      const size_t wn = ops_ref::top_k(x.data(), n, k, wi.data(), wv.data());
      const size_t gn = t().top_k(x.data(), n, k, gi.data(), gv.data());
      ASSERT_EQ(gn, wn) << label(GetParam(), n) << " k=" << k;
      wi.resize(wn), gi.resize(gn), wv.resize(wn), gv.resize(gn);
      EXPECT_EQ(gi, wi) << label(GetParam(), n) << " k=" << k;
      expect_equal(gv, wv, "top_k values " + label(GetParam(), n));
      for (size_t i = 1; i < wn; ++i) ASSERT_GE(wv[i - 1], wv[i]);  // best first
    }
  }
}

// The public functions dispatch to the path selected process-wide.
TEST_P(OpsPaths, PublicFunctionsUseTheActivePath) {
  IsaGuard guard;
  set_active_isa(GetParam());
  const size_t n = 1000;
  const auto x = random_vector(n, -8.0f, 8.0f, 99);
  std::vector<float> want(n), got(n);
  t().gelu_tanh(x.data(), want.data(), n);
  gelu_tanh(x.data(), got.data(), n);
  expect_equal(got, want, "gelu_tanh through the dispatcher");
}

INSTANTIATE_TEST_SUITE_P(EverySupportedPath, OpsPaths, ::testing::ValuesIn(supported_isas()),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); });
