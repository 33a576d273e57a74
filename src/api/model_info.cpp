#include <gemma4/error.hpp>
#include <gemma4/model_info.hpp>

#include "src/formats/gguf.hpp"
#include "src/formats/model_config.hpp"
#include "src/formats/model_files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace gemma4 {
namespace {

namespace fs = std::filesystem;
using formats::AttentionKind;
using formats::ModelConfig;
using formats::TensorView;

void fill_from_config(ModelInfo& info, const ModelConfig& c) {
  info.is_text_model = true;
  info.architecture = "gemma4";
  info.variant = c.variant;
  info.layers = c.num_layers;
  info.kv_shared_layers = c.num_kv_shared_layers;
  info.hidden = c.hidden_size;
  info.heads = c.num_heads;
  info.vocab = c.vocab_size;
  info.head_dim_sliding = c.head_dim_sliding;
  info.head_dim_full = c.head_dim_full;
  info.kv_heads_sliding = c.kv_heads_sliding;
  info.kv_heads_full = c.kv_heads_full;
  info.k_eq_v = c.k_eq_v_full;
  info.sliding_window = c.sliding_window;
  info.max_context = c.max_position;
  info.ffn = c.intermediate_size;
  info.ffn_wide = c.double_wide_mlp ? 2 * c.intermediate_size : 0;
  info.ple_dim = c.ple_dim;
  info.experts = c.num_experts;
  info.experts_per_token = c.top_k_experts;
  info.expert_ffn = c.expert_ffn;
  for (const auto& l : c.layers) {
    const bool sliding = l.attention == AttentionKind::Sliding;
    info.sliding_layers += sliding ? 1 : 0;
    info.caches.push_back({sliding, l.kv_shared, l.kv_heads, l.head_dim});
  }
}

uint64_t elements(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// Parameter split of the text decoder: lookup tables, and the experts a
// token does not route to.
void count_text_params(ModelInfo& info, const ModelConfig& c) {
  uint64_t experts = 0;
  for (const auto& s : formats::expected_tensors(c)) {
    const uint64_t n = elements(s.shape);
    info.params_text += n;
    if (s.name == "embed_tokens.weight" || s.name == "embed_tokens_per_layer.weight") info.params_embedding += n;
    if (s.name.find(".experts.") != std::string::npos) experts += n;
  }
  info.params_active = info.params_text;
  if (c.is_moe()) info.params_active -= experts / c.num_experts * (c.num_experts - c.top_k_experts);
}

void add_tensor_types(ModelInfo& info, const std::vector<TensorView>& tensors) {
  std::map<std::string, TensorTypeBytes> by_type;
  for (const auto& t : tensors) {
    auto& s = by_type[std::string(kernels::dtype_name(t.type))];
    s.type = kernels::dtype_name(t.type);
    s.tensors += 1;
    s.elements += t.elements();
    s.bytes += t.data.size();
    info.params_total += t.elements();
    info.weight_bytes += t.data.size();
  }
  for (auto& [name, s] : by_type) info.types.push_back(s);
  std::sort(info.types.begin(), info.types.end(), [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
}

std::string human_bytes(uint64_t b) {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", static_cast<double>(b) / kGiB);
  if (b >= (1ull << 20)) return fmt::format("{:.2f} MiB", static_cast<double>(b) / (1024.0 * 1024.0));
  if (b >= 1024) return fmt::format("{:.2f} KiB", static_cast<double>(b) / 1024.0);
  return fmt::format("{} B", b);
}

std::string human_count(uint64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f} B", static_cast<double>(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f} M", static_cast<double>(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.2f} K", static_cast<double>(n) / 1e3);
  return fmt::format("{}", n);
}

}  // namespace

ModelInfo inspect_model(const std::string& path_string) {
  const fs::path path(path_string);
  ModelInfo info;
  info.path = path_string;
  std::error_code ec;
  if (fs::is_regular_file(path, ec) && path.extension() == ".json") {
    // A bare config.json: shapes from the config, bytes as shipped (bf16).
    const ModelConfig c = formats::config_from_hf_file(path);
    info.format = "config.json only";
    fill_from_config(info, c);
    count_text_params(info, c);
    info.params_total = info.params_text;
    info.weight_bytes = info.params_text * 2;
    info.decoder_bytes = info.weight_bytes;
    for (const auto& t : formats::expected_tensors(c)) {
      if (t.name == "embed_tokens_per_layer.weight") info.lookup_bytes = elements(t.shape) * 2;
    }
    info.weights_estimated = true;
    info.types.push_back({"bf16", formats::expected_tensors(c).size(), info.params_text, info.weight_bytes});
    return info;
  }
  if (fs::is_regular_file(path, ec)) {
    // A GGUF that is not a gemma4 decoder (e.g. a multimodal projector) is
    // still described: its tensors, without a decoder.
    const auto gguf = formats::GgufFile::open(path);
    const std::string arch = gguf.get_string_opt("general.architecture").value_or("");
    if (arch != "gemma4" && !arch.empty()) {
      info.format = fmt::format("GGUF v{}", gguf.version());
      info.architecture = arch;
      add_tensor_types(info, gguf.tensors());
      return info;
    }
  }
  const formats::ModelFiles m = formats::open_model_files(path);
  fill_from_config(info, m.config);
  count_text_params(info, m.config);
  add_tensor_types(info, m.all_tensors);
  for (const auto& [name, t] : m.text) {
    info.decoder_bytes += t.data.size();
    if (name == "embed_tokens_per_layer.weight") info.lookup_bytes = t.data.size();
  }
  if (m.source == formats::ModelSource::Gguf) {
    info.format = fmt::format("GGUF v{}", m.gguf->version());
  } else {
    const size_t shards = m.safetensors->files().size();
    info.format = shards == 1 ? "safetensors" : fmt::format("safetensors ({} shards)", shards);
  }
  return info;
}

// Bytes of the work buffers a context of `context` positions allocates for
// steps of T tokens: the same sizes as model::Context's constructor (a test
// compares the two), plus the activations the matrix products prepare and
// two copies of the logits.
uint64_t buffer_bytes(const ModelInfo& info, uint64_t context, uint64_t T) {
  uint32_t max_hd = 0, max_kv = 0;
  for (const auto& l : info.caches) {
    max_hd = std::max(max_hd, l.head_dim);
    max_kv = std::max(max_kv, l.kv_heads * l.head_dim);
  }
  const uint64_t H = info.hidden, L = info.layers, max_q = uint64_t{info.heads} * max_hd;
  const uint64_t ffn = std::max<uint64_t>(std::max(info.ffn, info.ffn_wide), 2ull * info.expert_ffn);
  uint64_t floats = 3 * T * H + 2 * T * max_q + 2 * T * max_kv + 2 * T * ffn;
  if (info.ple_dim > 0) floats += 2 * T * L * info.ple_dim;
  if (info.experts > 0) {
    const uint64_t slots = std::max<uint64_t>(info.experts_per_token, T);
    floats += 3 * T * H + slots * 2 * info.expert_ffn + slots * H + T * info.experts;
  }
  floats += (context / 256 + 2) * info.heads * (max_hd + 2);  // split attention (kAttentionSegment)
  // Rotary cos and sin: per kind of rotation (the sliding and the full
  // layers' differ), T positions of up to max_hd / 2 pairs each.
  bool has_sliding = false, has_full = false;
  for (const auto& l : info.caches) (l.sliding ? has_sliding : has_full) = true;
  floats += (uint64_t{has_sliding} + uint64_t{has_full}) * T * max_hd;
  // Layers whose cache KV-shared layers read keep a chunk's K and V: the last
  // sliding and the last full layer before the first shared one.
  size_t first_shared = info.caches.size();
  for (size_t i = 0; i < info.caches.size(); ++i) {
    if (info.caches[i].shared) {
      first_shared = i;
      break;
    }
  }
  if (first_shared < info.caches.size()) {
    for (const bool sliding : {true, false}) {
      for (size_t i = first_shared; i-- > 0;) {
        if (info.caches[i].sliding == sliding) {
          floats += 2 * T * info.caches[i].kv_heads * info.caches[i].head_dim;
          break;
        }
      }
    }
  }
  floats += 2ull * info.vocab;  // logits of the last token: the decoder's and the context's copy
  // Activations quantized for the integer kernels (8-bit blocks with scales:
  // up to 1.5 bytes per value, Q4_0/Q8_0 rows with their d[] and sum[]) or
  // kept as floats for float weights.
  const bool float_weights = !info.types.empty() && (info.types[0].type == "f32" || info.types[0].type == "f16" ||
                                                     info.types[0].type == "bf16");
  const uint64_t cols = std::max({H, max_q, ffn});
  const uint64_t act_bytes = float_weights ? 4 * T * cols : T * cols * 3 / 2;
  return floats * 4 + act_bytes;
}

MemoryEstimate estimate_memory(const ModelInfo& info, uint64_t context, uint32_t bytes_per_element, uint64_t batch) {
  if (context == 0) throw Error("context length must be at least 1");
  if (bytes_per_element == 0) throw Error("KV cache element size must be at least 1 byte");
  if (batch == 0) throw Error("batch size must be at least 1");
  MemoryEstimate m;
  m.context = context;
  m.batch = std::min(batch, context);
  m.cache_bytes_per_element = bytes_per_element;
  m.weight_bytes = info.weight_bytes;
  m.resident_weight_bytes = info.decoder_bytes - info.lookup_bytes;
  if (info.is_text_model) {
    m.buffer_bytes = buffer_bytes(info, context, m.batch);
    // Measured with `gemma4 tokenize` on GGUF files (peak RSS): about 6 MiB
    // of program and libraries plus ~450 bytes per vocabulary entry.
    m.runtime_bytes = (6ull << 20) + 450ull * info.vocab;
  }
  for (const auto& l : info.caches) {
    // K and V for every position a layer keeps (K=V layers store both too:
    // K is normed and rotated, V only normed).
    const uint64_t per_position = 2ull * l.kv_heads * l.head_dim * bytes_per_element;
    m.naive_kv_cache_bytes += per_position * context;
    if (l.shared) continue;
    m.cache_layers += 1;
    const uint64_t positions = l.sliding ? std::min<uint64_t>(context, info.sliding_window) : context;
    m.kv_cache_bytes += per_position * positions;
  }
  return m;
}

std::string format_model_info(const ModelInfo& info, const MemoryEstimate& mem) {
  std::string out;
  auto line = [&](std::string_view label, const std::string& value) { out += fmt::format("{:<22}{}\n", label, value); };
  line("file", fmt::format("{} ({})", info.path, info.format));
  if (!info.is_text_model) {
    line("architecture",
         fmt::format("{} (not a text decoder: a multimodal projector or other companion file)", info.architecture));
  } else {
    line("architecture", fmt::format("{}, variant {}", info.architecture, info.variant));
    line("layers", fmt::format("{}: {} sliding (window {}), {} full; {} KV-shared", info.layers, info.sliding_layers,
                               info.sliding_window, info.layers - info.sliding_layers, info.kv_shared_layers));
    line("attention", fmt::format("{} heads; sliding: head dim {}, {} KV heads; full: head dim {}, {} KV heads{}",
                                  info.heads, info.head_dim_sliding, info.kv_heads_sliding, info.head_dim_full,
                                  info.kv_heads_full, info.k_eq_v ? " (K=V)" : ""));
    std::string ffn = fmt::format("dense MLP {}", info.ffn);
    if (info.ffn_wide != 0) ffn += fmt::format(" ({} on KV-shared layers)", info.ffn_wide);
    if (info.experts != 0) {
      ffn += fmt::format("; MoE {} experts, {} per token, width {}", info.experts, info.experts_per_token,
                         info.expert_ffn);
    }
    line("feed-forward", ffn);
    if (info.ple_dim != 0) line("per-layer embeddings", fmt::format("{} per layer", info.ple_dim));
    line("hidden / vocabulary", fmt::format("{} / {}", info.hidden, info.vocab));
    line("trained context", fmt::format("{}", info.max_context));
    if (info.weights_estimated) {
      line("parameters",
           fmt::format("{} in the text decoder (from config.json; no weights read)", human_count(info.params_text)));
    } else {
      line("parameters", fmt::format("{} in the files, {} in the text decoder", human_count(info.params_total),
                                     human_count(info.params_text)));
    }
    line("active per token", fmt::format("{} (of which {} embedding-table rows, read one row per token)",
                                         human_count(info.params_active), human_count(info.params_embedding)));
  }
  out += info.weights_estimated ? "tensor types (estimated: bf16 as shipped)\n" : "tensor types\n";
  for (const auto& t : info.types) {
    out += fmt::format("  {:<8}{:>6} tensors {:>16} elements {:>12}\n", t.type, t.tensors, t.elements,
                       human_bytes(t.bytes));
  }
  if (info.is_text_model) {
    out +=
        fmt::format("memory at context {} (KV cache {} bytes per element)\n", mem.context, mem.cache_bytes_per_element);
    auto mem_line = [&](std::string_view label, uint64_t bytes, const std::string& note) {
      out += fmt::format("  {:<20}{:>12}  ({} bytes){}\n", label, human_bytes(bytes), bytes, note);
    };
    mem_line("weights in files", mem.weight_bytes, "  memory-mapped; only the pages read become resident");
    mem_line("weights read", mem.resident_weight_bytes,
             info.lookup_bytes > 0
                 ? fmt::format("  decoder tensors, less the per-layer embedding table ({}) read from the file a row "
                               "per token",
                               human_bytes(info.lookup_bytes))
                 : std::string("  decoder tensors"));
    mem_line("KV cache", mem.kv_cache_bytes,
             fmt::format("  {} layers own a cache; sliding layers keep {} positions", mem.cache_layers,
                         std::min<uint64_t>(mem.context, info.sliding_window)));
    mem_line("work buffers", mem.buffer_bytes, fmt::format("  steps of {} prompt tokens", mem.batch));
    mem_line("tokenizer, program", mem.runtime_bytes, "");
    mem_line("total", mem.total(), "  expected peak resident memory");
    mem_line("naive KV cache", mem.naive_kv_cache_bytes, "  every layer caching the whole context");
    mem_line("naive total", mem.naive_total(), "");
  }
  return out;
}

}  // namespace gemma4
