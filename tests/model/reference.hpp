// Reads a parity fixture of tests/data/models/<variant>/ (made by
// tools/fixtures/make_model_fixtures.py): prompt, greedy continuation and the
// reference logits at every prompt position.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace gemma4::testing {

struct Reference {
  std::vector<int32_t> prompt, greedy;
  std::vector<float> logits;  // [prompt][vocab]
  size_t vocab = 0;
};

inline std::filesystem::path fixture(const std::string& variant) {
  return std::filesystem::path(GEMMA4_TEST_DATA_DIR) / "models" / variant;
}

inline Reference read_reference(const std::string& variant) {
  std::ifstream in(fixture(variant) / "reference.json");
  const auto j = nlohmann::json::parse(in);
  Reference r;
  r.prompt = j.at("prompt").get<std::vector<int32_t>>();
  r.greedy = j.at("greedy").get<std::vector<int32_t>>();
  r.vocab = j.at("logits_shape").at(1).get<size_t>();
  r.logits.resize(r.prompt.size() * r.vocab);
  std::ifstream lf(fixture(variant) / "logits.f32", std::ios::binary);
  lf.read(reinterpret_cast<char*>(r.logits.data()), static_cast<std::streamsize>(r.logits.size() * sizeof(float)));
  if (!lf) throw std::runtime_error("cannot read " + (fixture(variant) / "logits.f32").string());
  return r;
}

inline size_t argmax(const float* x, size_t n) {
  return static_cast<size_t>(std::max_element(x, x + n) - x);
}

}  // namespace gemma4::testing
