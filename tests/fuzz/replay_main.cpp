// Runs a libFuzzer target without libFuzzer: every file of the corpus folders
// given on the command line, then a fixed number of deterministic mutations of
// each (bit flips, truncations, byte insertions), so CI exercises the parser on
// malformed input with any compiler. A crash or sanitizer report fails the test.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void run(const std::vector<uint8_t>& bytes) {
  // Copy into an exact-size heap buffer so ASan catches reads past the end.
  std::vector<uint8_t> exact(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
}

std::vector<uint8_t> mutate(std::vector<uint8_t> v, std::mt19937& rng) {
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits; ++e) {
    const unsigned kind = rng() % 4;
    if (v.empty() || kind == 0) {
      v.insert(v.begin() + (v.empty() ? 0 : rng() % (v.size() + 1)), static_cast<uint8_t>(rng()));
    } else if (kind == 1) {
      v[rng() % v.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    } else if (kind == 2) {
      v.resize(rng() % v.size());
    } else {
      v[rng() % v.size()] = static_cast<uint8_t>(rng());
    }
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int mutations = 200;
  if (const char* env = std::getenv("GEMMA4_FUZZ_MUTATIONS")) mutations = std::atoi(env);
  std::vector<std::vector<uint8_t>> corpus;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(p)) {
      for (const auto& entry : std::filesystem::directory_iterator(p)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else {
      files.push_back(p);
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "replay: no corpus files given\n");
    return 1;
  }
  std::mt19937 rng(12345);
  run({});
  for (const auto& c : corpus) {
    run(c);
    for (int m = 0; m < mutations; ++m) run(mutate(c, rng));
  }
  std::printf("replay: %zu corpus files, %d mutations each: no crash\n", corpus.size(), mutations);
  return 0;
}
