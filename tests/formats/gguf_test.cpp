// GGUF reader and writer: round trips, files written by the `gguf` Python
// package, and every kind of malformed input giving a clear error.
#include "src/formats/gguf.hpp"
#include "src/formats/mapped_file.hpp"

#include <gemma4/error.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using gemma4::Error;
using gemma4::formats::GgufArray;
using gemma4::formats::GgufFile;
using gemma4::formats::GgufType;
using gemma4::formats::GgufValue;
using gemma4::formats::GgufWriter;
using gemma4::kernels::DType;

namespace {

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("gemma4_gguf_test_" + std::to_string(::getpid()) + "_" + name);
}

std::vector<std::byte> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

// Builds GGUF bytes field by field, so a test can write exactly the broken
// structure it wants to check.
struct Bytes {
  std::vector<std::byte> v;
  template <typename T>
  Bytes& put(T x) {
    const auto* p = reinterpret_cast<const std::byte*>(&x);
    v.insert(v.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    put<uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    v.insert(v.end(), p, p + s.size());
    return *this;
  }
  Bytes& header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
    return put<uint32_t>(0x46554747).put<uint32_t>(version).put<uint64_t>(tensors).put<uint64_t>(kvs);
  }
  Bytes& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (auto n : ne) put<uint64_t>(n);
    return put<uint32_t>(type).put<uint64_t>(offset);
  }
  Bytes& pad_to(size_t align) {
    while (v.size() % align != 0) v.push_back(std::byte{0});
    return *this;
  }
  Bytes& zeros(size_t n) {
    v.insert(v.end(), n, std::byte{0});
    return *this;
  }
};

// Parsing must fail with an Error whose message contains `needle`.
void expect_error(const std::vector<std::byte>& bytes, const std::string& needle) {
  try {
    GgufFile::parse(bytes, "test.gguf");
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.gguf"), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Gguf, RoundTripEveryValueTypeAndTensor) {
  const fs::path path = temp_path("roundtrip.gguf");
  std::vector<float> a(2 * 3);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f;
  std::vector<uint16_t> b(64, 0x3c00);  // f16 ones
  {
    GgufWriter w(path, 64);
    w.add_metadata("general.architecture", GgufValue::string("gemma4"));
    w.add_metadata("t.u8", {GgufType::U8, uint64_t{200}});
    w.add_metadata("t.i8", {GgufType::I8, int64_t{-100}});
    w.add_metadata("t.u16", {GgufType::U16, uint64_t{60000}});
    w.add_metadata("t.i16", {GgufType::I16, int64_t{-30000}});
    w.add_metadata("t.u32", GgufValue::u32(4000000000u));
    w.add_metadata("t.i32", GgufValue::i32(-2000000000));
    w.add_metadata("t.f32", GgufValue::f32(0.25f));
    w.add_metadata("t.bool", GgufValue::boolean(true));
    w.add_metadata("t.u64", GgufValue::u64(1ull << 40));
    w.add_metadata("t.i64", {GgufType::I64, int64_t{-(1ll << 40)}});
    w.add_metadata("t.f64", {GgufType::F64, 1e-300});
    w.add_metadata("t.strings", GgufValue::array(GgufType::STRING, {GgufValue::string("a"), GgufValue::string("")}));
    w.add_metadata("t.nested", GgufValue::array(GgufType::ARRAY, {GgufValue::array(GgufType::U32, {GgufValue::u32(1)}),
                                                                  GgufValue::array(GgufType::U32, {})}));
    w.add_tensor("a", DType::F32, {2, 3});
    w.add_tensor("b", DType::F16, {64});
    w.write_tensor("a", std::as_bytes(std::span(a)));
    w.write_tensor("b", std::as_bytes(std::span(b)));
    w.finish();
  }
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.get_string("general.architecture"), "gemma4");
  EXPECT_EQ(f.get_uint("t.u8"), 200u);
  EXPECT_EQ(f.find("t.i8")->type, GgufType::I8);
  EXPECT_EQ(std::get<int64_t>(f.find("t.i8")->value), -100);
  EXPECT_EQ(f.get_uint("t.u16"), 60000u);
  EXPECT_EQ(std::get<int64_t>(f.find("t.i16")->value), -30000);
  EXPECT_EQ(f.get_uint("t.u32"), 4000000000u);
  EXPECT_THROW(f.get_uint("t.i32"), Error);  // negative
  EXPECT_EQ(f.get_float("t.f32"), 0.25);
  EXPECT_TRUE(f.get_bool("t.bool"));
  EXPECT_EQ(f.get_uint("t.u64"), 1ull << 40);
  EXPECT_EQ(std::get<int64_t>(f.find("t.i64")->value), -(1ll << 40));
  EXPECT_EQ(f.get_float("t.f64"), 1e-300);
  const GgufArray& s = f.get_array("t.strings");
  ASSERT_EQ(s.items.size(), 2u);
  EXPECT_EQ(std::get<std::string>(s.items[0].value), "a");
  const GgufArray& n = f.get_array("t.nested");
  ASSERT_EQ(n.items.size(), 2u);
  EXPECT_EQ(std::get<GgufArray>(n.items[0].value).items.size(), 1u);
  EXPECT_TRUE(std::get<GgufArray>(n.items[1].value).items.empty());

  const auto ta = f.tensor("a");
  EXPECT_EQ(ta.type, DType::F32);
  EXPECT_EQ(ta.shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(f.find_tensor("a")->ne, (std::vector<uint64_t>{3, 2}));  // stored reversed
  ASSERT_EQ(ta.data.size(), a.size() * 4);
  EXPECT_EQ(std::memcmp(ta.data.data(), a.data(), ta.data.size()), 0);
  const auto tb = f.tensor("b");
  EXPECT_EQ(tb.shape, (std::vector<uint64_t>{64}));
  EXPECT_EQ(std::memcmp(tb.data.data(), b.data(), tb.data.size()), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tb.data.data()) % 64, 0u);  // zero-copy view into the aligned mapping

  // Type errors name the key.
  try {
    (void)f.get_string("t.u8");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t.u8"), std::string::npos);
  }
  EXPECT_THROW((void)f.get_uint("missing.key"), Error);
  EXPECT_THROW((void)f.tensor("missing"), Error);

  // Writing it again from what was read gives the same bytes.
  const fs::path again = temp_path("again.gguf");
  {
    GgufWriter w(again, f.alignment());
    for (const auto& [k, v] : f.metadata()) {
      if (k != "general.alignment") w.add_metadata(k, v);
    }
    for (const auto& t : f.tensors()) w.add_tensor(t.name, t.type, t.shape);
    for (const auto& t : f.tensors()) w.write_tensor(t.name, t.data);
    w.finish();
  }
  EXPECT_EQ(read_all(path), read_all(again));
  fs::remove(path);
  fs::remove(again);
}

