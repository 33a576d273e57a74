// The tokenizer's core: the vocabulary tables, encoding (special-token
// matching, character lookup with byte fallback, BPE merges) and decoding.
// The loaders (tokenizer_sentencepiece.cpp, tokenizer_json.cpp,
// tokenizer_gguf.cpp) only fill a TokenizerData.
#include "src/text/tokenizer.hpp"

#include "src/text/tokenizer_internal.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <queue>

namespace gemma4::text {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";    // U+2581 "▁", how pieces write a space
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32 | static_cast<std::uint32_t>(right);
}

// Appends `piece` with every "▁" written as a space.
void append_unescaped(std::string& out, std::string_view piece) {
  for (std::size_t pos = 0;;) {
    const std::size_t mark = piece.find(kSpaceMark, pos);
    out.append(piece.substr(pos, mark == std::string_view::npos ? std::string_view::npos : mark - pos));
    if (mark == std::string_view::npos) return;
    out.push_back(' ');
    pos = mark + kSpaceMark.size();
  }
}

// Appends a finished run of byte tokens: as is when it is valid UTF-8, else
// one U+FFFD per byte (Hugging Face's ByteFallback decoder). Empties `bytes`.
void flush_byte_run(std::string& out, std::string& bytes) {
  if (detail::is_valid_utf8(bytes)) {
    out += bytes;
  } else {
    for (std::size_t i = 0; i < bytes.size(); ++i) out += kReplacement;
  }
  bytes.clear();
}

}  // namespace

std::string detail::read_tokenizer_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open tokenizer file {}", path.string()));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(fmt::format("cannot read tokenizer file {}", path.string()));
  return bytes;
}

