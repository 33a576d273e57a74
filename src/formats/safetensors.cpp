#include "src/formats/safetensors.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace gemma4::formats {
namespace {

using kernels::DType;
using nlohmann::json;

// The reference implementation refuses headers above 100 MB; so do we, before
// reading them.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Parses JSON, rejecting duplicate keys in the top-level object (nlohmann
// would silently keep the last one, hiding a corrupt header).
json parse_json(std::string_view text, const std::string& label, std::string_view what) {
  std::set<std::string> seen;
  std::string duplicate;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && parsed.is_string()) {
      if (!seen.insert(parsed.get<std::string>()).second && duplicate.empty()) duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: malformed JSON {}: {}", label, what, e.what()));
  }
  if (!duplicate.empty()) throw Error(fmt::format("{}: {} lists '{}' twice", label, what, duplicate));
  if (!j.is_object()) throw Error(fmt::format("{}: {} is not a JSON object", label, what));
  return j;
}

struct DtypeName {
  std::string_view name;
  DType type;
};
constexpr DtypeName kSupported[] = {{"BF16", DType::BF16}, {"F16", DType::F16}, {"F32", DType::F32}};
constexpr std::string_view kKnownUnsupported[] = {"F64",     "I64",     "I32",     "I16",  "I8",      "U8",
                                                  "U16",     "U32",     "U64",     "BOOL", "F8_E4M3", "F8_E5M2",
                                                  "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};

uint64_t get_uint(const json& v, const std::string& label, const std::string& what) {
  if (!v.is_number_unsigned()) {
    // nlohmann stores non-negative literals as unsigned; anything else is wrong.
    throw Error(fmt::format("{}: {} is not a non-negative integer", label, what));
  }
  return v.get<uint64_t>();
}

}  // namespace

SafetensorsHeader parse_safetensors_header(std::span<const std::byte> bytes, const std::string& label) {
  if (bytes.size() < 8) throw Error(fmt::format("{}: file truncated (no safetensors header length)", label));
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > kMaxHeaderBytes) throw Error(fmt::format("{}: header length {} is implausibly large", label, n));
  if (n > bytes.size() - 8) {
    throw Error(fmt::format("{}: file truncated: header of {} bytes, file has {}", label, n, bytes.size()));
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
  const json j = parse_json(text, label, "safetensors header");

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t data_size = bytes.size() - h.data_start;
  for (const auto& [name, entry] : j.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw Error(fmt::format("{}: __metadata__ is not an object", label));
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) throw Error(fmt::format("{}: __metadata__ value '{}' is not a string", label, k));
        h.metadata.emplace(k, v.get<std::string>());
      }
      continue;
    }
    if (name.empty()) throw Error(fmt::format("{}: a tensor has an empty name", label));
    if (!entry.is_object()) throw Error(fmt::format("{}: tensor '{}' entry is not an object", label, name));
    SafetensorsEntry t;
    t.name = name;

    const auto dt = entry.find("dtype");
    if (dt == entry.end() || !dt->is_string()) throw Error(fmt::format("{}: tensor '{}' has no dtype", label, name));
    const std::string dname = dt->get<std::string>();
    bool found = false;
    for (const auto& s : kSupported) {
      if (s.name == dname) {
        t.type = s.type;
        found = true;
      }
    }
    if (!found) {
      const bool known =
          std::find(std::begin(kKnownUnsupported), std::end(kKnownUnsupported), dname) != std::end(kKnownUnsupported);
      throw Error(fmt::format("{}: tensor '{}' has {} dtype '{}' (BF16, F16 and F32 are supported)", label, name,
                              known ? "unsupported" : "unknown", dname));
    }

    const auto shape = entry.find("shape");
    if (shape == entry.end() || !shape->is_array()) {
      throw Error(fmt::format("{}: tensor '{}' has no shape array", label, name));
    }
    uint64_t elements = 1;
    for (const auto& d : *shape) {
      const uint64_t dim = get_uint(d, label, fmt::format("a dimension of tensor '{}'", name));
      if (dim != 0 && elements > std::numeric_limits<uint64_t>::max() / 8 / dim) {
        throw Error(fmt::format("{}: tensor '{}': dimensions overflow", label, name));
      }
      elements *= dim;
      t.shape.push_back(dim);
    }

    const auto offs = entry.find("data_offsets");
    if (offs == entry.end() || !offs->is_array() || offs->size() != 2) {
      throw Error(fmt::format("{}: tensor '{}' has no [begin, end] data_offsets", label, name));
    }
    t.begin = get_uint((*offs)[0], label, fmt::format("data_offsets of '{}'", name));
    t.end = get_uint((*offs)[1], label, fmt::format("data_offsets of '{}'", name));
    if (t.end < t.begin) throw Error(fmt::format("{}: tensor '{}' data_offsets end before they begin", label, name));
    if (t.end > data_size) {
      throw Error(fmt::format("{}: tensor '{}' data (bytes {}..{}) lies beyond the end of the file ({} data bytes)",
                              label, name, t.begin, t.end, data_size));
    }
    const uint64_t expected = elements * kernels::dtype_info(t.type).block_bytes;
    if (t.end - t.begin != expected) {
      throw Error(fmt::format("{}: tensor '{}' of shape {} {} needs {} bytes but data_offsets span {}", label, name,
                              shape_string(t.shape), dname, expected, t.end - t.begin));
    }
    h.tensors.push_back(std::move(t));
  }
  // No two tensors may share bytes (empty tensors share nothing).
  std::vector<const SafetensorsEntry*> sorted;
  for (const auto& t : h.tensors) {
    if (t.end > t.begin) sorted.push_back(&t);
  }
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i - 1]->end > sorted[i]->begin) {
      throw Error(fmt::format("{}: tensors '{}' and '{}' overlap", label, sorted[i - 1]->name, sorted[i]->name));
    }
  }
  return h;
}