TEST(Gguf, QuantizedTensorSizesFollowBlockGeometry) {
  const fs::path path = temp_path("quant.gguf");
  {
    GgufWriter w(path);
    w.add_tensor("q", DType::Q4_K, {3, 512});  // 2 blocks of 144 bytes per row
    std::vector<std::byte> data(3 * 2 * 144, std::byte{7});
    w.write_tensor("q", data);
    w.finish();
  }
  const auto f = GgufFile::open(path);
  EXPECT_EQ(f.find_tensor("q")->nbytes, 3u * 2 * 144);
  fs::remove(path);
  GgufWriter bad(temp_path("bad.gguf"));
  EXPECT_THROW(bad.add_tensor("q", DType::Q4_K, {3, 100}), Error);  // not whole blocks
}

TEST(Gguf, WriterChecksOrderSizesAndCompleteness) {
  const fs::path path = temp_path("writer.gguf");
  {
    GgufWriter w(path);
    w.add_tensor("x", DType::F32, {4});
    w.add_tensor("y", DType::F32, {4});
    EXPECT_THROW(w.add_tensor("x", DType::F32, {4}), Error);
    std::vector<float> four(4), three(3);
    EXPECT_THROW(w.write_tensor("y", std::as_bytes(std::span(four))), Error);   // out of order
    EXPECT_THROW(w.write_tensor("x", std::as_bytes(std::span(three))), Error);  // wrong size
    w.write_tensor("x", std::as_bytes(std::span(four)));
    EXPECT_THROW(w.finish(), Error);  // y missing
  }
  EXPECT_FALSE(fs::exists(path));  // the unfinished file was removed
}

