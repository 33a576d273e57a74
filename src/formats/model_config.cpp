#include "src/formats/model_config.hpp"

#include "kernels/cpu/fp16.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

namespace gemma4::formats {
namespace {

using nlohmann::json;

// ------------------------------------------------------------ shared derivation

// Fills the per-layer table from the scalar fields and the layer types, then
// checks the whole config for consistency. Both sources end here.
void finish_config(ModelConfig& c, const std::vector<AttentionKind>& kinds, const std::vector<uint32_t>& ffn_dims,
                   const std::string& label) {
  auto fail = [&](const std::string& what) { throw Error(fmt::format("{}: invalid model config: {}", label, what)); };
  if (c.hidden_size == 0) fail("hidden size is 0");
  if (c.num_layers == 0) fail("number of layers is 0");
  if (c.num_layers > 1024) fail(fmt::format("{} layers is implausible", c.num_layers));
  if (c.num_heads == 0) fail("number of attention heads is 0");
  if (c.vocab_size == 0) fail("vocabulary size is 0");
  // Far beyond any real model; keeps every derived tensor size well inside 64 bits.
  for (auto [v, limit, what] : {std::tuple{c.hidden_size, 1u << 20, "hidden size"},
                                {c.num_heads, 1u << 12, "attention heads"},
                                {c.vocab_size, 1u << 24, "vocabulary size"},
                                {c.ple_vocab, 1u << 24, "per-layer vocabulary size"},
                                {c.ple_dim, 1u << 16, "per-layer embedding width"},
                                {c.intermediate_size, 1u << 22, "MLP width"},
                                {c.num_experts, 1u << 12, "expert count"},
                                {c.expert_ffn, 1u << 22, "expert width"}}) {
    if (v > limit) fail(fmt::format("{} {} is implausibly large", what, v));
  }
  if (kinds.size() != c.num_layers) {
    fail(fmt::format("{} layer types for {} layers", kinds.size(), c.num_layers));
  }
  for (auto [dim, what] : {std::pair{c.head_dim_sliding, "sliding head_dim"}, {c.head_dim_full, "full head_dim"}}) {
    if (dim == 0 || dim % 2 != 0 || dim > 65536) fail(fmt::format("{} {} must be even and positive", what, dim));
  }
  for (auto [kv, what] : {std::pair{c.kv_heads_sliding, "sliding"}, {c.kv_heads_full, "full"}}) {
    if (kv == 0 || c.num_heads % kv != 0) {
      fail(fmt::format("{} KV heads ({}) must divide the {} attention heads", what, kv, c.num_heads));
    }
  }
  if (c.sliding_window == 0) fail("sliding window is 0");
  if (c.num_kv_shared_layers >= c.num_layers) {
    fail(fmt::format("{} KV-shared layers out of {}", c.num_kv_shared_layers, c.num_layers));
  }
  if (c.is_moe() && (c.top_k_experts == 0 || c.top_k_experts > c.num_experts || c.expert_ffn == 0)) {
    fail(fmt::format("MoE with {} experts, top-{}, expert width {}", c.num_experts, c.top_k_experts, c.expert_ffn));
  }
  for (const RopeConfig* r : {&c.rope_sliding, &c.rope_full}) {
    if (!(r->theta > 0.0) || !(r->partial_rotary_factor > 0.0) || r->partial_rotary_factor > 1.0) {
      fail(fmt::format("RoPE theta {} / partial rotary factor {}", r->theta, r->partial_rotary_factor));
    }
  }
  if (!(c.rms_norm_eps > 0.0) || !std::isfinite(c.final_logit_softcap) || c.final_logit_softcap < 0.0) {
    fail("rms_norm_eps must be positive and the softcap finite and non-negative");
  }

  // The reference multiplies the embedding by sqrt(hidden) cast to bf16.
  c.embed_scale = kernels::bf16_to_f32(kernels::f32_to_bf16(std::sqrt(static_cast<float>(c.hidden_size))));

  c.layers.assign(c.num_layers, {});
  const uint32_t first_shared = c.first_kv_shared_layer();
  for (uint32_t i = 0; i < c.num_layers; ++i) {
    LayerConfig& l = c.layers[i];
    l.attention = kinds[i];
    const bool full = l.attention == AttentionKind::Full;
    l.head_dim = full ? c.head_dim_full : c.head_dim_sliding;
    l.kv_heads = full ? c.kv_heads_full : c.kv_heads_sliding;
    l.has_v_proj = !(full && c.k_eq_v_full);
    l.moe = c.is_moe();
    l.ffn_dim =
        ffn_dims.empty() ? c.intermediate_size * ((c.double_wide_mlp && i >= first_shared) ? 2 : 1) : ffn_dims[i];
    if (l.ffn_dim == 0 || l.ffn_dim > (1u << 23)) fail(fmt::format("layer {} has an MLP width of {}", i, l.ffn_dim));
    l.kv_shared = i >= first_shared;
    l.kv_source = i;
    if (l.kv_shared) {
      // A shared layer attends over the cache of the last non-shared layer of
      // its own attention type (E2B: sliding -> 13, full -> 14).
      bool found = false;
      for (uint32_t j = first_shared; j-- > 0;) {
        if (kinds[j] == l.attention) {
          l.kv_source = j;
          found = true;
          break;
        }
      }
      if (!found) {
        fail(fmt::format("layer {} shares KV but no earlier {} layer owns a cache", i,
                         attention_kind_name(l.attention)));
      }
    }
  }

  // Name the released shapes; anything else is a custom (e.g. test) model.
  struct Known {
    uint32_t hidden, layers;
    const char* name;
  };
  constexpr Known kKnown[] = {{1536, 35, "E2B"}, {2560, 42, "E4B"}, {2816, 30, "26B-A4B"}, {5376, 60, "31B"}};
  c.variant = "custom";
  for (const auto& k : kKnown) {
    if (k.hidden == c.hidden_size && k.layers == c.num_layers) c.variant = k.name;
  }
}

// ------------------------------------------------------------ config.json

class JsonFields {
 public:
  JsonFields(const json& j, std::string label) : j_(j), label_(std::move(label)) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  uint32_t u32(const char* key) const {
    if (!has(key)) throw Error(fmt::format("{}: missing \"{}\"", label_, key));
    return u32_of(j_.at(key), key);
  }
  uint32_t u32_or(const char* key, uint32_t fallback) const { return has(key) ? u32(key) : fallback; }