Tokenizer::Tokenizer(TokenizerData data)
    : source_(std::move(data.source)),
      pieces_(std::move(data.pieces)),
      kinds_(std::move(data.kinds)),
      merges_(std::move(data.merges)),
      byte_fallback_(data.byte_fallback),
      escape_spaces_(data.escape_spaces) {
  const auto fail = [&](const std::string& what) { throw Error(fmt::format("{}: {}", source_, what)); };
  if (pieces_.empty()) fail("the vocabulary is empty");
  if (pieces_.size() != kinds_.size()) fail("token kinds and pieces differ in number");
  if (pieces_.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) fail("vocabulary too large");

  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  byte_value_.assign(pieces_.size(), 0);
  for (std::int32_t id = 0; id < vocab_size(); ++id) {
    const std::string& piece = pieces_[id];
    const TokenKind kind = kinds_[id];
    if (!detail::is_valid_utf8(piece)) fail(fmt::format("token {} is not valid UTF-8", id));
    if (piece.empty() && kind != TokenKind::kUnused) fail(fmt::format("token {} is empty", id));
    piece_ids_.emplace(piece, id);  // first id wins for a repeated piece
    switch (kind) {
      case TokenKind::kNormal:
        normal_ids_.emplace(piece, id);
        break;
      case TokenKind::kByte: {
        const int value = detail::byte_token_value(piece);
        if (value < 0) fail(fmt::format("byte token {} is named '{}', not <0xXX>", id, piece));
        byte_value_[id] = static_cast<std::uint8_t>(value);
        if (byte_ids_[value] < 0) byte_ids_[value] = id;
        break;
      }
      case TokenKind::kControl:
      case TokenKind::kUnknown:
      case TokenKind::kUserDefined:
        whole_tokens_.push_back({piece, id, kind != TokenKind::kUserDefined});
        break;
      case TokenKind::kUnused:
        break;
      default:
        fail(fmt::format("token {} has unknown type {}", id, static_cast<int>(kind)));
    }
  }
  // Whole tokens are found by hashing the text at a position, trying the
  // lengths that tokens starting with that byte have, longest first.
  for (std::size_t i = 0; i < whole_tokens_.size(); ++i) {
    const std::string_view text = whole_tokens_[i].text;
    if (!whole_index_.emplace(text, i).second) continue;  // a repeated text: the first id wins
    auto& lengths = whole_lengths_[static_cast<std::uint8_t>(text[0])];
    if (std::find(lengths.begin(), lengths.end(), text.size()) == lengths.end()) lengths.push_back(text.size());
  }
  for (auto& lengths : whole_lengths_) std::sort(lengths.rbegin(), lengths.rend());

  const auto checked_id = [&](std::optional<std::int32_t> id, const char* what) -> std::optional<std::int32_t> {
    if (id && (*id < 0 || *id >= vocab_size()))
      fail(fmt::format("{} id {} is outside the vocabulary (size {})", what, *id, vocab_size()));
    return id;
  };
  bos_id_ = checked_id(data.bos_id, "bos");
  eos_id_ = checked_id(data.eos_id, "eos");
  pad_id_ = checked_id(data.pad_id, "pad");
  unk_id_ = checked_id(data.unk_id, "unk");
  if (!unk_id_) {
    const auto it = std::find(kinds_.begin(), kinds_.end(), TokenKind::kUnknown);
    if (it != kinds_.end()) unk_id_ = static_cast<std::int32_t>(it - kinds_.begin());
  }
  // Every input must be encodable: by byte fallback or, failing that, as <unk>.
  const bool all_bytes =
      std::none_of(std::begin(byte_ids_), std::end(byte_ids_), [](std::int32_t id) { return id < 0; });
  if (!(byte_fallback_ && all_bytes) && !unk_id_)
    fail("the vocabulary has neither all 256 byte tokens (with byte fallback) nor an unknown token");

  // Merge table: the result of a merge is the piece that spells left + right.
  // A pair listed twice keeps its last rank, as Hugging Face's BPE does.
  // Merges into or out of a special token are dropped: plain text must never
  // turn into <bos> or <|turn> (HF would merge "<bos" + ">" if a vocabulary
  // had those pieces). Ranks count the kept merges.
  std::vector<std::pair<std::int32_t, std::int32_t>> kept;
  kept.reserve(merges_.size());
  merge_map_.reserve(merges_.size());
  std::string joined;
  for (std::size_t i = 0; i < merges_.size(); ++i) {
    const auto [left, right] = merges_[i];
    if (left < 0 || left >= vocab_size() || right < 0 || right >= vocab_size())
      fail(fmt::format("merge {} refers to a token outside the vocabulary", i));
    joined = pieces_[left] + pieces_[right];
    const auto it = piece_ids_.find(joined);
    if (it == piece_ids_.end())
      fail(fmt::format("merge {} ('{}' + '{}') makes '{}', which is not in the vocabulary", i, pieces_[left],
                       pieces_[right], joined));
    if (is_special_kind(kinds_[left]) || is_special_kind(kinds_[right]) || is_special_kind(kinds_[it->second]))
      continue;
    merge_map_[pair_key(left, right)] = {static_cast<std::int32_t>(kept.size()), it->second};
    kept.push_back(merges_[i]);
  }
  merges_ = std::move(kept);
}

const Tokenizer::WholeToken* Tokenizer::match_whole(std::string_view text, std::size_t pos, bool parse_special) const {
  const std::string_view rest = text.substr(pos);
  for (const std::size_t length : whole_lengths_[static_cast<std::uint8_t>(rest[0])]) {
    if (length > rest.size()) continue;
    const auto it = whole_index_.find(rest.substr(0, length));
    if (it == whole_index_.end()) continue;
    const WholeToken& t = whole_tokens_[it->second];
    if (!t.special || parse_special) return &t;
  }
  return nullptr;
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, EncodeOptions options) const {
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 1);
  // Whole tokens are cut out of the raw text first (leftmost, then longest), as
  // `tokenizers` does for added tokens; the text between them goes through BPE.
  std::size_t start = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    if (!whole_lengths_[static_cast<std::uint8_t>(text[pos])].empty()) {
      if (const WholeToken* t = match_whole(text, pos, options.parse_special)) {
        encode_text(text.substr(start, pos - start), out);
        out.push_back(t->id);
        pos += t->text.size();
        start = pos;
        continue;
      }
    }
    ++pos;
  }
  encode_text(text.substr(start), out);
  return out;
}

