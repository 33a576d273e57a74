// Built against the installed gemma4 package by the test suite: loads the
// model given on the command line and generates a few tokens through the
// public API, as a user's program would.
#include <gemma4/gemma4.hpp>

#include <cstdio>
#include <cstring>
#include <exception>

int main(int argc, char** argv) {
  if (std::strcmp(gemma4::version(), GEMMA4_VERSION_STRING) != 0) {
    std::fprintf(stderr, "header says %s, library says %s\n", GEMMA4_VERSION_STRING, gemma4::version());
    return 1;
  }
  std::printf("%s\n", gemma4::system_info().c_str());
  if (argc < 2) return 0;
  try {
    auto model = gemma4::Model::load(argv[1]);
    gemma4::Context ctx(model, {.n_ctx = 128});
    gemma4::GenerateOptions options;
    options.max_tokens = 8;
    options.sampling = model->default_sampling();
    options.sampling->seed = 1;
    const auto prompt = model->chat_prompt(R"([{"role": "user", "content": "Hello"}])");
    const auto result = ctx.generate(prompt, options, [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      return true;
    });
    std::printf("\ndownstream OK: %zu tokens generated\n", result.tokens.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "downstream: %s\n", e.what());
    return 1;
  }
  return 0;
}
