// tokenizer.json: the Hugging Face `tokenizers` serialisation. We accept the
// pipeline Gemma uses and reject anything that would tokenize differently:
//   normalizer    Replace(" " -> "▁"), or none with a Metaspace pre-tokenizer
//                 that adds no prefix and does not split;
//   pre_tokenizer none, Split on " " (a no-op once spaces are "▁"), or that Metaspace;
//   model         BPE (vocab, merges), optionally byte_fallback / fuse_unk;
//   added_tokens  special ones -> control tokens, the others -> user-defined.
// The decoder is not read: decoding is always Replace("▁"," ") + ByteFallback + Fuse.
#include "src/text/tokenizer.hpp"

#include "src/text/tokenizer_internal.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>

namespace gemma4::text {

namespace {

using nlohmann::json;

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // "▁"

// object[key], or null when the object has no such key (or is no object):
// nlohmann's const operator[] must not be called with a missing key.
const json& field(const json& object, const char* key) {
  static const json null_node;
  if (!object.is_object()) return null_node;
  const auto it = object.find(key);
  return it == object.end() ? null_node : *it;
}

class JsonLoader {
 public:
  explicit JsonLoader(const std::string& source) : source_(source) {}

  [[noreturn]] void fail(const std::string& what) const { throw Error(fmt::format("{}: {}", source_, what)); }

  const json& member(const json& object, const char* key, const char* where) const {
    if (!object.is_object()) fail(fmt::format("{} is not an object", where));
    const auto it = object.find(key);
    if (it == object.end()) fail(fmt::format("{} has no \"{}\"", where, key));
    return *it;
  }

  // A string member that may be absent or null.
  std::optional<std::string> optional_string(const json& object, const char* key, const char* where) const {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) fail(fmt::format("{}.{} is not a string", where, key));
    return it->get<std::string>();
  }

  bool optional_bool(const json& object, const char* key, const char* where) const {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) return false;
    if (!it->is_boolean()) fail(fmt::format("{}.{} is not a boolean", where, key));
    return it->get<bool>();
  }

  // Is this a `{"String": "<text>"}` pattern?
  static bool string_pattern(const json& pattern, std::string_view text) {
    if (!pattern.is_object()) return false;
    const auto it = pattern.find("String");
    return it != pattern.end() && it->is_string() && it->get<std::string>() == text;
  }

  static std::string type_of(const json& step) {
    if (!step.is_object()) return "?";
    const auto it = step.find("type");
    return it != step.end() && it->is_string() ? it->get<std::string>() : "?";
  }

  // Flattens a "Sequence" into its steps (for normalizers and pre-tokenizers).
  static std::vector<const json*> steps(const json& node, const char* list_key) {
    std::vector<const json*> out;
    if (node.is_null()) return out;
    if (type_of(node) == "Sequence" && node.contains(list_key) && node[list_key].is_array()) {
      for (const json& s : node[list_key]) out.push_back(&s);
    } else {
      out.push_back(&node);
    }
    return out;
  }

  static bool plain_metaspace(const json& step) {
    if (type_of(step) != "Metaspace") return false;
    const auto get = [&](const char* key) { return step.contains(key) ? step[key] : json(); };
    return get("replacement") == std::string(kSpaceMark) && get("prepend_scheme") == "never" && get("split") == false;
  }

  // Decides whether " " is written "▁", and rejects every other pipeline step.
  bool escape_spaces(const json& root) const {
    bool escape = false;
    const json& norm = field(root, "normalizer");
    for (const json* step : steps(norm, "normalizers")) {
      if (type_of(*step) == "Replace" && string_pattern(field(*step, "pattern"), " ") &&
          field(*step, "content") == std::string(kSpaceMark)) {
        escape = true;
      } else {
        fail(fmt::format("unsupported normalizer \"{}\" (Gemma's is Replace(\" \", \"\u2581\"))", type_of(*step)));
      }
    }
    const json& pre = field(root, "pre_tokenizer");
    for (const json* step : steps(pre, "pretokenizers")) {
      if (plain_metaspace(*step)) {
        escape = true;
      } else if (type_of(*step) == "Split" && escape && string_pattern(field(*step, "pattern"), " ") &&
                 !optional_bool(*step, "invert", "pre_tokenizer")) {
        // Splits on " ", which the normalizer has already replaced: nothing to do.
      } else {
        fail(
            fmt::format("unsupported pre_tokenizer \"{}\" (Gemma uses none, or Split on \" \" after the "
                        "normalizer)",
                        type_of(*step)));
      }
    }
    return escape;
  }