std::map<std::string, std::string> parse_safetensors_index(std::string_view text, const std::string& label) {
  const json j = parse_json(text, label, "index");
  const auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) throw Error(fmt::format("{}: index has no \"weight_map\" object", label));
  std::map<std::string, std::string> out;
  for (const auto& [name, file] : wm->items()) {
    if (!file.is_string()) throw Error(fmt::format("{}: weight_map entry '{}' is not a file name", label, name));
    std::string f = file.get<std::string>();
    // Shards live next to the index: a path could point anywhere on disk.
    if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos || f.find('\\') != std::string::npos ||
        f.find('\0') != std::string::npos) {
      throw Error(fmt::format("{}: weight_map entry '{}' names '{}', which is not a plain file name", label, name, f));
    }
    out.emplace(name, std::move(f));
  }
  if (out.empty()) throw Error(fmt::format("{}: weight_map is empty", label));
  return out;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : file_(std::make_shared<const MappedFile>(path)), label_(path.string()) {
  header_ = parse_safetensors_header(file_->bytes(), label_);
}

std::vector<TensorView> SafetensorsFile::tensors() const {
  std::vector<TensorView> out;
  const auto bytes = file_->bytes();
  for (const auto& e : header_.tensors) {
    TensorView v;
    v.name = e.name;
    v.type = e.type;
    v.shape = e.shape;
    v.data = bytes.subspan(header_.data_start + e.begin, e.end - e.begin);
    v.file = file_.get();
    v.file_offset = header_.data_start + e.begin;
    out.push_back(std::move(v));
  }
  return out;
}

SafetensorsModel SafetensorsModel::open(const std::filesystem::path& folder) {
  namespace fs = std::filesystem;
  SafetensorsModel m;
  const fs::path index_path = folder / "model.safetensors.index.json";
  const fs::path single = folder / "model.safetensors";
  if (fs::is_regular_file(index_path)) {
    std::ifstream in(index_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) throw Error(fmt::format("{}: cannot read", index_path.string()));
    const auto map = parse_safetensors_index(ss.str(), index_path.string());
    std::map<std::string, size_t> shard_of_file;
    for (const auto& [name, file] : map) {
      if (shard_of_file.count(file) != 0) continue;
      const fs::path p = folder / file;
      if (!fs::exists(p)) {
        throw Error(fmt::format("{}: missing shard '{}' (listed for tensor '{}')", index_path.string(), file, name));
      }
      shard_of_file.emplace(file, m.shards_.size());
      m.shards_.push_back(std::make_unique<SafetensorsFile>(p));
      m.files_.push_back(p);
    }
    // Every listed tensor must be in the shard the index names.
    std::map<std::string, std::map<std::string, TensorView, std::less<>>> per_shard;
    for (const auto& [file, i] : shard_of_file) {
      for (auto& t : m.shards_[i]->tensors()) per_shard[file].emplace(t.name, std::move(t));
    }
    for (const auto& [name, file] : map) {
      auto& shard = per_shard[file];
      auto it = shard.find(name);
      if (it == shard.end()) {
        throw Error(fmt::format("{}: tensor '{}' is listed in shard '{}' but not found there", index_path.string(),
                                name, file));
      }
      m.index_.emplace(name, m.tensors_.size());
      m.tensors_.push_back(it->second);
    }
  } else if (fs::is_regular_file(single)) {
    m.shards_.push_back(std::make_unique<SafetensorsFile>(single));
    m.files_.push_back(single);
    for (auto& t : m.shards_[0]->tensors()) {
      m.index_.emplace(t.name, m.tensors_.size());
      m.tensors_.push_back(std::move(t));
    }
  } else {
    throw Error(
        fmt::format("{}: no model.safetensors or model.safetensors.index.json in this folder", folder.string()));
  }
  return m;
}

const TensorView* SafetensorsModel::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace gemma4::formats