void Tokenizer::encode_text(std::string_view text, std::vector<std::int32_t>& out) const {
  if (text.empty()) return;
  // 1. One symbol per character: its piece, or its bytes as byte tokens, or <unk>
  //    (consecutive unknowns fused into one). Ill-formed UTF-8 is one byte at a time.
  std::vector<std::int32_t> symbols;
  symbols.reserve(text.size());
  const auto push_unknown = [&] {
    if (symbols.empty() || symbols.back() != *unk_id_) symbols.push_back(*unk_id_);
  };
  const auto push_bytes = [&](std::string_view bytes) {
    const bool have_all = byte_fallback_ && std::all_of(bytes.begin(), bytes.end(), [&](char b) {
                            return byte_ids_[static_cast<std::uint8_t>(b)] >= 0;
                          });
    if (!have_all) return push_unknown();
    for (char b : bytes) symbols.push_back(byte_ids_[static_cast<std::uint8_t>(b)]);
  };
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t n = detail::utf8_char_length(text, pos);
    if (n == 0) {
      push_bytes(text.substr(pos, 1));
      ++pos;
      continue;
    }
    std::string_view ch = text.substr(pos, n);
    if (escape_spaces_ && ch == " ") ch = kSpaceMark;
    if (const auto it = normal_ids_.find(ch); it != normal_ids_.end()) {
      symbols.push_back(it->second);
    } else {
      push_bytes(ch);
    }
    pos += n;
  }
  // 2. Merge, and append.
  apply_merges(symbols);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