  double number_or(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number()) throw Error(fmt::format("{}: \"{}\" is not a number", label_, key));
    return v.get<double>();
  }

  bool bool_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_boolean()) throw Error(fmt::format("{}: \"{}\" is not true or false", label_, key));
    return v.get<bool>();
  }

  uint32_t u32_of(const json& v, const char* key) const {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > std::numeric_limits<uint32_t>::max()) {
      throw Error(fmt::format("{}: \"{}\" is not a non-negative 32-bit integer", label_, key));
    }
    return static_cast<uint32_t>(v.get<int64_t>());
  }

  const json& raw() const { return j_; }
  const std::string& label() const { return label_; }

 private:
  const json& j_;
  std::string label_;
};

// obj[key] as a string, or fallback when absent or null; an Error (not
// nlohmann's type_error) when it holds anything else.
std::string string_or(const json& obj, const char* key, const std::string& fallback, const std::string& label) {
  if (!obj.contains(key) || obj.at(key).is_null()) return fallback;
  if (!obj.at(key).is_string()) throw Error(fmt::format("{}: \"{}\" is not a string", label, key));
  return obj.at(key).get<std::string>();
}

RopeConfig rope_from_json(const json& params, const char* type, RopeConfig fallback, const std::string& label) {
  if (!params.is_object() || !params.contains(type)) return fallback;
  const json& p = params.at(type);
  if (!p.is_object()) throw Error(fmt::format("{}: rope_parameters.{} is not an object", label, type));
  RopeConfig r = fallback;
  if (p.contains("rope_theta")) {
    if (!p.at("rope_theta").is_number()) throw Error(fmt::format("{}: rope_parameters.{}.rope_theta", label, type));
    r.theta = p.at("rope_theta").get<double>();
  }
  const std::string rope_type = string_or(p, "rope_type", "default", label);
  if (rope_type != "default" && rope_type != "proportional") {
    throw Error(fmt::format("{}: unsupported rope_type '{}' for {}", label, rope_type, type));
  }
  r.partial_rotary_factor = 1.0;
  if (p.contains("partial_rotary_factor") && !p.at("partial_rotary_factor").is_null()) {
    if (!p.at("partial_rotary_factor").is_number()) {
      throw Error(fmt::format("{}: rope_parameters.{}.partial_rotary_factor is not a number", label, type));
    }
    r.partial_rotary_factor = p.at("partial_rotary_factor").get<double>();
  }
  return r;
}