// Files written by the reference implementation (gguf-py, see
// tools/fixtures/make_format_fixtures.py).
TEST(Gguf, ReadsFilesWrittenByGgufPy) {
  const fs::path dir = fs::path(GEMMA4_TEST_DATA_DIR) / "formats";
  const auto f = GgufFile::open(dir / "gguf_py_types.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "gemma4");
  EXPECT_EQ(f.get_uint("test.u8"), 7u);
  EXPECT_EQ(std::get<int64_t>(f.find("test.i8")->value), -7);
  EXPECT_EQ(f.get_uint("test.u16"), 65535u);
  EXPECT_EQ(std::get<int64_t>(f.find("test.i16")->value), -32768);
  EXPECT_EQ(f.get_uint("test.u32"), 4294967295u);
  EXPECT_EQ(std::get<int64_t>(f.find("test.i32")->value), -123456);
  EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("test.f32")), 1.5f);
  EXPECT_EQ(f.get_uint("test.u64"), 1ull << 50);
  EXPECT_EQ(std::get<int64_t>(f.find("test.i64")->value), -(1ll << 50));
  EXPECT_EQ(f.get_float("test.f64"), 0.1);
  EXPECT_FALSE(f.get_bool("test.bool"));
  EXPECT_EQ(f.get_string("test.string"), "h\xc3\xa9llo");
  const auto& arr = f.get_array("test.array_i32");
  ASSERT_EQ(arr.items.size(), 3u);
  EXPECT_EQ(std::get<int64_t>(arr.items[2].value), 3);
  EXPECT_EQ(f.get_array("test.array_str").items.size(), 2u);

  // Tensors: values written by numpy, checked element by element.
  const auto t32 = f.tensor("weights.f32");
  EXPECT_EQ(t32.type, DType::F32);
  EXPECT_EQ(t32.shape, (std::vector<uint64_t>{3, 4}));
  for (size_t i = 0; i < 12; ++i) {
    float v;
    std::memcpy(&v, t32.data.data() + 4 * i, 4);
    EXPECT_EQ(v, static_cast<float>(i) - 6.0f);
  }
  const auto t16 = f.tensor("weights.f16");
  EXPECT_EQ(t16.type, DType::F16);
  EXPECT_EQ(t16.shape, (std::vector<uint64_t>{2, 2, 8}));
  uint16_t h;
  std::memcpy(&h, t16.data.data() + 2, 2);
  EXPECT_EQ(h, 0x3c00);  // element 1 = 1.0
  const auto tq = f.tensor("weights.q8_0");
  EXPECT_EQ(tq.type, DType::Q8_0);
  EXPECT_EQ(tq.shape, (std::vector<uint64_t>{2, 64}));
  EXPECT_EQ(tq.data.size(), 2u * 2 * 34);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tq.data.data()) % f.alignment(), 0u);

  // Each view knows where it sits in its file: reading there with pread()
  // (what the per-layer embedding lookups do) gives the mapped bytes.
  for (const auto& v : f.tensors()) {
    SCOPED_TRACE(v.name);
    ASSERT_NE(v.file, nullptr);
    std::vector<std::byte> buf(v.data.size());
    v.file->read_at(v.file_offset, buf);
    EXPECT_EQ(std::memcmp(buf.data(), v.data.data(), buf.size()), 0);
  }
  // A read past the end names the file and the range.
  std::vector<std::byte> past(16);
  try {
    tq.file->read_at(fs::file_size(dir / "gguf_py_types.gguf") - 8, past);
    ADD_FAILURE() << "read past the end accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gguf_py_types.gguf"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("past the end"), std::string::npos) << e.what();
  }

  const auto g = GgufFile::open(dir / "gguf_py_align64.gguf");
  EXPECT_EQ(g.alignment(), 64u);
  EXPECT_EQ(g.tensor_infos().size(), 2u);
  EXPECT_EQ(g.tensor("b").shape, (std::vector<uint64_t>{5}));
}

TEST(GgufBadInput, WrongMagicAndVersion) {
  Bytes b;
  b.put<uint32_t>(0x12345678).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(0);
  expect_error(b.v, "not a GGUF file");
  expect_error(Bytes().header(0, 0, 1).v, "version 1");
  expect_error(Bytes().header(0, 0, 7).v, "unsupported GGUF version 7");
  expect_error(Bytes().header(0, 0, 0x03000000).v, "big-endian");
  expect_error({}, "truncated");
  // Version 2 shares version 3's layout.
  EXPECT_NO_THROW(GgufFile::parse(Bytes().header(0, 0, 2).v, "v2.gguf"));
}