// Byte-pair merging as Hugging Face's BPE does it: repeatedly merge the
// adjacent pair with the lowest merge rank, the leftmost one on ties. A heap of
// candidate pairs over a linked list keeps long inputs O(n log n).
void Tokenizer::apply_merges(std::vector<std::int32_t>& symbols) const {
  const std::int32_t n = static_cast<std::int32_t>(symbols.size());
  if (n < 2 || merge_map_.empty()) return;
  struct Symbol {
    std::int32_t id, prev, next;
  };
  struct Candidate {
    std::int32_t rank, pos, result;
    bool operator<(const Candidate& o) const {  // priority_queue pops the largest: invert
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::vector<Symbol> list(n);
  for (std::int32_t i = 0; i < n; ++i) list[i] = {symbols[i], i - 1, i + 1 < n ? i + 1 : -1};
  std::priority_queue<Candidate> heap;
  const auto consider = [&](std::int32_t pos) {
    if (pos < 0 || list[pos].next < 0) return;
    const std::int32_t left = list[pos].id, right = list[list[pos].next].id;
    if (const auto it = merge_map_.find(pair_key(left, right)); it != merge_map_.end())
      heap.push({it->second.rank, pos, it->second.id});
  };
  for (std::int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& left = list[c.pos];
    // A stale candidate (a side has been merged away since) is skipped unless the
    // pair now there makes the same token: the same test Hugging Face applies.
    if (left.id < 0 || left.next < 0) continue;
    const auto now = merge_map_.find(pair_key(left.id, list[left.next].id));
    if (now == merge_map_.end() || now->second.id != c.result) continue;
    const std::int32_t gone = left.next;
    left.id = c.result;
    left.next = list[gone].next;
    if (left.next >= 0) list[left.next].prev = c.pos;
    list[gone].id = -1;
    consider(left.prev);
    consider(c.pos);
  }
  symbols.clear();
  for (std::int32_t i = 0; i >= 0; i = list[i].next) symbols.push_back(list[i].id);
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, DecodeOptions options) const {
  StreamDecoder stream(*this, options);
  std::string out;
  for (const std::int32_t id : ids) out += stream.push(id);
  return out + stream.finish();
}

std::string StreamDecoder::push(std::int32_t id) {
  const TokenKind kind = tokenizer_->kind(id);  // checks the id
  if (options_.skip_special && is_special_kind(kind)) return {};
  if (kind == TokenKind::kByte) {
    bytes_ += tokenizer_->token_bytes(id);
    return {};
  }
  std::string out;
  flush_byte_run(out, bytes_);
  append_unescaped(out, tokenizer_->piece(id));
  return out;
}

std::string StreamDecoder::finish() {
  std::string out;
  flush_byte_run(out, bytes_);
  return out;
}

std::string Tokenizer::token_bytes(std::int32_t id) const {
  check_id(id);
  if (kinds_[id] == TokenKind::kByte) return std::string(1, static_cast<char>(byte_value_[id]));
  std::string out;
  append_unescaped(out, pieces_[id]);
  return out;
}

void Tokenizer::check_id(std::int32_t id) const {
  if (id < 0 || id >= vocab_size())
    throw Error(fmt::format("token id {} is outside the vocabulary (size {})", id, vocab_size()));
}

const std::string& Tokenizer::piece(std::int32_t id) const {
  check_id(id);
  return pieces_[id];
}

TokenKind Tokenizer::kind(std::int32_t id) const {
  check_id(id);
  return kinds_[id];
}

std::optional<std::int32_t> Tokenizer::piece_id(std::string_view piece) const {
  const auto it = piece_ids_.find(piece);
  return it == piece_ids_.end() ? std::nullopt : std::optional<std::int32_t>(it->second);
}

std::optional<std::int32_t> Tokenizer::special_id(std::string_view text) const {
  const auto it = whole_index_.find(text);
  return it == whole_index_.end() ? std::nullopt : std::optional<std::int32_t>(whole_tokens_[it->second].id);
}

std::vector<std::pair<std::int32_t, std::int32_t>> merges_from_scores(const std::vector<std::string>& pieces,
                                                                      const std::vector<float>& scores) {
  std::unordered_map<std::string_view, std::int32_t> ids;  // first id wins
  for (std::size_t id = 0; id < pieces.size(); ++id) ids.emplace(pieces[id], static_cast<std::int32_t>(id));
  const auto code_points = [](std::string_view s) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size(); ++n) i += std::max<std::size_t>(1, detail::utf8_char_length(s, i));
    return n;
  };
  struct Row {
    float score;  // of the merged piece; NaN counts as -infinity so that the order stays strict
    std::size_t left_length, right_length;  // in characters
    std::int32_t left, right;
  };
  std::vector<Row> rows, splits;
  for (std::size_t id = 0; id < pieces.size(); ++id) {
    const std::string_view piece = pieces[id];
    if (piece.empty() || ids.at(piece) != static_cast<std::int32_t>(id)) continue;  // a repeated piece
    const float score = std::isnan(scores[id]) ? -std::numeric_limits<float>::infinity() : scores[id];
    // Every split between two characters whose halves are both pieces, by the halves' ids.
    splits.clear();
    for (std::size_t cut = 0;;) {
      cut += std::max<std::size_t>(1, detail::utf8_char_length(piece, cut));
      if (cut >= piece.size()) break;
      const auto l = ids.find(piece.substr(0, cut));
      const auto r = ids.find(piece.substr(cut));
      if (l != ids.end() && r != ids.end())
        splits.push_back({score, code_points(l->first), code_points(r->first), l->second, r->second});
    }
    std::sort(splits.begin(), splits.end(),
              [](const Row& a, const Row& b) { return a.left != b.left ? a.left < b.left : a.right < b.right; });
    rows.insert(rows.end(), splits.begin(), splits.end());
  }
  // Best score first; for equal scores the longer left half first; otherwise
  // the order above (stable), as transformers' generate_merges sorts.
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_length != b.left_length) return a.left_length > b.left_length;
    return a.right_length > b.right_length;
  });
  std::vector<std::pair<std::int32_t, std::int32_t>> merges;
  merges.reserve(rows.size());
  for (const Row& row : rows) merges.emplace_back(row.left, row.right);
  return merges;
}

Tokenizer Tokenizer::from_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir / "tokenizer.model", ec)) return from_sentencepiece(dir / "tokenizer.model");
  if (std::filesystem::is_regular_file(dir / "tokenizer.json", ec)) return from_hf_json(dir / "tokenizer.json");
  throw Error(fmt::format("{} has neither tokenizer.model nor tokenizer.json", dir.string()));
}

}  // namespace gemma4::text
