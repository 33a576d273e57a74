#include "src/runtime/thread_pool.hpp"

#include <algorithm>
#include <chrono>

#include "kernels/cpu/matmul.hpp"

namespace gemma4::runtime {

ThreadPool::ThreadPool(size_t n_threads) : n_threads_(n_threads) {
  if (n_threads_ == 0) n_threads_ = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(n_threads_ - 1);
  for (size_t part = 1; part < n_threads_; ++part) workers_.emplace_back([this, part] { worker(part); });
}

ThreadPool::~ThreadPool() {
  stopping_.store(true);
  { std::lock_guard<std::mutex> lock(mutex_); }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

namespace {

// How long a thread spins for the next job or for the job's end before it
// sleeps: longer than the gaps between the matrix products of a decode step,
// short enough that an idle pool costs nothing noticeable.
constexpr auto kSpin = std::chrono::microseconds(200);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until done() or kSpin has passed; returns done().
template <typename Done>
bool spin_until(Done done) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (unsigned i = 1;; ++i) {
    if (done()) return true;
    cpu_relax();
    if (i % 64 == 0) {
      // Give the core away if anything else wants it: on a busy machine a
      // pure spin steals time from the thread that would end the wait.
      std::this_thread::yield();
      if (std::chrono::steady_clock::now() > until) return done();
    }
  }
}

}  // namespace

// The sleeping side registers in sleepers_ before it checks the condition
// under the mutex; the waking side changes the condition before it reads
// sleepers_ (both sequentially consistent), and notifies under the mutex.
// So either the sleeper sees the change or the waker sees the sleeper.
bool ThreadPool::wait_for_job(size_t seen) {
  auto ready = [&] { return stopping_.load() || generation_.load(std::memory_order_acquire) != seen; };
  if (!spin_until(ready)) {
    std::unique_lock<std::mutex> lock(mutex_);
    sleepers_.fetch_add(1);
    start_cv_.wait(lock, ready);
    sleepers_.fetch_sub(1);
  }
  return !stopping_.load();
}

void ThreadPool::wait_until_done() {
  auto done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
  if (spin_until(done)) return;
  std::unique_lock<std::mutex> lock(mutex_);
  sleepers_.fetch_add(1);
  done_cv_.wait(lock, done);
  sleepers_.fetch_sub(1);
}

void ThreadPool::worker(size_t part) {
  size_t seen = 0;
  while (wait_for_job(seen)) {
    seen = generation_.load(std::memory_order_acquire);
    std::exception_ptr error;
    try {
      fn_(ctx_, part);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = error;
    }
    if (pending_.fetch_sub(1) == 1 && sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::run(void (*fn)(void* ctx, size_t part), void* ctx) {
  if (n_threads_ == 1) {
    fn(ctx, 0);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  error_ = nullptr;
  pending_.store(n_threads_ - 1);
  generation_.fetch_add(1);  // publishes fn_, ctx_ and pending_
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    start_cv_.notify_all();
  }
  std::exception_ptr error;
  try {
    fn(ctx, 0);
  } catch (...) {
    error = std::current_exception();
  }
  wait_until_done();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!error) error = error_;
  error_ = nullptr;
  if (error) std::rethrow_exception(error);
}

namespace {

// Chunks of at most 1 MiB of weights and at least 4 per thread. Each chunk
// starts a fresh stream that the prefetchers must pick up again, so fewer,
// longer chunks stream faster (E2B decode, 2 threads: 18.9 tok/s with
// 128 KiB / 8 per thread, 21.1 with 1 MiB / 4), while 4 per thread still
// let a thread the scheduler stalls hand its share to the others.
size_t rows_per_chunk(kernels::DType type, size_t cols, size_t rows, size_t threads) {
  const size_t row_bytes = std::max<size_t>(1, kernels::row_bytes(type, cols).value_or(1));
  const size_t by_size = std::max<size_t>(1, (1024 * 1024) / row_bytes);
  const size_t by_balance = std::max<size_t>(1, rows / (4 * threads));
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
