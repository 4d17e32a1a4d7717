#include "cache/gate_checkpoint.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include <ATen/ATen.h>
#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/jit/serialization/import_read.h>

#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace trimvl::cache {
namespace {

constexpr std::string_view kGateInfix = ".self_attn.retention_gate.";

std::string shape_str(at::IntArrayRef sizes) { return fmt::format("[{}]", fmt::join(sizes, ", ")); }

// c10 messages end in advice about miniz and corrupted checkpoints; the first sentence is the fact.
std::string c10_fact(const c10::Error& e) {
  std::string msg = e.msg();
  if (auto cut = msg.find(" This is an internal miniz error"); cut != std::string::npos) msg.resize(cut);
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  return msg;
}

// Python's name for what the pickle held, which is what the user wrote with torch.save.
std::string python_type(const c10::IValue& v) {
  if (v.isGenericDict()) return "dict";
  if (v.isList()) return "list";
  if (v.isTuple()) return "tuple";
  if (v.isTensor()) return "tensor";
  if (v.isString()) return "str";
  if (v.isInt()) return "int";
  if (v.isDouble()) return "float";
  if (v.isBool()) return "bool";
  if (v.isNone()) return "None";
  return v.tagKind();
}

std::vector<char> read_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw Error("retention-gate checkpoint not found", Error::Kind::NotFound).file(path.string());
  if (!std::filesystem::is_regular_file(path, ec)) throw Error("not a regular file").file(path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open for reading").file(path.string());
  in.seekg(0, std::ios::end);
  std::vector<char> bytes(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw Error("read failed").file(path.string());
  return bytes;
}

struct Archive {
  std::map<std::string, at::Tensor> tensors;
  int64_t data_bytes = 0;  // tensor data the archive stores
};

// Each kind of wrong file gets its own message before anything is unpickled (LibTorch reports them
// all as a corrupted zip).
Archive read_archive(const std::vector<char>& bytes, const std::filesystem::path& path) {
  const std::string file = path.string();
  if (bytes.empty()) throw Error("empty file: expected a torch.save archive of retention-gate tensors").file(file);
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "PK\x03\x04", 4) != 0) {
    if (static_cast<unsigned char>(bytes[0]) == 0x80)
      throw Error("legacy (non-zip) torch.save format, which LibTorch cannot read; re-save it with a current "
                  "torch: torch.save(torch.load(p), p)").file(file);
    throw Error("not a torch.save archive (no zip signature): expected trimkv_weights.pth as written by torch.save")
        .file(file);
  }
  Archive archive;
  c10::IValue value;
  try {
    caffe2::serialize::PyTorchStreamReader reader(
        std::make_unique<caffe2::serialize::MemoryReadAdapter>(bytes.data(), bytes.size()));
    if (!reader.hasRecord("data.pkl"))
      throw Error("zip archive without data.pkl: not written by torch.save").file(file);
    // LibTorch's unpickler reads an OrderedDict (what torch.save(model.state_dict()) writes) as None.
    auto [pickle, size] = reader.getRecord("data.pkl");
    const std::string_view head(static_cast<const char*>(pickle.get()), std::min<size_t>(size, 64));
    if (head.find("collections\nOrderedDict") != std::string_view::npos)
      throw Error("holds a collections.OrderedDict, which LibTorch cannot unpickle; re-save it as a plain dict: "
                  "torch.save(dict(torch.load(p)), p)").file(file);
    // torch.save writes each storage once (data/<key>) however many tensors view it; the unpickler
    // does not restore that sharing, so the records are the true count.
    for (const auto& record : reader.getAllRecords())
      if (record.rfind("data/", 0) == 0) archive.data_bytes += static_cast<int64_t>(reader.getRecordSize(record));
    // What torch::pickle_load does, but onto the CPU: files saved during GPU training record
    // cuda:N storage locations.
    value = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                              /*type_resolver=*/std::nullopt, /*obj_loader=*/std::nullopt,
                                              at::Device(at::kCPU), reader);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("cannot read the torch.save archive: {}", c10_fact(e))).file(file);
  }
  if (!value.isGenericDict())
    throw Error(fmt::format("holds a {}, expected a dict of tensor name -> tensor", python_type(value))).file(file);
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString())
      throw Error(fmt::format("dict key of type {}, expected tensor names (str)", python_type(entry.key()))).file(file);
    const std::string& name = entry.key().toStringRef();
    if (!entry.value().isTensor())
      throw Error(fmt::format("value is a {}, expected a tensor", python_type(entry.value()))).file(file).tensor(name);
    archive.tensors.emplace(name, entry.value().toTensor());
  }
  if (archive.tensors.empty()) throw Error("holds an empty dict: no retention-gate tensors").file(file);
  return archive;
}