int32_t token_id(const json& v, const std::string& label, const char* key) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
    throw Error(fmt::format("{}: \"{}\" is not a token id", label, key));
  }
  return static_cast<int32_t>(v.get<int64_t>());
}

}  // namespace

std::string_view attention_kind_name(AttentionKind k) {
  return k == AttentionKind::Full ? "full" : "sliding";
}

ModelConfig config_from_hf_json(std::string_view text, const std::string& label) {
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: malformed JSON: {}", label, e.what()));
  }
  if (!root.is_object()) throw Error(fmt::format("{}: config is not a JSON object", label));
  const std::string model_type = string_or(root, "model_type", "", label);
  const json* text_cfg = nullptr;
  if (model_type == "gemma4") {
    if (!root.contains("text_config") || !root.at("text_config").is_object()) {
      throw Error(fmt::format("{}: gemma4 config has no \"text_config\" object", label));
    }
    text_cfg = &root.at("text_config");
  } else if (model_type == "gemma4_text") {
    text_cfg = &root;
  } else {
    throw Error(fmt::format("{}: unsupported architecture '{}' (this engine runs gemma4 models)", label,
                            model_type.empty() ? "(no model_type)" : model_type));
  }
  const JsonFields f(*text_cfg, label);

  ModelConfig c;
  c.hidden_size = f.u32("hidden_size");
  c.num_layers = f.u32("num_hidden_layers");
  c.num_heads = f.u32("num_attention_heads");
  c.kv_heads_sliding = f.u32("num_key_value_heads");
  c.head_dim_sliding = f.u32("head_dim");
  c.head_dim_full = f.u32_or("global_head_dim", c.head_dim_sliding);
  c.k_eq_v_full = f.bool_or("attention_k_eq_v", false);
  // Full layers use their own KV head count only together with K=V (HF Gemma4TextAttention).
  c.kv_heads_full = c.k_eq_v_full ? f.u32_or("num_global_key_value_heads", c.kv_heads_sliding) : c.kv_heads_sliding;
  c.vocab_size = f.u32("vocab_size");
  c.max_position = f.u32_or("max_position_embeddings", 131072);
  c.sliding_window = f.u32("sliding_window");
  c.intermediate_size = f.u32("intermediate_size");
  c.double_wide_mlp = f.bool_or("use_double_wide_mlp", false);
  c.num_kv_shared_layers = f.u32_or("num_kv_shared_layers", 0);
  c.ple_dim = f.u32_or("hidden_size_per_layer_input", 0);
  c.ple_vocab = c.ple_dim > 0 ? f.u32_or("vocab_size_per_layer_input", c.vocab_size) : 0;
  if (f.bool_or("enable_moe_block", false)) {
    c.num_experts = f.u32("num_experts");
    c.top_k_experts = f.u32("top_k_experts");
    c.expert_ffn = f.u32("moe_intermediate_size");
  }
  c.final_logit_softcap = f.number_or("final_logit_softcapping", 0.0);
  c.rms_norm_eps = f.number_or("rms_norm_eps", 1e-6);
  const json rope = text_cfg->value("rope_parameters", json::object());
  c.rope_sliding = rope_from_json(rope, "sliding_attention", {10000.0, 1.0}, label);
  c.rope_full = rope_from_json(rope, "full_attention", {1000000.0, 0.25}, label);

  c.tokens.pad = text_cfg->contains("pad_token_id") ? token_id(text_cfg->at("pad_token_id"), label, "pad_token_id") : 0;
  c.tokens.bos = text_cfg->contains("bos_token_id") ? token_id(text_cfg->at("bos_token_id"), label, "bos_token_id") : 2;
  c.tokens.eos = text_cfg->contains("eos_token_id") && text_cfg->at("eos_token_id").is_number()
                     ? token_id(text_cfg->at("eos_token_id"), label, "eos_token_id")
                     : 1;
  // Stop ids: the top-level list (config.json has [1, 106]), else eos alone.
  const json& eos_list = root.contains("eos_token_id") ? root.at("eos_token_id") : json();
  if (eos_list.is_array()) {
    for (const auto& e : eos_list) c.tokens.stop.push_back(token_id(e, label, "eos_token_id"));
  } else if (eos_list.is_number()) {
    c.tokens.stop.push_back(token_id(eos_list, label, "eos_token_id"));
  }
  if (c.tokens.stop.empty()) c.tokens.stop.push_back(c.tokens.eos);
  if (root.contains("image_token_id")) c.tokens.image = token_id(root.at("image_token_id"), label, "image_token_id");
  if (root.contains("audio_token_id") && !root.at("audio_token_id").is_null()) {
    c.tokens.audio = token_id(root.at("audio_token_id"), label, "audio_token_id");
  }

  std::vector<AttentionKind> kinds;
  if (f.has("layer_types")) {
    const json& lt = text_cfg->at("layer_types");
    if (!lt.is_array()) throw Error(fmt::format("{}: \"layer_types\" is not an array", label));
    for (const auto& t : lt) {
      const std::string s = t.is_string() ? t.get<std::string>() : std::string();
      if (s == "sliding_attention") {
        kinds.push_back(AttentionKind::Sliding);
      } else if (s == "full_attention") {
        kinds.push_back(AttentionKind::Full);
      } else {
        throw Error(fmt::format("{}: unknown layer type '{}' in \"layer_types\"", label, t.dump()));
      }
    }
  } else {
    // HF's default: every sixth layer full, and the last one always full.
    for (uint32_t i = 0; i < c.num_layers; ++i) {
      kinds.push_back((i + 1) % 6 == 0 || i + 1 == c.num_layers ? AttentionKind::Full : AttentionKind::Sliding);
    }
  }
  finish_config(c, kinds, {}, label);
  return c;
}

