// What a model file holds and what running it costs: architecture and
// variant, parameter counts, tensor types and bytes, and the memory a given
// context needs (weights + KV cache). Backs `gemma4 info`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gemma4 {

// The KV cache one decoder layer keeps.
struct LayerCache {
  bool sliding = false;  // holds at most `sliding_window` positions
  bool shared = false;   // reads another layer's cache and owns none
  uint32_t kv_heads = 0;
  uint32_t head_dim = 0;
};

struct TensorTypeBytes {
  std::string type;  // as ggml names it: "bf16", "q4_K"
  uint64_t tensors = 0;
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

struct ModelInfo {
  std::string path;
  std::string format;          // "GGUF v3", "safetensors (2 shards)", "config.json only"
  std::string architecture;    // "gemma4", or e.g. "clip" for a multimodal projector
  bool is_text_model = false;  // false: no decoder (an mmproj file); only tensors are listed
  std::string variant;         // "E2B", "E4B", "26B-A4B", "31B", "custom"

  // Decoder shape (is_text_model only).
  uint32_t layers = 0, sliding_layers = 0, kv_shared_layers = 0;
  uint32_t hidden = 0, heads = 0, vocab = 0;
  uint32_t head_dim_sliding = 0, head_dim_full = 0, kv_heads_sliding = 0, kv_heads_full = 0;
  bool k_eq_v = false;
  uint32_t sliding_window = 0, max_context = 0;
  uint32_t ffn = 0, ffn_wide = 0;  // ffn_wide: width on KV-shared layers when double-wide, else 0
  uint32_t ple_dim = 0;
  uint32_t experts = 0, experts_per_token = 0, expert_ffn = 0;
  std::vector<LayerCache> caches;

  // Parameters (elements).
  uint64_t params_total = 0;      // every tensor in the files (towers included)
  uint64_t params_text = 0;       // the text decoder the config calls for
  uint64_t params_active = 0;     // decoder weights one token touches (unselected experts excluded)
  uint64_t params_embedding = 0;  // lookup tables (token + per-layer embeddings): one row read per token

  std::vector<TensorTypeBytes> types;
  uint64_t weight_bytes = 0;       // every tensor in the files
  uint64_t decoder_bytes = 0;      // the tensors the text decoder reads
  uint64_t lookup_bytes = 0;       // of those, the per-layer embedding table: read a row per token from the file
  bool weights_estimated = false;  // config.json only: bytes assume bf16, as Google ships the weights
};

// What running a context costs in resident memory (what `ps` shows as RSS).
// Weights are memory-mapped, so only the pages read count: every decoder
// tensor except the per-layer embedding table, which is read with pread()
// a row at a time and never mapped in.
struct MemoryEstimate {
  uint64_t context = 0;
  uint64_t batch = 0;  // prompt tokens per step: sets the size of the work buffers
  uint32_t cache_bytes_per_element = 2;
  uint64_t weight_bytes = 0;           // the files' tensors, as mapped
  uint64_t resident_weight_bytes = 0;  // decoder tensors minus the per-layer embedding table
  uint64_t kv_cache_bytes = 0;         // sliding layers capped at the window, shared layers none
  uint64_t naive_kv_cache_bytes = 0;   // every layer caching the whole context
  uint32_t cache_layers = 0;           // layers that own a cache
  uint64_t buffer_bytes = 0;           // activations of one step of `batch` tokens, logits
  uint64_t runtime_bytes = 0;          // tokenizer tables and the program itself (measured, see docs/api.md)
  uint64_t total() const { return resident_weight_bytes + kv_cache_bytes + buffer_bytes + runtime_bytes; }
  uint64_t naive_total() const { return weight_bytes + naive_kv_cache_bytes; }
};

// `path`: a GGUF file (a model or a multimodal projector), a Hugging Face
// checkpoint folder, or a bare config.json. Throws gemma4::Error naming the
// file and the problem.
ModelInfo inspect_model(const std::string& path);

// KV cache elements are `cache_bytes_per_element` wide (2 for f16/bf16);
// prompts are evaluated `batch` tokens per step (ContextOptions::n_batch;
// a context never uses more than its length).
MemoryEstimate estimate_memory(const ModelInfo& info, uint64_t context, uint32_t cache_bytes_per_element = 2,
                               uint64_t batch = 256);

// The report `gemma4 info` prints.
std::string format_model_info(const ModelInfo& info, const MemoryEstimate& memory);

}  // namespace gemma4
