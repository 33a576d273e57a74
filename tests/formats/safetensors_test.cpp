// safetensors files and checkpoint folders: files written by the safetensors
// package, the sharded fixture, and every malformed-input case.
#include "src/formats/safetensors.hpp"
#include "src/formats/mapped_file.hpp"

#include <gemma4/error.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using gemma4::Error;
using gemma4::formats::parse_safetensors_header;
using gemma4::formats::parse_safetensors_index;
using gemma4::formats::SafetensorsFile;
using gemma4::formats::SafetensorsModel;
using gemma4::kernels::DType;

namespace {

const fs::path kData = fs::path(GEMMA4_TEST_DATA_DIR) / "formats";

// A file image: length + header text + `data` zero bytes.
std::vector<std::byte> image(const std::string& header, size_t data) {
  std::vector<std::byte> v(8 + header.size() + data);
  const uint64_t n = header.size();
  std::memcpy(v.data(), &n, 8);
  std::memcpy(v.data() + 8, header.data(), header.size());
  return v;
}

void expect_error(const std::vector<std::byte>& bytes, const std::string& needle) {
  try {
    parse_safetensors_header(bytes, "x.safetensors");
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("x.safetensors"), std::string::npos) << e.what();
  }
}

void expect_index_error(const std::string& json, const std::string& needle) {
  try {
    parse_safetensors_index(json, "index.json");
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("gemma4_st_" + std::to_string(::getpid()) + "_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
  }
  void write(const std::string& name, const std::vector<std::byte>& bytes) const {
    std::ofstream(path / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
};

}  // namespace

TEST(Safetensors, ReadsFileWrittenBySafetensorsPackage) {
  const SafetensorsFile f(kData / "st_py_types.safetensors");
  EXPECT_EQ(f.header().metadata.at("format"), "pt");
  const auto tensors = f.tensors();
  ASSERT_EQ(tensors.size(), 2u);
  for (const auto& t : tensors) {
    if (t.name == "a") {
      EXPECT_EQ(t.type, DType::F32);
      EXPECT_EQ(t.shape, (std::vector<uint64_t>{2, 3}));
      float v[6];
      std::memcpy(v, t.data.data(), sizeof v);
      for (int i = 0; i < 6; ++i) EXPECT_EQ(v[i], 0.5f * static_cast<float>(i));
    } else {
      EXPECT_EQ(t.name, "b");
      EXPECT_EQ(t.type, DType::F16);
      uint16_t h[3];
      std::memcpy(h, t.data.data(), sizeof h);
      EXPECT_EQ(h[0], 0x3c00);  // 1.0
      EXPECT_EQ(h[1], 0xc000);  // -2.0
      EXPECT_EQ(h[2], 0x7bff);  // 65504
    }
    // pread() at the view's file offset gives the mapped bytes.
    ASSERT_NE(t.file, nullptr);
    std::vector<std::byte> buf(t.data.size());
    t.file->read_at(t.file_offset, buf);
    EXPECT_EQ(std::memcmp(buf.data(), t.data.data(), buf.size()), 0);
  }
}

TEST(Safetensors, ShardedFolderWithIndex) {
  const auto m = SafetensorsModel::open(kData / "tiny_e");
  EXPECT_EQ(m.files().size(), 2u);
  const auto* embed = m.find("model.language_model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->type, DType::BF16);
  EXPECT_EQ(embed->shape, (std::vector<uint64_t>{512, 64}));
  EXPECT_EQ(embed->data.size(), 512u * 64 * 2);
  // Tensors from both shards are there.
  EXPECT_NE(m.find("model.language_model.layers.0.self_attn.q_proj.weight"), nullptr);
  EXPECT_NE(m.find("model.embed_vision.embedding_projection.weight"), nullptr);
  EXPECT_EQ(m.find("nope"), nullptr);
}

TEST(Safetensors, SingleFileFolder) {
  const auto m = SafetensorsModel::open(kData / "tiny_moe");
  EXPECT_EQ(m.files().size(), 1u);
  const auto* gu = m.find("model.language_model.layers.0.experts.gate_up_proj");
  ASSERT_NE(gu, nullptr);
  EXPECT_EQ(gu->shape, (std::vector<uint64_t>{4, 64, 64}));
  EXPECT_EQ(gu->type, DType::F32);
}

TEST(SafetensorsBadInput, Header) {
  expect_error({}, "truncated");
  expect_error(std::vector<std::byte>(5), "truncated");
  auto huge = image("{}", 0);
  const uint64_t big = 1ull << 40;
  std::memcpy(huge.data(), &big, 8);
  expect_error(huge, "implausibly large");
  auto cut = image("{\"a\":1}", 0);
  cut.resize(cut.size() - 2);
  expect_error(cut, "truncated");
  expect_error(image("{\"a\": {", 0), "malformed JSON");
  expect_error(image("[1,2]", 0), "not a JSON object");
  expect_error(image("{\"a\": \"\xff\xfe\"}", 0), "malformed JSON");  // invalid UTF-8
  expect_error(image(R"({"a": 3})", 0), "entry is not an object");
  expect_error(image(R"({"__metadata__": {"k": 1}})", 0), "not a string");
  expect_error(image(R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", 4), "no dtype");
  expect_error(image(R"({"a": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", 8), "unsupported dtype 'I64'");
  expect_error(image(R"({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 8]}})", 8), "unknown dtype 'Q9'");
  expect_error(image(R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", 4), "no shape");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4), "non-negative");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4), "non-negative");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 4),
               "overflow");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [1]}})", 4), "data_offsets");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 4), "end before");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4), "beyond the end");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 8), "needs 8 bytes");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                     16),
               "overlap");
  expect_error(image(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                         "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                     8),
               "'a' twice");
  // A valid header for comparison.
  const auto ok = parse_safetensors_header(
      image(R"({"a": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}, "e": {"dtype": "F32", "shape": [0],
      "data_offsets": [8, 8]}})",
            8),
      "ok");
  EXPECT_EQ(ok.tensors.size(), 2u);
}