ModelConfig config_from_hf_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open", path.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  return config_from_hf_json(ss.str(), path.string());
}

// ------------------------------------------------------------ GGUF metadata

namespace {

// A per-layer integer that GGUF stores either as one number or as an array
// with one entry per layer.
std::vector<uint32_t> per_layer_uint(const GgufFile& f, const std::string& key, uint32_t layers) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) throw Error(fmt::format("{}: missing metadata '{}'", f.label(), key));
  std::vector<uint32_t> out;
  auto one = [&](const GgufValue& x) -> uint32_t {
    uint64_t u = 0;
    if (const auto* p = std::get_if<uint64_t>(&x.value)) {
      u = *p;
    } else if (const auto* q = std::get_if<int64_t>(&x.value); q != nullptr && *q >= 0) {
      u = static_cast<uint64_t>(*q);
    } else {
      throw Error(fmt::format("{}: metadata '{}' holds a value that is not a non-negative integer", f.label(), key));
    }
    if (u > std::numeric_limits<uint32_t>::max()) {
      throw Error(fmt::format("{}: metadata '{}' value {} is too large", f.label(), key, u));
    }
    return static_cast<uint32_t>(u);
  };
  if (const auto* a = std::get_if<GgufArray>(&v->value)) {
    if (a->items.size() != layers) {
      throw Error(
          fmt::format("{}: metadata '{}' has {} entries for {} layers", f.label(), key, a->items.size(), layers));
    }
    for (const auto& item : a->items) out.push_back(one(item));
  } else {
    out.assign(layers, one(*v));
  }
  return out;
}

uint32_t to_u32(const GgufFile& f, const std::string& key, uint64_t v) {
  if (v > std::numeric_limits<uint32_t>::max()) {
    throw Error(fmt::format("{}: metadata '{}' value {} is too large", f.label(), key, v));
  }
  return static_cast<uint32_t>(v);
}

}  // namespace

