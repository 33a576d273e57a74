// What a gemma4::Model holds (shared by src/api/*.cpp only).
#pragma once

#include <gemma4/model.hpp>

#include <memory>
#include <optional>
#include <vector>

#include "src/model/loader.hpp"
#include "src/text/chat.hpp"
#include "src/text/sampler.hpp"
#include "src/text/tokenizer.hpp"

namespace gemma4 {

struct Model::Impl {
  std::unique_ptr<model::LoadedModel> loaded;
  std::optional<text::Tokenizer> tokenizer;
  text::GenerationConfig generation;  // stop ids resolved against this vocabulary
  std::vector<int32_t> suppressed;    // media tokens: never generated from text
  text::TemplateFamily family = text::TemplateFamily::kLarge;
  double load_ms = 0.0;

  text::RenderedPrompt render(std::string_view messages_json, std::string_view tools_json,
                              const ChatOptions& options) const;
};

}  // namespace gemma4
