// safetensors, the Hugging Face weight format: an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw
// tensor bytes. A checkpoint folder holds either one model.safetensors or
// shards listed by model.safetensors.index.json ({"weight_map": {name: file}}).
#pragma once

#include "src/formats/mapped_file.hpp"
#include "src/formats/tensor_view.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gemma4::formats {

struct SafetensorsEntry {
  std::string name;
  kernels::DType type = kernels::DType::F32;
  std::vector<uint64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  uint64_t data_start = 0;  // file offset of the data section
  std::vector<SafetensorsEntry> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// Parses and validates the header of a whole file held in `bytes` (offsets
// are checked against its size). Throws gemma4::Error naming `label`.
SafetensorsHeader parse_safetensors_header(std::span<const std::byte> bytes, const std::string& label);

// Parses model.safetensors.index.json: tensor name -> shard file name.
// Shard names must be plain file names (no directories).
std::map<std::string, std::string> parse_safetensors_index(std::string_view json, const std::string& label);

// One mapped .safetensors file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  const std::string& label() const { return label_; }
  const SafetensorsHeader& header() const { return header_; }
  std::vector<TensorView> tensors() const;

 private:
  std::shared_ptr<const MappedFile> file_;
  std::string label_;
  SafetensorsHeader header_;
};

// A Hugging Face checkpoint folder: every tensor of every shard, by name.
class SafetensorsModel {
 public:
  // `folder` holds model.safetensors or model.safetensors.index.json + shards.
  static SafetensorsModel open(const std::filesystem::path& folder);

  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(std::string_view name) const;
  const std::vector<std::filesystem::path>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<std::filesystem::path> files_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace gemma4::formats
