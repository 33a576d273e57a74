// Token sampling. For the 262144-token vocabulary the cost is in passes over
// the logits, so the logits are never copied: suppression and penalties are a
// short list of overrides, and top-k keeps a size-k heap in one pass.
#include "src/text/sampler.hpp"

#include <fmt/format.h>
#include <gemma4/error.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

namespace gemma4::text {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

struct Scored {
  std::int32_t id;
  float logit;
};

// Higher logit first; equal logits by lower id, so results never depend on
// the sort algorithm.
bool before(const Scored& a, const Scored& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

void check_params(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) {
    throw Error(fmt::format("sampling: temperature must be >= 0, got {}", p.temperature));
  }
  if (p.top_k < 0) throw Error(fmt::format("sampling: top_k must be >= 0, got {}", p.top_k));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    throw Error(fmt::format("sampling: top_p must be in (0, 1], got {}", p.top_p));
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
    throw Error(fmt::format("sampling: min_p must be in [0, 1], got {}", p.min_p));
  if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) {
    throw Error(fmt::format("sampling: repetition_penalty must be > 0, got {}", p.repetition_penalty));
  }
  if (!std::isfinite(p.presence_penalty) || !std::isfinite(p.frequency_penalty)) {
    throw Error("sampling: presence_penalty and frequency_penalty must be finite");
  }
  if (p.penalty_last_n < 0) throw Error(fmt::format("sampling: penalty_last_n must be >= 0, got {}", p.penalty_last_n));
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, std::vector<std::int32_t> suppressed_ids)
    : params_(params), suppressed_(std::move(suppressed_ids)) {
  check_params(params_);
  std::uint64_t seed = params_.seed
                           ? *params_.seed
                           : (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  for (auto& s : state_) s = splitmix64(seed);
}

std::uint64_t Sampler::next_random() {
  // xoshiro256** (Blackman and Vigna).
  const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const std::uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

double Sampler::uniform() {
  return static_cast<double>(next_random() >> 11) * 0x1.0p-53;
}

std::vector<SamplingCandidate> Sampler::candidates(std::span<const float> logits,
                                                   std::span<const std::int32_t> history) const {
  const auto n = static_cast<std::int32_t>(logits.size());
  if (n == 0) throw Error("sampling: empty logits");
  const SamplingParams& p = params_;

  // Suppression and penalties change few logits: keep them as overrides
  // sorted by id instead of copying the whole vocabulary.
  std::vector<Scored> overrides;
  for (std::int32_t id : suppressed_) {
    if (id >= 0 && id < n) overrides.push_back({id, kNegInf});
  }
  if (p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    std::span<const std::int32_t> window = history;
    if (p.penalty_last_n > 0 && window.size() > static_cast<std::size_t>(p.penalty_last_n)) {
      window = window.last(static_cast<std::size_t>(p.penalty_last_n));
    }
    std::unordered_map<std::int32_t, int> counts;
    for (std::int32_t id : window) {
      if (id >= 0 && id < n) ++counts[id];
    }
    for (const auto& [id, count] : counts) {
      float v = logits[static_cast<std::size_t>(id)];
      v = v > 0 ? v / p.repetition_penalty : v * p.repetition_penalty;
      v -= p.presence_penalty + static_cast<float>(count) * p.frequency_penalty;
      overrides.push_back({id, v});
    }
  }
  // By id; for one id the suppression (-inf, pushed first) wins.
  std::stable_sort(overrides.begin(), overrides.end(), [](const Scored& a, const Scored& b) { return a.id < b.id; });
  overrides.erase(
      std::unique(overrides.begin(), overrides.end(), [](const Scored& a, const Scored& b) { return a.id == b.id; }),
      overrides.end());

  // Visits every token that is still possible with its adjusted logit, in id order.
  auto for_each_token = [&](auto&& visit) {
    std::size_t next = 0;
    for (std::int32_t id = 0; id < n; ++id) {
      float v = logits[static_cast<std::size_t>(id)];
      if (next < overrides.size() && overrides[next].id == id) v = overrides[next++].logit;
      if (v != kNegInf) visit(Scored{id, v});
    }
  };

  // Keeps the `limit` best tokens seen in a size-limited heap whose top is the
  // weakest one kept.
  auto offer = [](std::vector<Scored>& heap, std::size_t limit, const Scored& s) {
    if (heap.size() < limit) {
      heap.push_back(s);
      if (heap.size() == limit) std::make_heap(heap.begin(), heap.end(), before);
    } else if (before(s, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), before);
      heap.back() = s;
      std::push_heap(heap.begin(), heap.end(), before);
    }
  };

  // One pass: validity, the best token, and (with top-k on) the k best.
  const bool top_k_on = p.top_k > 0;
  const std::size_t k = top_k_on ? static_cast<std::size_t>(p.top_k) : 0;
  std::vector<Scored> c;
  Scored best{-1, kNegInf};
  std::size_t possible = 0;
  bool nan = false;
  for_each_token([&](const Scored& s) {
    if (std::isnan(s.logit) || s.logit == -kNegInf) {
      nan = true;
      return;
    }
    ++possible;
    if (best.id < 0 || before(s, best)) best = s;
    if (top_k_on) offer(c, k, s);
  });
  if (nan) throw Error("sampling: the logits contain NaN or +infinity (the model produced invalid numbers)");
  if (possible == 0) throw Error("sampling: every token is suppressed; nothing can be generated");
  if (p.greedy || p.temperature <= 0.0f || possible == 1) return {{best.id, 1.0f}};

  const double inv_t = 1.0 / static_cast<double>(p.temperature);
  const double max_scaled = static_cast<double>(best.logit) * inv_t;
  // min-p as a logit floor: p_i >= min_p * p_max  <=>  l_i/T >= l_max/T + log(min_p).
  const double floor = p.min_p > 0.0f ? max_scaled + std::log(static_cast<double>(p.min_p)) : -INFINITY;
  auto above_floor = [&](const Scored& s) { return static_cast<double>(s.logit) * inv_t >= floor; };

  // With top-k off, top-p needs the softmax normaliser over the whole
  // vocabulary, and the candidates are found in growing rounds: the best
  // 1024 usually hold top_p already; only if not is everything sorted.
  double total_all = 0;
  if (!top_k_on) {
    const std::size_t first_round = p.top_p < 1.0f ? std::min<std::size_t>(possible, 1024) : possible;
    for_each_token([&](const Scored& s) {
      total_all += std::exp(static_cast<double>(s.logit) * inv_t - max_scaled);
      if (above_floor(s)) offer(c, first_round, s);
    });
    if (c.size() < possible && p.top_p < 1.0f) {
      double mass = 0;
      for (const auto& s : c) mass += std::exp(static_cast<double>(s.logit) * inv_t - max_scaled);
      if (mass / total_all < static_cast<double>(p.top_p) && c.size() == first_round) {
        c.clear();
        for_each_token([&](const Scored& s) {
          if (above_floor(s)) c.push_back(s);
        });
      }
    }
  }
  std::sort(c.begin(), c.end(), before);
  // top-p reads the probabilities after top-k (over its survivors) and before
  // min-p; with top-k off, over the whole vocabulary.
  double norm = total_all;
  if (top_k_on) {
    norm = 0;
    for (const auto& s : c) norm += std::exp(static_cast<double>(s.logit) * inv_t - max_scaled);
    // min-p after top-k (the floor is set by the best token, always kept).
    c.erase(std::find_if_not(c.begin(), c.end(), above_floor), c.end());
  }

  std::vector<double> prob(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) prob[i] = std::exp(static_cast<double>(c[i].logit) * inv_t - max_scaled);

  std::size_t keep = c.size();
  if (p.top_p < 1.0f) {
    // A token stays while the tokens before it hold less than top_p.
    double cumulative = 0;
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (cumulative >= static_cast<double>(p.top_p)) {
        keep = i;
        break;
      }
      cumulative += prob[i] / norm;
    }
  }

  double kept = 0;
  for (std::size_t i = 0; i < keep; ++i) kept += prob[i];
  std::vector<SamplingCandidate> out(keep);
  for (std::size_t i = 0; i < keep; ++i) out[i] = {c[i].id, static_cast<float>(prob[i] / kept)};
  return out;
}

std::int32_t Sampler::sample(std::span<const float> logits, std::span<const std::int32_t> history) {
  const std::vector<SamplingCandidate> c = candidates(logits, history);
  if (c.size() == 1) return c[0].id;
  double total = 0;
  for (const auto& s : c) total += s.probability;
  const double u = uniform() * total;
  double cumulative = 0;
  for (const auto& s : c) {
    cumulative += s.probability;
    if (u < cumulative) return s.id;
  }
  return c.back().id;  // u within rounding of the total
}

}  // namespace gemma4::text