ModelConfig config_from_gguf(const GgufFile& f) {
  const std::string arch = f.get_string_opt("general.architecture").value_or("");
  if (arch != "gemma4") {
    throw Error(fmt::format("{}: unsupported architecture '{}' (this engine runs gemma4 models{})", f.label(),
                            arch.empty() ? "(none)" : arch,
                            arch == "clip" ? "; this looks like a multimodal projector (mmproj) file" : ""));
  }
  const std::string p = "gemma4.";
  auto u32 = [&](const std::string& key) { return to_u32(f, p + key, f.get_uint(p + key)); };
  auto u32_or = [&](const std::string& key, uint32_t fallback) {
    auto v = f.get_uint_opt(p + key);
    return v ? to_u32(f, p + key, *v) : fallback;
  };

  ModelConfig c;
  c.hidden_size = u32("embedding_length");
  c.num_layers = u32("block_count");
  if (c.num_layers == 0 || c.num_layers > 1024) {
    throw Error(fmt::format("{}: implausible block_count {}", f.label(), c.num_layers));
  }
  c.num_heads = u32("attention.head_count");
  c.max_position = u32_or("context_length", 131072);
  c.sliding_window = u32("attention.sliding_window");
  c.head_dim_full = u32("attention.key_length");
  c.head_dim_sliding = u32("attention.key_length_swa");
  if (u32_or("attention.value_length", c.head_dim_full) != c.head_dim_full ||
      u32_or("attention.value_length_swa", c.head_dim_sliding) != c.head_dim_sliding) {
    throw Error(fmt::format("{}: value_length differs from key_length, which Gemma 4 never does", f.label()));
  }
  c.num_kv_shared_layers = u32_or("attention.shared_kv_layers", 0);
  c.ple_dim = u32_or("embedding_length_per_layer_input", 0);
  c.num_experts = u32_or("expert_count", 0);
  c.top_k_experts = u32_or("expert_used_count", 0);
  c.expert_ffn = u32_or("expert_feed_forward_length", 0);
  c.final_logit_softcap = f.get_float_opt(p + "final_logit_softcapping").value_or(0.0);
  c.rms_norm_eps = f.get_float_opt(p + "attention.layer_norm_rms_epsilon").value_or(1e-6);
  c.rope_full.theta = f.get_float_opt(p + "rope.freq_base").value_or(1000000.0);
  // llama.cpp's converter writes freq_base_swa; Gemma 4's sliding layers use 10000 when absent.
  c.rope_sliding.theta = f.get_float_opt(p + "rope.freq_base_swa").value_or(10000.0);
  c.rope_sliding.partial_rotary_factor = 1.0;

  // Layer types: a bool per layer (true = sliding), or an integer period.
  std::vector<AttentionKind> kinds;
  const std::string pattern_key = p + "attention.sliding_window_pattern";
  const GgufValue* pattern = f.find(pattern_key);
  if (pattern == nullptr) throw Error(fmt::format("{}: missing metadata '{}'", f.label(), pattern_key));
  if (const auto* a = std::get_if<GgufArray>(&pattern->value)) {
    if (a->elem_type != GgufType::BOOL || a->items.size() != c.num_layers) {
      throw Error(
          fmt::format("{}: '{}' must hold one bool per layer ({} layers)", f.label(), pattern_key, c.num_layers));
    }
    for (const auto& item : a->items) {
      kinds.push_back(std::get<bool>(item.value) ? AttentionKind::Sliding : AttentionKind::Full);
    }
  } else {
    const uint32_t period = to_u32(f, pattern_key, f.get_uint(pattern_key));
    for (uint32_t i = 0; i < c.num_layers; ++i) {
      kinds.push_back(period == 0 || (i + 1) % period == 0 ? AttentionKind::Full : AttentionKind::Sliding);
    }
  }

  const auto kv = per_layer_uint(f, p + "attention.head_count_kv", c.num_layers);
  const auto ffn = per_layer_uint(f, p + "feed_forward_length", c.num_layers);
  c.kv_heads_sliding = c.kv_heads_full = 0;
  for (uint32_t i = 0; i < c.num_layers; ++i) {
    uint32_t& slot = kinds[i] == AttentionKind::Full ? c.kv_heads_full : c.kv_heads_sliding;
    if (slot != 0 && slot != kv[i]) {
      throw Error(fmt::format("{}: layers of one attention type have different KV head counts", f.label()));
    }
    slot = kv[i];
  }
  if (c.kv_heads_sliding == 0) c.kv_heads_sliding = c.kv_heads_full;  // a model with no sliding layers
  if (c.kv_heads_full == 0) c.kv_heads_full = c.kv_heads_sliding;
  c.intermediate_size = ffn[0];
  const uint32_t first_shared = c.num_layers > c.num_kv_shared_layers ? c.num_layers - c.num_kv_shared_layers : 0;
  c.double_wide_mlp = c.num_kv_shared_layers > 0 && first_shared < c.num_layers && ffn[first_shared] == 2 * ffn[0];

  // What only the tensor table says.
  const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->ne.size() != 2) {
    throw Error(fmt::format("{}: missing 2-D tensor 'token_embd.weight'", f.label()));
  }
  c.vocab_size = to_u32(f, "token_embd.weight", embd->ne[1]);
  if (c.ple_dim > 0) {
    const GgufTensorInfo* ple = f.find_tensor("per_layer_token_embd.weight");
    c.ple_vocab =
        (ple != nullptr && ple->ne.size() == 2) ? to_u32(f, "per_layer_token_embd.weight", ple->ne[1]) : c.vocab_size;
  }
  // K=V: full layers without attn_v (the converter writes none for them).
  c.k_eq_v_full = false;
  for (uint32_t i = 0; i < c.num_layers; ++i) {
    if (kinds[i] == AttentionKind::Full && i < first_shared) {
      c.k_eq_v_full = f.find_tensor(fmt::format("blk.{}.attn_v.weight", i)) == nullptr;
      break;
    }
  }
  // The rotated fraction of full layers is encoded in rope_freqs: factor 1
  // for rotated pairs, a huge divisor (1e30) for the pass-through ones.
  c.rope_full.partial_rotary_factor = 0.25;
  if (f.find_tensor("rope_freqs.weight") != nullptr) {
    const TensorView t = f.tensor("rope_freqs.weight");
    if (t.type != kernels::DType::F32 || t.shape.size() != 1 || t.shape[0] == 0) {
      throw Error(fmt::format("{}: rope_freqs.weight must be a 1-D F32 tensor", f.label()));
    }
    uint64_t rotated = 0;
    for (uint64_t i = 0; i < t.shape[0]; ++i) {
      float v;
      std::memcpy(&v, t.data.data() + 4 * i, 4);
      if (v == 1.0f) ++rotated;
    }
    c.rope_full.partial_rotary_factor = static_cast<double>(rotated) / static_cast<double>(t.shape[0]);
  }

  c.tokens.bos = static_cast<int32_t>(f.get_uint_opt("tokenizer.ggml.bos_token_id").value_or(2));
  c.tokens.eos = static_cast<int32_t>(f.get_uint_opt("tokenizer.ggml.eos_token_id").value_or(1));
  c.tokens.pad = static_cast<int32_t>(f.get_uint_opt("tokenizer.ggml.padding_token_id").value_or(0));
  c.tokens.stop = {c.tokens.eos};
  if (auto eot = f.get_uint_opt("tokenizer.ggml.eot_token_id"); eot && static_cast<int32_t>(*eot) != c.tokens.eos) {
    c.tokens.stop.push_back(static_cast<int32_t>(*eot));
  }
  finish_config(c, kinds, ffn, f.label());
  return c;
}

