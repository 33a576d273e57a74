// GGUF tokenizer metadata, as llama.cpp's converter writes it, handed over as
// plain vectors (GgufTokenizerData) by whoever read the file.
//   "gemma4": BPE with an explicit merge list (tokenizer.ggml.merges). llama.cpp
//             marks the tool-syntax tokens (<|tool_call>, <|"|>, ...) USER_DEFINED
//             only so that they print; they are special tokens of the model, so
//             we load them as control tokens: user text cannot forge them.
//   "llama":  SentencePiece BPE with scores and no merges (Gemma 2/3 GGUFs); the
//             merges are derived from the scores as for tokenizer.model, and
//             user-defined pieces keep SentencePiece's meaning (always whole).
#include "src/text/tokenizer.hpp"

#include "src/formats/gguf.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <variant>

namespace gemma4::text {

Tokenizer Tokenizer::from_gguf(const GgufTokenizerData& gguf) {
  const std::string source = "GGUF tokenizer metadata";
  const auto fail = [&](const std::string& what) { throw Error(fmt::format("{}: {}", source, what)); };
  const bool gemma4 = gguf.model == "gemma4";
  if (!gemma4 && gguf.model != "llama")
    fail(fmt::format("tokenizer.ggml.model \"{}\" is not supported (expected \"gemma4\" or \"llama\")", gguf.model));
  const std::size_t n = gguf.tokens.size();
  if (n == 0) fail("tokenizer.ggml.tokens is missing or empty");
  if (!gguf.token_types.empty() && gguf.token_types.size() != n)
    fail(fmt::format("tokenizer.ggml.token_type has {} entries for {} tokens", gguf.token_types.size(), n));
  if (!gguf.scores.empty() && gguf.scores.size() != n)
    fail(fmt::format("tokenizer.ggml.scores has {} entries for {} tokens", gguf.scores.size(), n));
  if (gguf.add_space_prefix) fail("tokenizer.ggml.add_space_prefix is true (Gemma adds no prefix space)");

  TokenizerData data;
  data.source = source;
  data.pieces = gguf.tokens;
  data.kinds.assign(n, TokenKind::kNormal);
  for (std::size_t i = 0; i < gguf.token_types.size(); ++i) {
    const std::int32_t type = gguf.token_types[i];
    if (type < 1 || type > 6) fail(fmt::format("token {} has type {}, not one of 1..6", i, type));
    data.kinds[i] = static_cast<TokenKind>(type);
    if (gemma4 && data.kinds[i] == TokenKind::kUserDefined) data.kinds[i] = TokenKind::kControl;
  }

  std::unordered_map<std::string_view, std::int32_t> ids;
  for (std::size_t i = n; i-- > 0;) ids[data.pieces[i]] = static_cast<std::int32_t>(i);  // first id wins
  if (gemma4) {
    if (gguf.merges.empty()) fail("tokenizer.ggml.merges is missing (a \"gemma4\" tokenizer needs it)");
    data.merges.reserve(gguf.merges.size());
    for (std::size_t rank = 0; rank < gguf.merges.size(); ++rank) {
      // "left right": llama.cpp splits at the first space after the first byte.
      const std::string& m = gguf.merges[rank];
      const std::size_t space = m.find(' ', 1);
      if (space == std::string::npos) fail(fmt::format("tokenizer.ggml.merges[{}] \"{}\" has no space", rank, m));
      const auto l = ids.find(std::string_view(m).substr(0, space));
      const auto r = ids.find(std::string_view(m).substr(space + 1));
      if (l == ids.end() || r == ids.end())
        fail(fmt::format("tokenizer.ggml.merges[{}] \"{}\" names a piece that is not a token", rank, m));
      data.merges.emplace_back(l->second, r->second);
    }
  } else {
    if (gguf.scores.empty()) fail("tokenizer.ggml.scores is missing (a \"llama\" tokenizer needs it)");
    data.merges = merges_from_scores(data.pieces, gguf.scores);
  }

  const auto id = [&](const std::optional<std::int64_t>& v, const char* key) -> std::optional<std::int32_t> {
    if (!v) return std::nullopt;
    if (*v < 0 || *v >= static_cast<std::int64_t>(n))
      fail(fmt::format("tokenizer.ggml.{} {} is outside the vocabulary (size {})", key, *v, n));
    return static_cast<std::int32_t>(*v);
  };
  data.bos_id = id(gguf.bos_id, "bos_token_id");
  data.eos_id = id(gguf.eos_id, "eos_token_id");
  data.pad_id = id(gguf.pad_id, "padding_token_id");
  data.unk_id = id(gguf.unk_id, "unknown_token_id");
  data.byte_fallback = true;
  data.escape_spaces = true;
  return Tokenizer(std::move(data));
}

namespace {

// The elements of an optional array key, each of variant alternative T.
template <typename T>
std::vector<T> gguf_array(const formats::GgufFile& file, std::string_view key) {
  std::vector<T> out;
  if (!file.has(key)) return out;
  const formats::GgufArray& a = file.get_array(key);
  out.reserve(a.items.size());
  for (const formats::GgufValue& item : a.items) {
    const T* v = std::get_if<T>(&item.value);
    if (v == nullptr) throw Error(fmt::format("{}: metadata '{}' has an element of the wrong type", file.label(), key));
    out.push_back(*v);
  }
  return out;
}

}  // namespace

GgufTokenizerData gguf_tokenizer_data(const formats::GgufFile& file) {
  GgufTokenizerData data;
  data.model = file.get_string("tokenizer.ggml.model");
  data.tokens = gguf_array<std::string>(file, "tokenizer.ggml.tokens");
  data.merges = gguf_array<std::string>(file, "tokenizer.ggml.merges");
  const std::vector<double> scores = gguf_array<double>(file, "tokenizer.ggml.scores");
  data.scores.assign(scores.begin(), scores.end());
  if (file.has("tokenizer.ggml.token_type")) {
    for (const auto& item : file.get_array("tokenizer.ggml.token_type").items) {
      if (const auto* u = std::get_if<std::uint64_t>(&item.value); u && *u <= 6) {
        data.token_types.push_back(static_cast<std::int32_t>(*u));
      } else if (const auto* i = std::get_if<std::int64_t>(&item.value); i && *i >= -1 && *i <= 6) {
        data.token_types.push_back(static_cast<std::int32_t>(*i));
      } else {
        throw Error(fmt::format("{}: metadata 'tokenizer.ggml.token_type' has an element that is not a token type",
                                file.label()));
      }
    }
  }
  const auto id = [&](std::string_view key) -> std::optional<std::int64_t> {
    const auto v = file.get_uint_opt(key);
    return v ? std::optional<std::int64_t>(
                   static_cast<std::int64_t>(std::min<std::uint64_t>(*v, std::numeric_limits<std::int64_t>::max())))
             : std::nullopt;
  };
  data.bos_id = id("tokenizer.ggml.bos_token_id");
  data.eos_id = id("tokenizer.ggml.eos_token_id");
  data.pad_id = id("tokenizer.ggml.padding_token_id");
  data.unk_id = id("tokenizer.ggml.unknown_token_id");
  if (file.has("tokenizer.ggml.add_space_prefix"))
    data.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix");
  return data;
}

}  // namespace gemma4::text
