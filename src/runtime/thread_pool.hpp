// A fixed set of worker threads that run one parallel job at a time, and the
// parallel matvec/matmul built on it.
//
// Work is split by output rows (into chunks the threads take in turn), and
// each output element is computed by a single thread with the same code
// whatever the split, so results are bitwise identical for any thread count. Nothing
// is allocated per job: the job is a function pointer and a context pointer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "kernels/cpu/dtype.hpp"

namespace gemma4::runtime {

class ThreadPool {
 public:
  // n_threads counts the calling thread, which takes part 0 of every job;
  // 0 means one per hardware thread.
  explicit ThreadPool(size_t n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return n_threads_; }

  // Calls fn(ctx, part) once for every part in [0, size()), each on its own
  // thread, and returns when all are done. If any part throws, the first
  // exception is rethrown here after every part has finished. Not reentrant:
  // call it from one thread at a time, and not from inside a job.
  void run(void (*fn)(void* ctx, size_t part), void* ctx);

  // Splits [0, n) into size() contiguous ranges (the first ones one longer
  // when n does not divide evenly) and calls f(begin, end) for each non-empty
  // range in parallel.
  template <typename F>
  void parallel_for(size_t n, F&& f) {
    struct Job {
      F* f;
      size_t n, parts;
    } job{&f, n, n_threads_};
    run(
        [](void* ctx, size_t part) {
          const Job& j = *static_cast<Job*>(ctx);
          const size_t begin = range_begin(j.n, j.parts, part), end = range_begin(j.n, j.parts, part + 1);
          if (begin < end) (*j.f)(begin, end);
        },
        &job);
  }

  // Splits [0, n) into chunks of `chunk` items (the last may be shorter) that
  // the threads take in turn from a shared counter until none are left:
  // f(begin, end) per chunk. Which thread runs a chunk varies from call to
  // call, so f must compute each item the same way whoever runs it (the
  // matvec does: one dot product per row). On a shared machine this keeps
  // every thread busy even when the scheduler stalls one of them.
  template <typename F>
  void parallel_chunks(size_t n, size_t chunk, F&& f) {
    if (chunk == 0) chunk = 1;
    struct Job {
      F* f;
      size_t n, chunk;
      std::atomic<size_t> next;
    } job{&f, n, chunk, {0}};
    run(
        [](void* ctx, size_t) {
          Job& j = *static_cast<Job*>(ctx);
          for (;;) {
            const size_t begin = j.next.fetch_add(j.chunk, std::memory_order_relaxed);
            if (begin >= j.n) return;
            (*j.f)(begin, begin + j.chunk < j.n ? begin + j.chunk : j.n);
          }
        },
        &job);
  }

  // Start of part `part` when n items are split into `parts` ranges.
  static size_t range_begin(size_t n, size_t parts, size_t part) {
    const size_t base = n / parts, extra = n % parts;
    return part * base + (part < extra ? part : extra);
  }

 private:
  void worker(size_t part);
  // Waits (spinning briefly, then sleeping) until generation_ differs from
  // seen or the pool stops; returns false when it stops.
  bool wait_for_job(size_t seen);
  void wait_until_done();

  size_t n_threads_;
  std::vector<std::thread> workers_;
  // A job is published by storing fn_/ctx_ and then bumping generation_;
  // decode runs hundreds of small jobs per token, so both sides spin for a
  // short while before they sleep on a condition variable.
  std::atomic<size_t> generation_{0};
  std::atomic<size_t> pending_{0};  // worker parts of the current job not yet finished
  std::atomic<int> sleepers_{0};    // threads asleep (or about to be) on a cv
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable start_cv_, done_cv_;
  void (*fn_)(void*, size_t) = nullptr;
  void* ctx_ = nullptr;
  std::exception_ptr error_;
};

// Buffer for prepared activations, reused across calls: it grows to the
// largest size needed and then stops allocating.
struct MatmulScratch {
  std::vector<unsigned char> bytes;
};

// One matrix-vector product y = W x of a batch run by parallel_matvecs;
// w is [rows][cols] in type `type`.
struct Matvec {
  kernels::DType type;
  const void* w;
  size_t rows, cols;
  const float* x;
  float* y;
};

// Runs up to kMaxMatvecs products in one parallel pass: one wake-up of the
// pool instead of one per product, and the rows of all of them shared out in
// chunks (decode runs q, k and v, or gate and up, or a token's experts, as
// one pass). Products with the same x and type share prepared activations.
constexpr size_t kMaxMatvecs = 16;
void parallel_matvecs(ThreadPool& pool, std::span<const Matvec> jobs, MatmulScratch& scratch);

// y[r] = dot(row r of w, x) for all rows; w is [rows][cols] in type `type`.
// Throws gemma4::Error for unsupported types or a cols the type cannot hold.
void parallel_matvec(ThreadPool& pool, kernels::DType type, const void* w, size_t rows, size_t cols, const float* x,
                     float* y, MatmulScratch& scratch);

// y[t][r] = dot(row r of w, x[t]) for n_tokens rows of x ([n_tokens][cols]);
// y is [n_tokens][rows], or its token rows ldy floats apart where ldy > 0.
void parallel_matmul(ThreadPool& pool, kernels::DType type, const void* w, size_t rows, size_t cols, const float* x,
                     size_t n_tokens, float* y, MatmulScratch& scratch, size_t ldy = 0);

}  // namespace gemma4::runtime