// A gate tensor name split as <prefix><layer>.self_attn.retention_gate.<leaf>.
struct GateKey {
  std::string prefix;
  int64_t layer = -1;
  std::string leaf;
};

std::optional<GateKey> split_key(const std::string& name) {
  const auto infix = name.find(kGateInfix);
  if (infix == std::string::npos) return std::nullopt;
  const std::string head = name.substr(0, infix);  // "<prefix><digits>"
  size_t digits = head.size();
  while (digits > 0 && std::isdigit(static_cast<unsigned char>(head[digits - 1]))) --digits;
  if (digits == head.size() || digits == 0 || head[digits - 1] != '.' || head.size() - digits > 6) return std::nullopt;
  GateKey key;
  key.prefix = head.substr(0, digits);
  key.layer = std::stoll(head.substr(digits));
  key.leaf = name.substr(infix + kGateInfix.size());
  return key;
}

std::vector<std::string> leaves_of(GateType type) {
  if (type == GateType::Rg) return {"bias", "linear1.bias", "linear1.weight", "linear2.weight"};
  return {"bias", "linear1.bias", "linear1.weight", "linear2.bias", "linear2.weight", "linear3.weight"};
}

std::string out_leaf(GateType type) { return type == GateType::Rg ? "linear2.weight" : "linear3.weight"; }

std::string describe_prefix(const std::string& prefix) {
  if (prefix == "model.language_model.layers.") return "a vision-language model's";
  if (prefix == "model.layers.") return "a text-only LLM's";
  return "an unknown model's";
}

class Assembler {
 public:
  Assembler(const std::filesystem::path& path, const GateSpec& spec, std::map<std::string, at::Tensor> tensors,
            int64_t data_bytes)
      : file_(path.string()), spec_(spec), tensors_(std::move(tensors)), data_bytes_(data_bytes) {}

  GateCheckpoint run() {
    check_names();
    check_dtype();
    check_sizes();
    check_values();
    return build();
  }

 private:
  std::string name(int64_t layer, const std::string& leaf) const {
    return fmt::format("{}{}{}{}", spec_.layer_prefix, layer, kGateInfix, leaf);
  }
  const at::Tensor& get(int64_t layer, const std::string& leaf) const { return tensors_.at(name(layer, leaf)); }

  void check_names() {
    std::set<std::string> prefixes;
    std::set<int64_t> layers;
    for (const auto& [n, t] : tensors_) {
      auto key = split_key(n);
      if (!key)
        throw Error(fmt::format("not a retention-gate tensor (expected {}{{i}}{}*)", spec_.layer_prefix, kGateInfix))
            .file(file_).tensor(n);
      prefixes.insert(key->prefix);
      layers.insert(key->layer);
      if (key->leaf == "linear3.weight") type_ = GateType::Rg10;
    }
    if (prefixes.size() > 1)
      throw Error(fmt::format("gate tensors use several layer prefixes ({}); expected only '{}'",
                              fmt::join(prefixes, ", "), spec_.layer_prefix)).file(file_);
    const std::string& prefix = *prefixes.begin();
    if (prefix != spec_.layer_prefix)
      throw Error(fmt::format("gate tensors are named '{}{{i}}...' ({} layers) but the base model ({}) names its "
                              "decoder layers '{}{{i}}...': these gates belong to a different architecture",
                              prefix, describe_prefix(prefix), spec_.base_source, spec_.layer_prefix)).file(file_);
    const int64_t count = *layers.rbegin() + 1;
    if (static_cast<int64_t>(layers.size()) != count) {
      int64_t gap = 0;
      while (layers.count(gap)) ++gap;
      throw Error(fmt::format("gate tensors cover layers up to {} but none exist for layer {}", count - 1, gap))
          .file(file_);
    }
    if (count != spec_.num_layers)
      throw Error(fmt::format("gates for {} layers, but the base model has num_hidden_layers {} ({}): these gates "
                              "were trained for a different base model", count, spec_.num_layers, spec_.base_source))
          .file(file_);
    if (spec_.type && *spec_.type != type_)
      throw Error(fmt::format("the file holds {} gates ({}) but {} says retention_gate '{}'", gate_type_name(type_),
                              type_ == GateType::Rg10 ? "linear3 present" : "no linear3", spec_.gate_source,
                              gate_type_name(*spec_.type))).file(file_);
    const auto leaves = leaves_of(type_);
    for (int64_t i = 0; i < count; ++i)
      for (const auto& leaf : leaves)
        if (!tensors_.count(name(i, leaf)))
          throw Error(fmt::format("missing from this {} gate file", gate_type_name(type_))).file(file_).tensor(name(i, leaf));
    const size_t expected = static_cast<size_t>(count) * leaves.size();
    if (tensors_.size() != expected)
      for (const auto& [n, t] : tensors_) {
        const auto leaf = split_key(n)->leaf;
        if (std::find(leaves.begin(), leaves.end(), leaf) == leaves.end())
          throw Error(fmt::format("unexpected tensor for an {} gate (expected {})", gate_type_name(type_),
                                  fmt::join(leaves, ", "))).file(file_).tensor(n);
      }
  }