// ------------------------------------------------------------ tensors

std::vector<TensorSpec> expected_tensors(const ModelConfig& c) {
  const uint64_t H = c.hidden_size;
  std::vector<TensorSpec> out;
  auto add = [&](std::string name, std::vector<uint64_t> shape) { out.push_back({std::move(name), std::move(shape)}); };
  add("embed_tokens.weight", {c.vocab_size, H});
  if (c.has_ple()) {
    const uint64_t lp = uint64_t{c.num_layers} * c.ple_dim;
    add("embed_tokens_per_layer.weight", {c.ple_vocab, lp});
    add("per_layer_model_projection.weight", {lp, H});
    add("per_layer_projection_norm.weight", {c.ple_dim});
  }
  add("norm.weight", {H});
  for (uint32_t i = 0; i < c.num_layers; ++i) {
    const LayerConfig& l = c.layers[i];
    const std::string p = fmt::format("layers.{}.", i);
    for (const char* n :
         {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"}) {
      add(p + n + ".weight", {H});
    }
    const uint64_t q = uint64_t{c.num_heads} * l.head_dim;
    const uint64_t kv = uint64_t{l.kv_heads} * l.head_dim;
    add(p + "self_attn.q_proj.weight", {q, H});
    add(p + "self_attn.q_norm.weight", {l.head_dim});
    add(p + "self_attn.o_proj.weight", {H, q});
    // KV-shared layers compute no K/V of their own: their k/v weights are not needed.
    if (!l.kv_shared) {
      add(p + "self_attn.k_proj.weight", {kv, H});
      add(p + "self_attn.k_norm.weight", {l.head_dim});
      if (l.has_v_proj) add(p + "self_attn.v_proj.weight", {kv, H});
    }
    add(p + "mlp.gate_proj.weight", {l.ffn_dim, H});
    add(p + "mlp.up_proj.weight", {l.ffn_dim, H});
    add(p + "mlp.down_proj.weight", {H, l.ffn_dim});
    if (l.moe) {
      add(p + "router.proj.weight", {c.num_experts, H});
      add(p + "router.scale", {H});
      add(p + "router.per_expert_scale", {c.num_experts});
      add(p + "experts.gate_up_proj", {c.num_experts, 2ull * c.expert_ffn, H});
      add(p + "experts.down_proj", {c.num_experts, H, c.expert_ffn});
      for (const char* n :
           {"pre_feedforward_layernorm_2", "post_feedforward_layernorm_1", "post_feedforward_layernorm_2"}) {
        add(p + n + ".weight", {H});
      }
    }
    if (c.has_ple()) {
      add(p + "per_layer_input_gate.weight", {c.ple_dim, H});
      add(p + "per_layer_projection.weight", {H, c.ple_dim});
      add(p + "post_per_layer_input_norm.weight", {H});
    }
    add(p + "layer_scalar", {1});
  }
  return out;
}

namespace {

struct NamePair {
  std::string_view hf, gguf;
};
// Whole-model tensors.
constexpr NamePair kGlobalNames[] = {
    {"embed_tokens.weight", "token_embd.weight"},
    {"embed_tokens_per_layer.weight", "per_layer_token_embd.weight"},
    {"per_layer_model_projection.weight", "per_layer_model_proj.weight"},
    {"per_layer_projection_norm.weight", "per_layer_proj_norm.weight"},
    {"norm.weight", "output_norm.weight"},
};
// Per-layer tensors: "layers.N.<hf>" <-> "blk.N.<gguf>" (llama.cpp llama-arch.cpp
// LLM_ARCH_GEMMA4; the router scales get a ".scale" suffix in its converter).
constexpr NamePair kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"pre_feedforward_layernorm_2.weight", "pre_ffw_norm_2.weight"},
    {"post_feedforward_layernorm_1.weight", "post_ffw_norm_1.weight"},
    {"post_feedforward_layernorm_2.weight", "post_ffw_norm_2.weight"},
    {"router.proj.weight", "ffn_gate_inp.weight"},
    {"router.scale", "ffn_gate_inp.scale"},
    {"router.per_expert_scale", "ffn_down_exps.scale"},
    {"experts.gate_up_proj", "ffn_gate_up_exps.weight"},
    {"experts.down_proj", "ffn_down_exps.weight"},
    {"per_layer_input_gate.weight", "inp_gate.weight"},
    {"per_layer_projection.weight", "proj.weight"},
    {"post_per_layer_input_norm.weight", "post_norm.weight"},
    {"layer_scalar", "layer_output_scale.weight"},
};