  std::int32_t checked_id(const json& id, const std::string& where) const {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() >= (1ll << 31) - 1)
      fail(fmt::format("{} has an invalid id {}", where, id.dump()));
    return static_cast<std::int32_t>(id.get<std::int64_t>());
  }

  TokenizerData load(std::string_view text) {
    json root;
    try {
      root = json::parse(text);
    } catch (const json::exception& e) {
      fail(fmt::format("malformed JSON: {}", e.what()));
    }
    if (!root.is_object()) fail("the top level is not a JSON object");
    const json& model = member(root, "model", "the file");
    if (model.contains("type") && field(model, "type") != "BPE")
      fail(fmt::format("model type {} is not supported (only BPE)", field(model, "type").dump()));
    if (!field(model, "dropout").is_null() && field(model, "dropout") != 0) fail("BPE dropout is not supported");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (const auto v = optional_string(model, key, "model"); v && !v->empty())
        fail(fmt::format("model.{} is not supported", key));
    if (optional_bool(model, "ignore_merges", "model")) fail("model.ignore_merges is not supported");

    TokenizerData data;
    data.source = source_;
    data.byte_fallback = optional_bool(model, "byte_fallback", "model");
    data.escape_spaces = escape_spaces(root);

    // Vocabulary: piece -> id. Ids need not be dense in the file; added tokens
    // may add more. Ids no entry names become unused, empty tokens.
    const json& vocab = member(model, "vocab", "model");
    if (!vocab.is_object()) fail("model.vocab is not an object");
    std::map<std::int32_t, std::pair<std::string, TokenKind>> entries;
    for (const auto& [piece, id] : vocab.items()) {
      const std::int32_t i = checked_id(id, fmt::format("model.vocab entry '{}'", piece));
      if (!entries.emplace(i, std::pair(piece, TokenKind::kNormal)).second)
        fail(fmt::format("model.vocab gives id {} twice", i));
    }
    if (const json& added = field(root, "added_tokens"); !added.is_null()) {
      if (!added.is_array()) fail("added_tokens is not an array");
      for (std::size_t k = 0; k < added.size(); ++k) {
        const std::string where = fmt::format("added_tokens[{}]", k);
        const json& token = added[k];
        const json& content = member(token, "content", where.c_str());
        if (!content.is_string() || content.get<std::string>().empty())
          fail(fmt::format("{}.content is not a non-empty string", where));
        const std::int32_t id = checked_id(member(token, "id", where.c_str()), where);
        for (const char* flag : {"lstrip", "rstrip", "single_word"})
          if (optional_bool(token, flag, where.c_str()))
            fail(fmt::format("{} ('{}') sets {}, which is not supported", where, content.get<std::string>(), flag));
        const TokenKind kind =
            optional_bool(token, "special", where.c_str()) ? TokenKind::kControl : TokenKind::kUserDefined;
        auto [it, inserted] = entries.emplace(id, std::pair(content.get<std::string>(), kind));
        if (!inserted) {
          if (it->second.first != content.get<std::string>())
            fail(fmt::format("{} gives id {} to '{}', but the vocabulary has '{}' there", where, id,
                             content.get<std::string>(), it->second.first));
          it->second.second = kind;
        }
      }
    }
    if (entries.empty()) fail("the vocabulary is empty");
    const std::int32_t size = entries.rbegin()->first + 1;
    data.pieces.assign(size, std::string());
    data.kinds.assign(size, TokenKind::kUnused);
    for (auto& [id, entry] : entries) {
      data.pieces[id] = std::move(entry.first);
      data.kinds[id] = entry.second;
      if (data.kinds[id] == TokenKind::kNormal && detail::byte_token_value(data.pieces[id]) >= 0)
        data.kinds[id] = TokenKind::kByte;
    }

    // Special roles: the unknown token is named by the model; the others go by
    // Gemma's names (tokenizer.json does not record them).
    std::unordered_map<std::string_view, std::int32_t> ids;
    for (std::int32_t id = size - 1; id >= 0; --id) ids[data.pieces[id]] = id;  // first id wins
    const auto find = [&](std::string_view piece) {
      const auto it = ids.find(piece);
      return it == ids.end() ? std::nullopt : std::optional<std::int32_t>(it->second);
    };
    if (const auto unk = optional_string(model, "unk_token", "model")) {
      data.unk_id = find(*unk);
      if (!data.unk_id) fail(fmt::format("model.unk_token '{}' is not in the vocabulary", *unk));
      if (data.kinds[*data.unk_id] == TokenKind::kControl) data.kinds[*data.unk_id] = TokenKind::kUnknown;
    }
    data.bos_id = find("<bos>");
    data.eos_id = find("<eos>");
    data.pad_id = find("<pad>");

    // Merges: "left right" strings (older files) or [left, right] pairs.
    const json& merges = member(model, "merges", "model");
    if (!merges.is_array()) fail("model.merges is not an array");
    data.merges.reserve(merges.size());
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
      const json& m = merges[rank];
      std::string left, right;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const std::size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
          fail(fmt::format("model.merges[{}] \"{}\" is not two pieces separated by one space", rank, s));
        left = s.substr(0, space);
        right = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        left = m[0].get<std::string>();
        right = m[1].get<std::string>();
      } else {
        fail(fmt::format("model.merges[{}] is neither \"left right\" nor [left, right]", rank));
      }
      const auto l = find(left), r = find(right);
      if (!l || !r)
        fail(fmt::format("model.merges[{}] uses '{}', which is not in the vocabulary", rank, !l ? left : right));
      data.merges.emplace_back(*l, *r);
    }
    return data;
  }

 private:
  const std::string& source_;
};

}  // namespace

Tokenizer Tokenizer::from_hf_json(const std::filesystem::path& path) {
  return from_hf_json_text(detail::read_tokenizer_file(path), path.string());
}

Tokenizer Tokenizer::from_hf_json_text(std::string_view json_text, const std::string& source) {
  return Tokenizer(JsonLoader(source).load(json_text));
}

}  // namespace gemma4::text
