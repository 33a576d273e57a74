// matvec/matmul for every weight type on every ISA path this machine runs,
// against (a) the portable (scalar) path and (b) a double-precision dot
// product of the dequantized weights with the unquantized activations.
#include "kernels/cpu/matmul.hpp"

#include <gtest/gtest.h>
#include <gemma4/error.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/isa.hpp"
#include "kernels/cpu/quant.hpp"
#include "kernels/cpu/quant_types.hpp"

using namespace gemma4::kernels;

namespace {

constexpr DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1,
                            DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Restores the process-wide ISA choice when a test ends.
struct IsaGuard {
  Isa saved = active_isa();
  ~IsaGuard() { set_active_isa(saved); }
};

std::vector<float> uniform(size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct Problem {
  DType type;
  size_t rows, cols;
  std::vector<uint8_t> w;    // rows quantized
  std::vector<float> w_deq;  // what the rows hold
  std::vector<float> x;      // one activation row
};

Problem make_problem(DType t, size_t rows, size_t cols, unsigned seed) {
  Problem p{t, rows, cols, {}, {}, {}};
  const size_t rb = *row_bytes(t, cols);
  const auto wf = uniform(rows * cols, seed);
  p.w.resize(rows * rb);
  p.w_deq.resize(rows * cols);
  for (size_t r = 0; r < rows; ++r) {
    quantize_row(t, wf.data() + r * cols, p.w.data() + r * rb, cols);
    dequantize_row(t, p.w.data() + r * rb, p.w_deq.data() + r * cols, cols);
  }
  p.x = uniform(cols, seed + 1000, -2.0f, 2.0f);
  // A few large activations, as real hidden states have.
  if (cols > 8) p.x[cols / 3] = 9.0f, p.x[cols - 1] = -7.5f;
  return p;
}

std::vector<float> run_matvec(const Problem& p) {
  std::vector<uint8_t> xp(activation_row_bytes(p.type, p.cols));
  prepare_activations(p.type, p.x.data(), p.cols, xp.data());
  std::vector<float> y(p.rows);
  matvec(p.type, p.w.data(), p.cols, xp.data(), y.data(), 0, p.rows);
  return y;
}

// Activation block size of the integer dot products (1: activations stay F32).
size_t act_block(DType t) {
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16) return 1;
  return dtype_info(t).block_elems;
}

// Exact-ish reference and the error the kernel may make: activation
// quantization moves each x by at most half a step (amax of its block / 254),
// and the float accumulation costs a little relative to sum |w x|.
void reference(const Problem& p, size_t r, double& ref, double& bound) {
  const float* w = p.w_deq.data() + r * p.cols;
  const size_t blk = act_block(p.type);
  ref = 0;
  double abs_sum = 0, quant_err = 0;
  for (size_t b0 = 0; b0 < p.cols; b0 += blk) {
    double amax = 0, wsum = 0;
    for (size_t i = b0; i < b0 + blk; ++i) {
      ref += double(w[i]) * p.x[i];
      abs_sum += std::fabs(double(w[i]) * p.x[i]);
      amax = std::max(amax, std::fabs(double(p.x[i])));
      wsum += std::fabs(double(w[i]));
    }
    if (blk > 1) quant_err += amax / 254.0 * wsum;
  }
  bound = 1.001 * quant_err + 1e-5 * abs_sum + 1e-6;
}

std::vector<size_t> col_sizes(DType t) {
  const size_t blk = dtype_info(t).block_elems;
  if (blk == 1) return {1, 7, 16, 33, 100, 515, 1536, 6150};  // 6150: BF16's long-row GEMV (4 rows per pass)
  if (blk == 32) return {32, 96, 544, 1536};
  return {256, 768, 1536};
}

// The activations as the integer dot products see them, in element order:
// the quantizer of the 32-element types (Q4_1's plain layout) or of the
// K-quants (Q5_K's), dequantized.
std::vector<double> quantized_activations(DType t, const std::vector<float>& x) {
  std::vector<double> q(x.size());
  if (dtype_info(t).block_elems == 32) {
    std::vector<BlockQ8A> b(x.size() / kQK);
    prepare_activations(DType::Q4_1, x.data(), x.size(), b.data());
    for (size_t i = 0; i < x.size(); ++i) q[i] = double(b[i / kQK].d) * b[i / kQK].qs[i % kQK];
  } else {
    std::vector<BlockQ8K> b(x.size() / kQK_K);
    prepare_activations(DType::Q5_K, x.data(), x.size(), b.data());
    for (size_t i = 0; i < x.size(); ++i) q[i] = double(b[i / kQK_K].d) * b[i / kQK_K].qs[i % kQK_K];
  }
  return q;
}

// Against the quantized activations the integer dot products are exact up to
// float rounding, so this bound is tight where the one above allows for the
// whole activation rounding: a wrong offset or scale for a few sub-blocks
// (a reordered layout read at the wrong place) fails here.
TEST(Matvec, IntegerTypesMatchQuantizedActivationsOnEveryPath) {
  IsaGuard guard;
  for (DType t : kTypes) {
    if (act_block(t) == 1) continue;
    for (size_t cols : col_sizes(t)) {
      const Problem p = make_problem(t, 13, cols, static_cast<unsigned>(cols * 7 + static_cast<unsigned>(t)));
      const std::vector<double> xq = quantized_activations(t, p.x);
      for (Isa isa : supported_isas()) {
        set_active_isa(isa);
        const auto y = run_matvec(p);
        for (size_t r = 0; r < p.rows; ++r) {
          double ref = 0, abs_sum = 0;
          for (size_t i = 0; i < cols; ++i) {
            ref += double(p.w_deq[r * cols + i]) * xq[i];
            abs_sum += std::fabs(double(p.w_deq[r * cols + i]) * xq[i]);
          }
          ASSERT_NEAR(y[r], ref, 1e-5 * abs_sum + 1e-6)
              << dtype_name(t) << " cols " << cols << " row " << r << " on " << isa_name(isa);
        }
      }
    }
  }
}

TEST(Matvec, EveryTypeMatchesDoubleReferenceOnEveryPath) {
  IsaGuard guard;
  for (DType t : kTypes) {
    for (size_t cols : col_sizes(t)) {
      const Problem p = make_problem(t, 13, cols, static_cast<unsigned>(cols * 31 + static_cast<unsigned>(t)));
      for (Isa isa : supported_isas()) {
        set_active_isa(isa);
        const auto y = run_matvec(p);
        for (size_t r = 0; r < p.rows; ++r) {
          double ref, bound;
          reference(p, r, ref, bound);
          ASSERT_NEAR(y[r], ref, bound) << dtype_name(t) << " cols " << cols << " row " << r << " on " << isa_name(isa);
        }
      }
    }
  }
}

// Every SIMD path against the portable one: same quantized activations
// (byte-identical), and results equal up to float summation order.
TEST(Matvec, SimdPathsMatchPortablePath) {
  IsaGuard guard;
  for (DType t : kTypes) {
    for (size_t cols : col_sizes(t)) {
      const Problem p = make_problem(t, 11, cols, static_cast<unsigned>(cols + 7 * static_cast<unsigned>(t)));
      set_active_isa(Isa::scalar);
      std::vector<uint8_t> xs(activation_row_bytes(t, cols));
      prepare_activations(t, p.x.data(), cols, xs.data());
      const auto ys = run_matvec(p);
      for (Isa isa : supported_isas()) {
        if (isa == Isa::scalar) continue;
        set_active_isa(isa);
        std::vector<uint8_t> xv(xs.size());
        prepare_activations(t, p.x.data(), cols, xv.data());
        ASSERT_EQ(xv, xs) << dtype_name(t) << " activations differ on " << isa_name(isa);
        const auto yv = run_matvec(p);
        for (size_t r = 0; r < p.rows; ++r) {
          double abs_sum = 0;
          for (size_t i = 0; i < cols; ++i) abs_sum += std::fabs(double(p.w_deq[r * cols + i]) * p.x[i]);
          ASSERT_NEAR(yv[r], ys[r], 1e-5 * abs_sum + 1e-6)
              << dtype_name(t) << " cols " << cols << " row " << r << " on " << isa_name(isa);
        }
      }
    }
  }
}

// BF16 activations go into the bf16_pairs order (each run of 32: the even
// values, then the odd ones; the tail as it is) the same way on every path.
TEST(PrepareActivations, Bf16PairsOrderOnEveryPath) {
  IsaGuard guard;
  for (size_t cols : {7, 32, 64, 203}) {
    std::vector<float> x(cols);
    for (size_t i = 0; i < cols; ++i) x[i] = static_cast<float>(i);
    std::vector<float> want(cols);
    size_t i = 0;
    for (; i + 32 <= cols; i += 32) {
      for (size_t k = 0; k < 32; ++k) want[i + k] = static_cast<float>(i + (k < 16 ? 2 * k : 2 * (k - 16) + 1));
    }
    for (; i < cols; ++i) want[i] = static_cast<float>(i);
    for (Isa isa : supported_isas()) {
      set_active_isa(isa);
      ASSERT_EQ(activation_row_bytes(DType::BF16, cols), cols * sizeof(float));
      std::vector<float> got(cols, -1.0f);
      prepare_activations(DType::BF16, x.data(), cols, got.data());
      EXPECT_EQ(got, want) << cols << " columns on " << isa_name(isa);
    }
  }
}

// A row range writes exactly those rows, with the values a full call gives.
TEST(Matvec, RowRangeWritesOnlyItsRows) {
  for (DType t : {DType::Q4_K, DType::Q4_0}) {
    const Problem p = make_problem(t, 20, 512, 5);
    const auto full = run_matvec(p);
    std::vector<uint8_t> xp(activation_row_bytes(p.type, p.cols));
    prepare_activations(p.type, p.x.data(), p.cols, xp.data());
    std::vector<float> y(p.rows, -12345.0f);
    matvec(p.type, p.w.data(), p.cols, xp.data(), y.data(), 3, 17);
    for (size_t r = 0; r < p.rows; ++r) {
      if (r < 3 || r >= 17) {
        EXPECT_EQ(y[r], -12345.0f) << r;
      } else {
        EXPECT_EQ(y[r], full[r]) << r;
      }
    }
  }
}

// matmul is matvec per token, bitwise: the same dot product computes every
// element; only the loop order (cache tiles) differs.
TEST(Matmul, EqualsMatvecPerTokenOnEveryPath) {
  IsaGuard guard;
  for (DType t : kTypes) {
    // Ragged everywhere: rows and tokens past the last full tile, and for the
    // 32-element types blocks past the last group of 8 (tile kernels).
    const size_t blk = dtype_info(t).block_elems;
    const size_t cols = blk == 1 ? 203 : blk == 32 ? 608 : 512;
    const size_t rows = 301, tokens = 37;
    Problem p = make_problem(t, rows, cols, 77 + static_cast<unsigned>(t));
    const auto X = uniform(tokens * cols, 99);
    for (Isa isa : supported_isas()) {
      set_active_isa(isa);
      const size_t ab = activation_row_bytes(t, cols);
      std::vector<uint8_t> xp(tokens * ab);
      for (size_t k = 0; k < tokens; ++k) prepare_activations(t, X.data() + k * cols, cols, xp.data() + k * ab);
      const size_t ldy = rows + 5;
      std::vector<float> Y(tokens * ldy, 0.0f);
      matmul(t, p.w.data(), cols, xp.data(), tokens, Y.data(), ldy, 0, rows);
      std::vector<float> y(rows);
      for (size_t k = 0; k < tokens; ++k) {
        matvec(t, p.w.data(), cols, xp.data() + k * ab, y.data(), 0, rows);
        for (size_t r = 0; r < rows; ++r) {
          ASSERT_EQ(Y[k * ldy + r], y[r]) << dtype_name(t) << " token " << k << " row " << r << " on " << isa_name(isa);
        }
      }
    }
  }
}

// BF16 reads rows of 6144 elements and more 4 at a time for one token, and
// 1 at a time otherwise: both give the bits of the matmul tiles.
TEST(Matmul, Bf16LongRowsEqualMatvecPerTokenOnEveryPath) {
  IsaGuard guard;
  const size_t rows = 13, cols = 6150, tokens = 3;  // a leftover row, a tail of 6
  Problem p = make_problem(DType::BF16, rows, cols, 5);
  const auto X = uniform(tokens * cols, 6);
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    const size_t ab = activation_row_bytes(DType::BF16, cols);
    std::vector<uint8_t> xp(tokens * ab);
    for (size_t k = 0; k < tokens; ++k) prepare_activations(DType::BF16, X.data() + k * cols, cols, xp.data() + k * ab);
    std::vector<float> Y(tokens * rows);
    matmul(DType::BF16, p.w.data(), cols, xp.data(), tokens, Y.data(), rows, 0, rows);
    std::vector<float> y(rows);
    for (size_t k = 0; k < tokens; ++k) {
      matvec(DType::BF16, p.w.data(), cols, xp.data() + k * ab, y.data(), 0, rows);
      for (size_t r = 0; r < rows; ++r)
        ASSERT_EQ(Y[k * rows + r], y[r]) << "token " << k << " row " << r << " on " << isa_name(isa);
    }
  }
}

TEST(MatmulErrors, BadTypeOrRowLengthIsAnError) {
  std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> buf(4096);
  std::vector<float> y(4);
  EXPECT_THROW(activation_row_bytes(DType::Q2_K, 256), gemma4::Error);
  EXPECT_THROW(prepare_activations(DType::Q4_0, x.data(), 100, buf.data()), gemma4::Error);
  EXPECT_THROW(matvec(DType::IQ2_XS, buf.data(), 256, buf.data(), y.data(), 0, 1), gemma4::Error);
  try {
    matmul(DType::Q6_K, buf.data(), 300, buf.data(), 1, y.data(), 4, 0, 1);
    FAIL() << "expected an error";
  } catch (const gemma4::Error& e) {
    EXPECT_NE(std::string(e.what()).find("q6_K"), std::string::npos) << e.what();
  }
}

}  // namespace