// Splits "<prefix>N.<rest>" into N and rest.
std::optional<std::pair<uint32_t, std::string_view>> split_layer(std::string_view name, std::string_view prefix) {
  if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
  name.remove_prefix(prefix.size());
  const size_t dot = name.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot > 4) return std::nullopt;
  uint32_t n = 0;
  for (char ch : name.substr(0, dot)) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + static_cast<uint32_t>(ch - '0');
  }
  if (dot > 1 && name[0] == '0') return std::nullopt;  // no leading zeros: one spelling per tensor
  return std::pair{n, name.substr(dot + 1)};
}

}  // namespace

std::optional<std::string> hf_to_gguf_name(std::string_view hf) {
  for (const auto& n : kGlobalNames) {
    if (n.hf == hf) return std::string(n.gguf);
  }
  if (auto l = split_layer(hf, "layers.")) {
    for (const auto& n : kLayerNames) {
      if (n.hf == l->second) return fmt::format("blk.{}.{}", l->first, n.gguf);
    }
  }
  return std::nullopt;
}

std::optional<std::string> gguf_to_hf_name(std::string_view gguf) {
  for (const auto& n : kGlobalNames) {
    if (n.gguf == gguf) return std::string(n.hf);
  }
  if (auto l = split_layer(gguf, "blk.")) {
    for (const auto& n : kLayerNames) {
      if (n.gguf == l->second) return fmt::format("layers.{}.{}", l->first, n.hf);
    }
  }
  return std::nullopt;
}