TEST(SafetensorsBadInput, Index) {
  expect_index_error("{", "malformed JSON");
  expect_index_error("{}", "weight_map");
  expect_index_error(R"({"weight_map": []})", "weight_map");
  expect_index_error(R"({"weight_map": {}})", "empty");
  expect_index_error(R"({"weight_map": {"a": 1}})", "not a file name");
  expect_index_error(R"({"weight_map": {"a": "../../etc/passwd"}})", "not a plain file name");
  expect_index_error(R"({"weight_map": {"a": "/abs/x.safetensors"}})", "not a plain file name");
  expect_index_error(R"({"weight_map": {"a": ".."}})", "not a plain file name");
  expect_index_error(R"({"weight_map": {"a": "x"}, "weight_map": {"a": "y"}})", "twice");
  const auto ok = parse_safetensors_index(R"({"metadata": {}, "weight_map": {"a": "s1", "b": "s2"}})", "i");
  EXPECT_EQ(ok.at("b"), "s2");
}

TEST(SafetensorsBadInput, Folders) {
  auto expect_open_error = [](const fs::path& p, const std::string& needle) {
    try {
      SafetensorsModel::open(p);
      FAIL() << "expected an error containing '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  TempDir empty("empty");
  expect_open_error(empty.path, "no model.safetensors");

  TempDir missing("missing");
  missing.write("model.safetensors.index.json", R"({"weight_map": {"a": "model-00001-of-00002.safetensors"}})");
  expect_open_error(missing.path, "missing shard 'model-00001-of-00002.safetensors'");

  TempDir misplaced("misplaced");
  misplaced.write("model.safetensors.index.json", R"({"weight_map": {"b": "s.safetensors"}})");
  misplaced.write("s.safetensors", image(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4));
  expect_open_error(misplaced.path, "'b' is listed in shard 's.safetensors' but not found");

  TempDir corrupt("corrupt");
  corrupt.write("model.safetensors", image(R"({"a": {"dtype": "F32", "shape": [9], "data_offsets": [0, 36]}})", 4));
  expect_open_error(corrupt.path, "model.safetensors");
}
