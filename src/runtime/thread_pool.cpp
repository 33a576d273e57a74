#include "src/runtime/thread_pool.hpp"

#include <gemma4/error.hpp>

#include <algorithm>
#include <array>
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
  const size_t rows_per = std::min(by_size, by_balance);
  // Whole groups of 4 rows where there are enough: the tile kernels take 4
  // rows at a time, and a leftover row goes through their slower 1-row form.
  return rows_per >= 4 ? rows_per / 4 * 4 : rows_per;
}

// BF16 matrix products walk a chunk's rows once per token tile (kernels::
// matmul), reading the tile's F32 activations again for each chunk: fewer,
// larger chunks read them fewer times (2 threads, 1536 x 6144: 154-161 ->
// 175-177 GFLOP/s, 21504 x 5376 188-194 -> 203-207; the quantized types,
// whose tiles hold 64 KiB of rows against 32 tokens, gained nothing). Two
// chunks per thread still let a thread the scheduler stalls hand work over.
size_t bf16_matmul_rows_per_chunk(size_t rows, size_t threads) {
  const size_t per = std::max<size_t>(1, (rows + 2 * threads - 1) / (2 * threads));
  return per >= 8 ? (per + 7) / 8 * 8 : per;
}

}  // namespace

void parallel_matvecs(ThreadPool& pool, std::span<const Matvec> jobs, MatmulScratch& scratch) {
  if (jobs.size() > kMaxMatvecs) throw Error("parallel_matvecs: more than 16 products in one pass");
  // Prepared activations: one row per distinct (x, type).
  std::array<size_t, kMaxMatvecs> act_offset{}, chunk_rows{}, first_chunk{};
  size_t act_total = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const Matvec& m = jobs[j];
    const size_t bytes = kernels::activation_row_bytes(m.type, m.cols);  // validates type and cols
    act_offset[j] = act_total;
    for (size_t k = 0; k < j; ++k) {
      if (jobs[k].x == m.x && jobs[k].type == m.type && jobs[k].cols == m.cols) {
        act_offset[j] = act_offset[k];
        break;
      }
    }
    if (act_offset[j] == act_total) act_total += bytes;
  }
  if (scratch.bytes.size() < act_total) scratch.bytes.resize(act_total);
  // One activation row is cheap to prepare (a pass over cols floats); doing
  // it on one thread avoids a second synchronisation.
  for (size_t j = 0; j < jobs.size(); ++j) {
    bool shared = false;
    for (size_t k = 0; k < j; ++k) shared = shared || act_offset[k] == act_offset[j];
    if (!shared)
      kernels::prepare_activations(jobs[j].type, jobs[j].x, jobs[j].cols, scratch.bytes.data() + act_offset[j]);
  }
  // Chunks numbered across the jobs; a chunk never spans two of them.
  size_t n_chunks = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    chunk_rows[j] = rows_per_chunk(jobs[j].type, jobs[j].cols, jobs[j].rows, pool.size());
    first_chunk[j] = n_chunks;
    n_chunks += (jobs[j].rows + chunk_rows[j] - 1) / chunk_rows[j];
  }
  const unsigned char* acts = scratch.bytes.data();
  pool.parallel_chunks(n_chunks, 1, [&](size_t c0, size_t c1) {
    for (size_t c = c0; c < c1; ++c) {
      size_t j = jobs.size() - 1;
      while (first_chunk[j] > c) --j;
      const Matvec& m = jobs[j];
      const size_t r0 = (c - first_chunk[j]) * chunk_rows[j];
      const size_t r1 = std::min(m.rows, r0 + chunk_rows[j]);
      kernels::matvec(m.type, m.w, m.cols, acts + act_offset[j], m.y, r0, r1);
    }
  });
}

void parallel_matvec(ThreadPool& pool, kernels::DType type, const void* w, size_t rows, size_t cols, const float* x,
                     float* y, MatmulScratch& scratch) {
  const Matvec job{type, w, rows, cols, x, y};
  parallel_matvecs(pool, std::span<const Matvec>(&job, 1), scratch);
}

void parallel_matmul(ThreadPool& pool, kernels::DType type, const void* w, size_t rows, size_t cols, const float* x,
                     size_t n_tokens, float* y, MatmulScratch& scratch, size_t ldy) {
  if (ldy == 0) ldy = rows;
  if (ldy < rows)
    throw Error("parallel_matmul: output rows of " + std::to_string(ldy) + " floats hold no " + std::to_string(rows) +
                " outputs");
  const size_t act_bytes = kernels::activation_row_bytes(type, cols);
  if (scratch.bytes.size() < act_bytes * n_tokens) scratch.bytes.resize(act_bytes * n_tokens);
  unsigned char* xp = scratch.bytes.data();
  // Tokens are independent: prepare them in parallel, then split the rows.
  pool.parallel_for(n_tokens, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) kernels::prepare_activations(type, x + t * cols, cols, xp + t * act_bytes);
  });
  const size_t chunk = type == kernels::DType::BF16 ? bf16_matmul_rows_per_chunk(rows, pool.size())
                                                    : rows_per_chunk(type, cols, rows, pool.size());
  pool.parallel_chunks(rows, chunk,
                       [&](size_t r0, size_t r1) { kernels::matmul(type, w, cols, xp, n_tokens, y, ldy, r0, r1); });
}

}  // namespace gemma4::runtime