std::map<std::string, TensorView> bind_text_tensors(const ModelConfig& c, const std::vector<TensorView>& tensors,
                                                    NameScheme scheme, const std::string& label) {
  // Multimodal towers and embedders are the encoders' business.
  constexpr std::string_view kTowerPrefixes[] = {"model.vision_tower.", "model.audio_tower.", "model.embed_vision.",
                                                 "model.embed_audio.", "model.multi_modal_projector."};
  std::string prefix;
  if (scheme == NameScheme::HuggingFace) {
    prefix = "model.";
    for (const auto& t : tensors) {
      if (t.name.rfind("model.language_model.", 0) == 0) prefix = "model.language_model.";
    }
  }

  // Which layers' k/v weights are unused (KV-shared layers read another cache).
  auto unused_shared_weight = [&](const std::string& hf) {
    auto l = split_layer(hf, "layers.");
    if (!l || l->first >= c.num_layers || !c.layers[l->first].kv_shared) return false;
    const std::string_view rest = l->second;
    return rest == "self_attn.k_proj.weight" || rest == "self_attn.v_proj.weight" || rest == "self_attn.k_norm.weight";
  };

  std::map<std::string, TensorView> found;
  for (const auto& t : tensors) {
    std::string hf;
    if (scheme == NameScheme::HuggingFace) {
      bool tower = false;
      for (auto p : kTowerPrefixes) tower = tower || t.name.rfind(p, 0) == 0;
      if (tower) continue;
      if (t.name == "lm_head.weight") continue;  // tied to the embedding in Gemma 4; a copy is harmless
      if (t.name.rfind(prefix, 0) != 0) {
        throw Error(fmt::format("{}: unexpected tensor '{}' (not under '{}')", label, t.name, prefix));
      }
      hf = t.name.substr(prefix.size());
    } else {
      if (t.name == "rope_freqs.weight" || t.name == "output.weight") continue;  // checked in config_from_gguf / tied
      auto mapped = gguf_to_hf_name(t.name);
      if (!mapped) throw Error(fmt::format("{}: unexpected tensor '{}' in a gemma4 GGUF", label, t.name));
      hf = *mapped;
    }
    if (unused_shared_weight(hf)) continue;
    if (!found.emplace(hf, t).second) throw Error(fmt::format("{}: duplicate tensor '{}'", label, t.name));
  }

  std::map<std::string, TensorView> out;
  for (const auto& spec : expected_tensors(c)) {
    const std::string shown =
        scheme == NameScheme::Gguf ? hf_to_gguf_name(spec.name).value_or(spec.name) : prefix + spec.name;
    auto it = found.find(spec.name);
    if (it == found.end()) throw Error(fmt::format("{}: missing tensor '{}'", label, shown));
    if (it->second.shape != spec.shape) {
      throw Error(fmt::format("{}: tensor '{}' has shape {}, the config needs {}", label, shown,
                              shape_string(it->second.shape), shape_string(spec.shape)));
    }
    out.emplace(spec.name, it->second);
    found.erase(it);
  }
  if (!found.empty()) {
    const auto& extra = found.begin()->second;
    throw Error(fmt::format("{}: unexpected tensor '{}' (not used by a Gemma 4 text model with this config)", label,
                            extra.name));
  }
  return out;
}

}  // namespace gemma4::formats