  void check_dtype() {
    const auto& [first_name, first] = *tensors_.begin();
    dtype_ = first.scalar_type();
    for (const auto& [n, t] : tensors_) {
      if (!at::isFloatingType(t.scalar_type()))
        throw Error(fmt::format("dtype {}, expected a floating-point gate weight", c10::toString(t.scalar_type())))
            .file(file_).tensor(n);
      if (t.scalar_type() != dtype_)
        throw Error(fmt::format("dtype {} differs from {} ('{}'): a gate file holds one dtype",
                                c10::toString(t.scalar_type()), c10::toString(dtype_), first_name))
            .file(file_).tensor(n);
    }
  }

  void expect_shape(int64_t layer, const std::string& leaf, std::vector<int64_t> shape, const char* meaning) const {
    const auto& t = get(layer, leaf);
    if (t.sizes() != at::IntArrayRef(shape))
      throw Error(fmt::format("shape {}, expected {} ({})", shape_str(t.sizes()), shape_str(shape), meaning))
          .file(file_).tensor(name(layer, leaf));
  }

  // Checks the sizes that tie the gates to the base model first, so a gate file for another model
  // is reported as such rather than as some odd tensor shape.
  void check_sizes() {
    const auto& w1 = get(0, "linear1.weight");
    if (w1.dim() != 2)
      throw Error(fmt::format("shape {}, expected [intermediate, hidden]", shape_str(w1.sizes())))
          .file(file_).tensor(name(0, "linear1.weight"));
    if (w1.size(1) != spec_.hidden_size)
      throw Error(fmt::format("gates take hidden size {} ({} {}) but the base model has hidden_size {} ({}): these "
                              "gates were trained for a different base model", w1.size(1),
                              name(0, "linear1.weight"), shape_str(w1.sizes()), spec_.hidden_size, spec_.base_source))
          .file(file_);
    intermediate_ = w1.size(0);
    if (spec_.intermediate_size && *spec_.intermediate_size != intermediate_)
      throw Error(fmt::format("gates have intermediate size {} ({} {}) but {} says retention_gate_intermediate_size {}",
                              intermediate_, name(0, "linear1.weight"), shape_str(w1.sizes()), spec_.gate_source,
                              *spec_.intermediate_size)).file(file_);
    const auto& out = get(0, out_leaf(type_));
    if (out.dim() == 2 && out.size(1) == intermediate_ && out.size(0) != spec_.num_kv_heads)
      throw Error(fmt::format("gates score {} KV heads ({} {}) but the base model has num_key_value_heads {} ({}): "
                              "these gates were trained for a different base model", out.size(0),
                              name(0, out_leaf(type_)), shape_str(out.sizes()), spec_.num_kv_heads,
                              spec_.base_source)).file(file_);
    const int64_t H = spec_.hidden_size, I = intermediate_, K = spec_.num_kv_heads;
    for (int64_t i = 0; i < spec_.num_layers; ++i) {
      expect_shape(i, "linear1.weight", {I, H}, "intermediate x hidden_size");
      expect_shape(i, "linear1.bias", {I}, "intermediate");
      if (type_ == GateType::Rg10) {
        expect_shape(i, "linear2.weight", {I, I}, "intermediate x intermediate");
        expect_shape(i, "linear2.bias", {I}, "intermediate");
      }
      expect_shape(i, out_leaf(type_), {K, I}, "num_key_value_heads x intermediate");
      expect_shape(i, "bias", {K}, "num_key_value_heads");
    }
    if (intermediate_ != 512)
      log::warn("{}: retention-gate intermediate size is {} (every trimkv checkpoint uses 512)", file_, intermediate_);
  }