TEST(GgufBadInput, Truncation) {
  Bytes b;
  b.header(1, 1).str("general.name").put<uint32_t>(8).str("model");
  b.tensor("w", {4}, 0, 0).pad_to(32).zeros(16);
  EXPECT_NO_THROW(GgufFile::parse(b.v, "test.gguf"));
  // Cut at every length: each must fail cleanly.
  for (size_t n = 0; n < b.v.size(); ++n) {
    std::vector<std::byte> cut(b.v.begin(), b.v.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW(GgufFile::parse(cut, "test.gguf"), Error) << n;
  }
  std::vector<std::byte> cut(b.v.begin(), b.v.end() - 1);
  expect_error(cut, "beyond the end of the file");
}

TEST(GgufBadInput, Metadata) {
  expect_error(Bytes().header(0, 1).str("k").put<uint32_t>(13).v, "unknown type 13");
  expect_error(Bytes().header(0, 1).str("k").put<uint32_t>(7).put<uint8_t>(2).v, "neither 0 nor 1");
  expect_error(Bytes().header(0, 1).str("").put<uint32_t>(4).put<uint32_t>(1).v, "empty metadata key");
  expect_error(Bytes().header(0, 1).str("k\xff").put<uint32_t>(4).put<uint32_t>(1).v, "not valid UTF-8");
  expect_error(
      Bytes().header(0, 2).str("k").put<uint32_t>(4).put<uint32_t>(1).str("k").put<uint32_t>(4).put<uint32_t>(1).v,
      "duplicate metadata key 'k'");
  // A string length pointing far past the end.
  expect_error(Bytes().header(0, 1).str("k").put<uint32_t>(8).put<uint64_t>(1ull << 62).v, "truncated");
  // Absurd counts are refused before any allocation.
  expect_error(Bytes().header(0, 1ull << 60).v, "metadata count");
  expect_error(Bytes().header(1ull << 60, 0).v, "tensor count");
  expect_error(Bytes().header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(4).put<uint64_t>(1ull << 61).v,
               "does not fit in the file");
  expect_error(Bytes().header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(99).put<uint64_t>(0).v,
               "unknown array element type 99");
  // Arrays nested past the depth limit.
  Bytes deep;
  deep.header(0, 1).str("k").put<uint32_t>(9);
  for (int i = 0; i < 20; ++i) deep.put<uint32_t>(9).put<uint64_t>(1);
  deep.zeros(64);
  expect_error(deep.v, "nested");
}

TEST(GgufBadInput, Alignment) {
  expect_error(Bytes().header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(48).v,
               "not a power of two");
  expect_error(Bytes().header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(0).v, "not a power of two");
  expect_error(Bytes().header(0, 1).str("general.alignment").put<uint32_t>(8).str("x").v, "expected u32");
  Bytes b;
  b.header(1, 0).tensor("w", {4}, 0, 8).pad_to(32).zeros(64);
  expect_error(b.v, "not a multiple of the alignment");
}

TEST(GgufBadInput, Tensors) {
  auto one = [](const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data) {
    Bytes b;
    b.header(1, 0).tensor(name, std::move(ne), type, offset).pad_to(32).zeros(data);
    return b.v;
  };
  expect_error(one("w", {4}, 0, 0, 8), "beyond the end");
  expect_error(one("w", {4}, 0, 1ull << 63, 16), "beyond the end");
  expect_error(one("w", {4}, 99, 0, 16), "unknown type 99");
  expect_error(one("w", {4}, 31, 0, 16), "unknown type 31");  // a retired ggml id
  expect_error(one("w", {}, 0, 0, 16), "0 dimensions");
  expect_error(one("w", {1, 1, 1, 1, 1}, 0, 0, 16), "5 dimensions");
  expect_error(one("w", {4, 0}, 0, 0, 16), "zero dimension");
  expect_error(one("w", {1ull << 32, 1ull << 32}, 0, 0, 16), "overflow");
  expect_error(one("w", {1ull << 62, 2}, 0, 0, 16), "overflow");
  expect_error(one("w", {1ull << 61}, 0, 0, 16), "beyond the end");  // byte size far past the file
  expect_error(one("w", {33}, 8, 0, 64), "block size");              // q8_0 rows are whole blocks of 32
  expect_error(one("", {4}, 0, 0, 16), "empty tensor name");
  expect_error(one("w\xc0\xaf", {4}, 0, 0, 16), "not valid UTF-8");

  Bytes dup;
  dup.header(2, 0).tensor("w", {4}, 0, 0).tensor("w", {4}, 0, 32).pad_to(32).zeros(64);
  expect_error(dup.v, "duplicate tensor 'w'");
  Bytes overlap;
  overlap.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).pad_to(32).zeros(128);
  expect_error(overlap.v, "overlap");
}

TEST(GgufBadInput, MissingFileNamesThePath) {
  try {
    GgufFile::open("/nonexistent/dir/model.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.gguf"), std::string::npos);
  }
}
