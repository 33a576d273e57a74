// The thread pool: every part runs exactly once, errors come back to the
// caller, and parallel matvec/matmul give bitwise the same results for any
// thread count on every ISA path.
#include "src/runtime/thread_pool.hpp"

#include <gtest/gtest.h>
#include <gemma4/error.hpp>

#include <atomic>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/isa.hpp"
#include "kernels/cpu/quant.hpp"

using namespace gemma4;
using kernels::DType;

namespace {

TEST(ThreadPool, RangesCoverEverythingOnce) {
  for (size_t threads : {1, 2, 3, 5}) {
    runtime::ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (size_t n : {0, 1, 2, 7, 100}) {
      std::vector<std::atomic<int>> hits(n);
      for (int rep = 0; rep < 20; ++rep) {  // many jobs in a row reuse the workers; both splits
        pool.parallel_for(n, [&](size_t b, size_t e) {
          for (size_t i = b; i < e; ++i) hits[i]++;
        });
        pool.parallel_chunks(n, 3, [&](size_t b, size_t e) {
          EXPECT_LE(e - b, 3u);
          for (size_t i = b; i < e; ++i) hits[i]++;
        });
      }
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 40) << threads << " threads, n " << n << ", i " << i;
    }
  }
}

TEST(ThreadPool, ExceptionsReachTheCaller) {
  runtime::ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(3,
                                 [](size_t b, size_t) {
                                   if (b == 2) throw std::runtime_error("part 2 failed");
                                 }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int> n{0};
  pool.parallel_for(3, [&](size_t b, size_t e) { n += static_cast<int>(e - b); });
  EXPECT_EQ(n.load(), 3);
}

std::vector<float> uniform(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(ParallelMatmul, BitwiseIdenticalForOneTwoAndThreeThreads) {
  const kernels::Isa saved = kernels::active_isa();
  const size_t rows = 157, cols = 512, tokens = 9;
  const auto x = uniform(tokens * cols, 2);
  for (DType t : {DType::F32, DType::BF16, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                  DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    const size_t rb = *kernels::row_bytes(t, cols);
    const auto wf = uniform(rows * cols, 1 + static_cast<unsigned>(t));
    std::vector<unsigned char> w(rows * rb);
    for (size_t r = 0; r < rows; ++r) kernels::quantize_row(t, wf.data() + r * cols, w.data() + r * rb, cols);
    for (kernels::Isa isa : kernels::supported_isas()) {
      kernels::set_active_isa(isa);
      std::vector<float> mv1, mm1;
      for (size_t threads : {1, 2, 3}) {
        runtime::ThreadPool pool(threads);
        runtime::MatmulScratch scratch;
        std::vector<float> mv(rows), mm(tokens * rows);
        runtime::parallel_matvec(pool, t, w.data(), rows, cols, x.data(), mv.data(), scratch);
        runtime::parallel_matmul(pool, t, w.data(), rows, cols, x.data(), tokens, mm.data(), scratch);
        if (threads == 1) {
          mv1 = mv;
          mm1 = mm;
          continue;
        }
        // Bitwise: compare the representations, not with a tolerance.
        ASSERT_EQ(0, std::memcmp(mv.data(), mv1.data(), rows * sizeof(float)))
            << kernels::dtype_name(t) << " matvec, " << threads << " threads, " << kernels::isa_name(isa);
        ASSERT_EQ(0, std::memcmp(mm.data(), mm1.data(), mm.size() * sizeof(float)))
            << kernels::dtype_name(t) << " matmul, " << threads << " threads, " << kernels::isa_name(isa);
        // Token 0 of the matmul is the matvec of that token.
        ASSERT_EQ(0, std::memcmp(mm.data(), mv.data(), rows * sizeof(float))) << kernels::dtype_name(t);
      }
    }
  }
  kernels::set_active_isa(saved);
}

// The first k outputs into rows ldy apart (the decoder's partial per-layer
// embedding projection): the same bits as those of the whole product, and
// nothing written past them.
TEST(ParallelMatmul, LeadingRowsIntoWiderOutputRows) {
  const size_t rows = 100, cols = 256, tokens = 5, lead = 37, ldy = rows + 3;
  const auto x = uniform(tokens * cols, 3);
  for (DType t : {DType::F32, DType::BF16, DType::Q8_0, DType::Q4_K}) {
    const size_t rb = *kernels::row_bytes(t, cols);
    const auto wf = uniform(rows * cols, 7);
    std::vector<unsigned char> w(rows * rb);
    for (size_t r = 0; r < rows; ++r) kernels::quantize_row(t, wf.data() + r * cols, w.data() + r * rb, cols);
    runtime::ThreadPool pool(2);
    runtime::MatmulScratch scratch;
    std::vector<float> full(tokens * rows), part(tokens * ldy, -7.0f);
    runtime::parallel_matmul(pool, t, w.data(), rows, cols, x.data(), tokens, full.data(), scratch);
    runtime::parallel_matmul(pool, t, w.data(), lead, cols, x.data(), tokens, part.data(), scratch, ldy);
    for (size_t k = 0; k < tokens; ++k) {
      ASSERT_EQ(0, std::memcmp(&part[k * ldy], &full[k * rows], lead * sizeof(float))) << kernels::dtype_name(t);
      for (size_t r = lead; r < ldy; ++r) ASSERT_EQ(part[k * ldy + r], -7.0f) << kernels::dtype_name(t);
    }
  }
  runtime::ThreadPool pool(1);
  runtime::MatmulScratch scratch;
  std::vector<float> w(4 * 32), x1(32), y(8);
  EXPECT_THROW(runtime::parallel_matmul(pool, DType::F32, w.data(), 4, 32, x1.data(), 1, y.data(), scratch, 3), Error);
}

TEST(ParallelMatmul, BadShapeIsAnError) {
  runtime::ThreadPool pool(2);
  runtime::MatmulScratch scratch;
  std::vector<float> x(300), y(4);
  std::vector<unsigned char> w(4096);
  EXPECT_THROW(runtime::parallel_matvec(pool, DType::Q4_K, w.data(), 2, 300, x.data(), y.data(), scratch), Error);
}

}  // namespace
