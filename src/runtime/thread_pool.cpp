#include "src/runtime/thread_pool.hpp"

#include <algorithm>

#include "kernels/cpu/matmul.hpp"

namespace gemma4::runtime {

ThreadPool::ThreadPool(size_t n_threads) : n_threads_(n_threads) {
  if (n_threads_ == 0) n_threads_ = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(n_threads_ - 1);
  for (size_t part = 1; part < n_threads_; ++part) workers_.emplace_back([this, part] { worker(part); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker(size_t part) {
  size_t seen = 0;
  for (;;) {
    void (*fn)(void*, size_t);
    void* ctx;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      fn = fn_;
      ctx = ctx_;
    }
    std::exception_ptr error;
    try {
      fn(ctx, part);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (error && !error_) error_ = error;
    if (--pending_ == 0) done_cv_.notify_one();
  }
}

void ThreadPool::run(void (*fn)(void* ctx, size_t part), void* ctx) {
  if (n_threads_ == 1) {
    fn(ctx, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = fn;
    ctx_ = ctx;
    error_ = nullptr;
    pending_ = n_threads_ - 1;
    ++generation_;
  }
  start_cv_.notify_all();
  std::exception_ptr error;
  try {
    fn(ctx, 0);
  } catch (...) {
    error = std::current_exception();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait(lock, [&] { return pending_ == 0; });
  if (!error) error = error_;
  error_ = nullptr;
  lock.unlock();
  if (error) std::rethrow_exception(error);
}

namespace {

// Chunks of about 128 KiB of weights: large enough that taking one costs
// nothing next to streaming it, small enough that a stalled thread leaves
// plenty for the others (at least 8 chunks per thread when the matrix allows).
size_t rows_per_chunk(kernels::DType type, size_t cols, size_t rows, size_t threads) {
  const size_t row_bytes = std::max<size_t>(1, kernels::row_bytes(type, cols).value_or(1));
  const size_t by_size = std::max<size_t>(1, (128 * 1024) / row_bytes);
  const size_t by_balance = std::max<size_t>(1, rows / (8 * threads));
  return std::min(by_size, by_balance);
}

}  // namespace

void parallel_matvec(ThreadPool& pool, kernels::DType type, const void* w, size_t rows, size_t cols, const float* x,
                     float* y, MatmulScratch& scratch) {
  const size_t act_bytes = kernels::activation_row_bytes(type, cols);  // validates type and cols
  if (scratch.bytes.size() < act_bytes) scratch.bytes.resize(act_bytes);
  // One activation row is cheap to prepare (a pass over cols floats); doing
  // it on one thread avoids a second synchronisation.
  kernels::prepare_activations(type, x, cols, scratch.bytes.data());
  const void* xp = scratch.bytes.data();
  pool.parallel_chunks(rows, rows_per_chunk(type, cols, rows, pool.size()),
                       [&](size_t r0, size_t r1) { kernels::matvec(type, w, cols, xp, y, r0, r1); });
}

void parallel_matmul(ThreadPool& pool, kernels::DType type, const void* w, size_t rows, size_t cols, const float* x,
                     size_t n_tokens, float* y, MatmulScratch& scratch) {
  const size_t act_bytes = kernels::activation_row_bytes(type, cols);
  if (scratch.bytes.size() < act_bytes * n_tokens) scratch.bytes.resize(act_bytes * n_tokens);
  unsigned char* xp = scratch.bytes.data();
  // Tokens are independent: prepare them in parallel, then split the rows.
  pool.parallel_for(n_tokens, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) kernels::prepare_activations(type, x + t * cols, cols, xp + t * act_bytes);
  });
  pool.parallel_chunks(rows, rows_per_chunk(type, cols, rows, pool.size()),
                       [&](size_t r0, size_t r1) { kernels::matmul(type, w, cols, xp, n_tokens, y, rows, r0, r1); });
}

}  // namespace gemma4::runtime