  // A NaN weight gives NaN log β, which the reference's top-k ranks above every score: the token
  // could never be evicted. No trained gate holds one, so a file that does is damaged.
  void check_values() const {
    for (const auto& [n, t] : tensors_)
      if (!at::isfinite(t).all().item<bool>())
        throw Error("holds NaN or infinite values: the file is damaged").file(file_).tensor(n);
  }

  GateCheckpoint build() {
    GateCheckpoint ckpt;
    ckpt.path = file_;
    ckpt.type = type_;
    ckpt.layer_prefix = spec_.layer_prefix;
    ckpt.hidden_size = spec_.hidden_size;
    ckpt.intermediate_size = intermediate_;
    ckpt.num_kv_heads = spec_.num_kv_heads;
    ckpt.dtype = dtype_;
    ckpt.file_tensors = static_cast<int64_t>(tensors_.size());
    ckpt.file_bytes = data_bytes_;

    const int64_t L = spec_.num_layers;
    ckpt.tied = type_ == GateType::Rg10 && spec_.tie_layers;
    const at::Tensor tied_weight = get(L - 1, out_leaf(type_));
    const at::Tensor tied_bias = get(L - 1, "bias");
    for (int64_t i = 0; i < L; ++i) {
      GateLayer layer;
      layer.hidden.push_back({get(i, "linear1.weight"), get(i, "linear1.bias")});
      if (type_ == GateType::Rg10) layer.hidden.push_back({get(i, "linear2.weight"), get(i, "linear2.bias")});
      if (ckpt.tied) {
        if (!at::equal(get(i, out_leaf(type_)), tied_weight) || !at::equal(get(i, "bias"), tied_bias))
          ckpt.tied_copies_differ.push_back(i);
        layer.out_weight = tied_weight;
        layer.out_bias = tied_bias;
      } else {
        layer.out_weight = get(i, out_leaf(type_));
        layer.out_bias = get(i, "bias");
      }
      ckpt.layers.push_back(std::move(layer));
    }
    if (!ckpt.tied_copies_differ.empty())
      log::warn("{}: rg10 shares linear3 and bias across layers, but the copies stored for layer(s) {} differ from "
                "layer {}'s; using layer {}'s copy, as the reference's load_state_dict does", file_,
                fmt::join(ckpt.tied_copies_differ, ", "), L - 1, L - 1);
    return ckpt;
  }

  std::string file_;
  const GateSpec& spec_;
  std::map<std::string, at::Tensor> tensors_;
  int64_t data_bytes_ = 0;
  GateType type_ = GateType::Rg;
  c10::ScalarType dtype_ = c10::kBFloat16;
  int64_t intermediate_ = 0;
};

}  // namespace

std::string_view gate_type_name(GateType type) { return type == GateType::Rg ? "rg" : "rg10"; }

GateType parse_gate_type(std::string_view name) {
  if (name == "rg") return GateType::Rg;
  if (name == "rg10") return GateType::Rg10;
  throw Error(fmt::format("retention_gate '{}' is not supported (trimvl runs 'rg' and 'rg10')", name),
              Error::Kind::Unsupported);
}

GateCheckpoint load_gate_checkpoint(const std::filesystem::path& path, const GateSpec& spec) {
  TRIMVL_CHECK(spec.num_layers > 0 && spec.hidden_size > 0 && spec.num_kv_heads > 0 && !spec.layer_prefix.empty(),
               "GateSpec for {} is incomplete", path.string());
  auto archive = read_archive(read_bytes(path), path);
  return Assembler(path, spec, std::move(archive.tensors), archive.data_bytes).run();
}

}  // namespace trimvl::cache
