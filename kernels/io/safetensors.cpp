#include "kernels/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <unordered_set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "kernels/runtime/error.h"

namespace trimvl::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and is viewed without conversion");

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Dtype {
  std::string_view code;
  c10::ScalarType type;
  int bits;
};

// Every dtype of safetensors 0.7.0 that ATen 2.11 can hold, mapped as the safetensors torch
// binding maps them.
constexpr Dtype kDtypes[] = {
    {"BOOL", c10::ScalarType::Bool, 8},
    {"U8", c10::ScalarType::Byte, 8},
    {"I8", c10::ScalarType::Char, 8},
    {"I16", c10::ScalarType::Short, 16},
    {"U16", c10::ScalarType::UInt16, 16},
    {"I32", c10::ScalarType::Int, 32},
    {"U32", c10::ScalarType::UInt32, 32},
    {"I64", c10::ScalarType::Long, 64},
    {"U64", c10::ScalarType::UInt64, 64},
    {"F16", c10::ScalarType::Half, 16},
    {"BF16", c10::ScalarType::BFloat16, 16},
    {"F32", c10::ScalarType::Float, 32},
    {"F64", c10::ScalarType::Double, 64},
    {"C64", c10::ScalarType::ComplexFloat, 64},
    {"F8_E4M3", c10::ScalarType::Float8_e4m3fn, 8},
    {"F8_E5M2", c10::ScalarType::Float8_e5m2, 8},
    {"F8_E8M0", c10::ScalarType::Float8_e8m0fnu, 8},
    {"F4", c10::ScalarType::Float4_e2m1fn_x2, 4},
};
// Valid safetensors dtypes with no ATen equivalent.
constexpr std::string_view kWithoutAten[] = {"F6_E2M3", "F6_E3M2"};

const Dtype& find_dtype(std::string_view code) {
  for (const Dtype& d : kDtypes)
    if (d.code == code) return d;
  if (std::find(std::begin(kWithoutAten), std::end(kWithoutAten), code) != std::end(kWithoutAten))
    throw Error(fmt::format("dtype {} is not supported (ATen has no equivalent)", code), Error::Kind::Unsupported);
  std::string known;
  for (const Dtype& d : kDtypes) known += fmt::format("{}{}", known.empty() ? "" : ", ", d.code);
  throw Error(fmt::format("unknown dtype '{}' (supported: {})", code, known), Error::Kind::Unsupported);
}

// Byte offset of the first ill-formed UTF-8 sequence, or npos. The rules of Rust's
// str::from_utf8, which the reference applies to the header: no overlong forms, no surrogates,
// nothing above U+10FFFF.
size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      lo = c == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
      hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      lo = c == 0xF0 ? 0x90 : 0x80;  // no overlong forms
      hi = c == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
    } else {
      return i;
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

// JSON as the reference reads it, except that a key repeated within one object is an error
// rather than silently resolved: which of two entries is meant cannot be known.
json parse_json(std::string_view text, std::string_view what) {
  if (size_t at = invalid_utf8_at(text); at != std::string_view::npos)
    throw Error(fmt::format("{} is not valid UTF-8 (ill-formed sequence at byte {})", what, at));
  // nlohmann stops at a NUL byte as if the input ended there; JSON never contains a raw one.
  if (size_t at = text.find('\0'); at != std::string_view::npos)
    throw Error(fmt::format("{} is not valid JSON: NUL byte at byte {}", what, at));
  struct Object {
    std::unordered_set<std::string> keys;
    std::string last_key;
  };
  std::vector<Object> open_objects;
  auto reject_duplicate_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().keys.insert(key).second)
        throw Error(open_objects.size() == 1 ? fmt::format("{} has duplicate key '{}'", what, key)
                                             : fmt::format("{} has duplicate key '{}' in '{}'", what, key,
                                                           open_objects[open_objects.size() - 2].last_key));
      open_objects.back().last_key = key;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), reject_duplicate_keys);
  } catch (const json::exception& e) {
    std::string_view reason = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    if (size_t end = reason.find("] "); end != std::string_view::npos) reason.remove_prefix(end + 2);
    throw Error(fmt::format("{} is not valid JSON: {}", what, reason));
  }
}

// A JSON value for an error message, cut short: the value may be arbitrarily large.
std::string brief(const json& value) {
  std::string s = value.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

TensorInfo parse_entry(const std::string& name, const json& entry, uint64_t data_size) {
  auto fail = [&](std::string message, Error::Kind kind = Error::Kind::InvalidInput) {
    Error e(std::move(message), kind);
    e.tensor(name);
    return e;
  };
  if (!entry.is_object()) throw fail(fmt::format("entry must be an object, got {}", entry.type_name()));
  auto field = [&](const char* key) -> const json& {
    auto it = entry.find(key);
    if (it == entry.end()) throw fail(fmt::format("entry has no '{}'", key));
    return *it;
  };

  TensorInfo info;
  info.name = name;
  const json& dtype = field("dtype");
  if (!dtype.is_string()) throw fail(fmt::format("'dtype' must be a string, got {}", brief(dtype)));
  info.dtype = dtype.get<std::string>();
  const Dtype* dt = nullptr;
  try {
    dt = &find_dtype(info.dtype);
  } catch (Error& e) {
    e.tensor(name);
    throw;
  }
  info.scalar_type = dt->type;

  const json& shape = field("shape");
  if (!shape.is_array())
    throw fail(fmt::format("'shape' must be an array of non-negative integers, got {}", brief(shape)));
  // ATen computes contiguous strides as products of max(dim, 1), so a zero does not excuse huge
  // dimensions beside it (the reference accepts [0, 2^32, 2^32]; no at::Tensor can have it).
  int64_t extent = 1, numel = 1;
  for (const json& dim : shape) {
    if (!dim.is_number_integer())
      throw fail(fmt::format("'shape' must be an array of non-negative integers, got {}", brief(shape)));
    if (!dim.is_number_unsigned()) throw fail(fmt::format("negative dimension in shape {}", brief(shape)));
    const uint64_t d = dim.get<uint64_t>();
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(extent, std::max<int64_t>(static_cast<int64_t>(d), 1), &extent))
      throw fail(fmt::format("shape {} is too large: its element count or strides overflow int64", brief(shape)));
    info.shape.push_back(static_cast<int64_t>(d));
    numel *= static_cast<int64_t>(d);  // |numel| <= extent
  }
  int64_t bits = 0;
  if (__builtin_mul_overflow(numel, static_cast<int64_t>(dt->bits), &bits))
    throw fail(fmt::format("shape {} of {} is too large: its size in bits overflows int64", brief(shape), info.dtype));
  if (bits % 8 != 0) throw fail(fmt::format("{} elements of {} do not fill whole bytes", numel, info.dtype));
  if (dt->type == c10::ScalarType::Float4_e2m1fn_x2 && info.shape.back() % 2 != 0)
    throw fail(fmt::format("F4 shape {} has an odd last dimension; torch packs F4 in pairs along it "
                           "(float4_e2m1fn_x2)",
                           brief(shape)),
               Error::Kind::Unsupported);

  const json& offsets = field("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw fail(fmt::format("'data_offsets' must be [begin, end], two non-negative integers; got {}", brief(offsets)));
  info.begin = offsets[0].get<uint64_t>();
  info.end = offsets[1].get<uint64_t>();
  if (info.begin > info.end)
    throw fail(fmt::format("data_offsets [{}, {}] begin after they end", info.begin, info.end));
  if (info.end > data_size)
    throw fail(fmt::format("data_offsets [{}, {}] reach past the data section, which has {} bytes", info.begin,
                           info.end, data_size));
  const auto needed = static_cast<uint64_t>(bits / 8);
  if (info.nbytes() != needed)
    throw fail(fmt::format("data_offsets [{}, {}] hold {} bytes, but {} of shape {} takes {}", info.begin, info.end,
                           info.nbytes(), info.dtype, brief(shape), needed));
  return info;
}

struct Header {
  uint64_t data_begin = 0;  // file offset of the data section
  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;  // in data-section order
};

// Validates a whole file's header against its size. Errors carry the tensor, not the file.
Header parse_header(std::span<const std::byte> file) {
  constexpr uint64_t kLengthBytes = sizeof(uint64_t);
  if (file.size() < kLengthBytes)
    throw Error(fmt::format("file has {} bytes, fewer than the 8-byte header length that starts a safetensors file",
                            file.size()));
  uint64_t n = 0;
  std::memcpy(&n, file.data(), kLengthBytes);
  if (n > kMaxHeaderBytes) throw Error(fmt::format("header length {} exceeds the {}-byte limit", n, kMaxHeaderBytes));
  if (n > file.size() - kLengthBytes)
    throw Error(fmt::format("header length {} exceeds the file size {}", n, file.size()));

  Header header;
  header.data_begin = kLengthBytes + n;
  const uint64_t data_size = file.size() - header.data_begin;
  const json root = parse_json({reinterpret_cast<const char*>(file.data()) + kLengthBytes, n}, "header");
  if (!root.is_object()) throw Error(fmt::format("header must be a JSON object, got {}", root.type_name()));

  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;  // the reference reads null as "no metadata"
      if (!value.is_object())
        throw Error(fmt::format("'__metadata__' must be an object of strings, got {}", value.type_name()));
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string())
          throw Error(fmt::format("'__metadata__' value of '{}' must be a string, got {}", k, brief(v)));
        header.metadata.emplace(k, v.get<std::string>());
      }
      continue;
    }
    header.tensors.push_back(parse_entry(key, value, data_size));
  }

  // The tensors must tile the data section: sorted by offset, each begins where the previous
  // ends, and the last ends at the end of the file. Zero-size tensors may share an offset.
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  const TensorInfo* previous = nullptr;
  uint64_t covered = 0;
  for (const TensorInfo& t : header.tensors) {
    if (t.begin < covered)
      throw Error(fmt::format("data_offsets [{}, {}] overlap tensor '{}' at [{}, {}]", t.begin, t.end, previous->name,
                              previous->begin, previous->end))
          .tensor(t.name);
    if (t.begin > covered)
      throw Error(fmt::format("data_offsets [{}, {}] leave bytes [{}, {}) of the data section unused; "
                              "tensors must be contiguous",
                              t.begin, t.end, covered, t.begin))
          .tensor(t.name);
    covered = t.end;
    previous = &t;
  }
  if (covered != data_size)
    throw Error(fmt::format("the header accounts for {} bytes of data, but the file has {} more after them", covered,
                            data_size - covered));
  return header;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated when the file was opened
  return n;
}

c10::ScalarType scalar_type_from_safetensors(std::string_view code) { return find_dtype(code).type; }

int safetensors_bit_width(std::string_view code) { return find_dtype(code).bits; }

std::string safetensors_dtype_code(c10::ScalarType type) {
  for (const Dtype& d : kDtypes)
    if (d.type == type) return std::string(d.code);
  throw Error(fmt::format("dtype {} cannot be stored in safetensors", c10::toString(type)), Error::Kind::Unsupported);
}

// ---- SafetensorsFile ---------------------------------------------------------------------------

SafetensorsFile SafetensorsFile::open(const fs::path& path) {
  auto map = std::make_shared<const MappedFile>(path);
  Header header;
  try {
    header = parse_header(map->bytes());
  } catch (Error& e) {
    e.file(path.string());
    throw;
  }
  SafetensorsFile file;
  file.path_ = path;
  file.data_ = map->data() + header.data_begin;
  file.map_ = std::move(map);
  file.metadata_ = std::move(header.metadata);
  file.tensors_ = std::move(header.tensors);
  file.index_.reserve(file.tensors_.size());
  for (size_t i = 0; i < file.tensors_.size(); ++i) file.index_.emplace(file.tensors_[i].name, i);
  return file;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::info(std::string_view name) const {
  if (const TensorInfo* t = find(name)) return *t;
  throw Error(fmt::format("no such tensor (the file has {})", tensors_.size()), Error::Kind::NotFound)
      .file(path_.string())
      .tensor(std::string(name));
}

std::span<const std::byte> SafetensorsFile::bytes(std::string_view name) const {
  const TensorInfo& t = info(name);
  return {data_ + t.begin, static_cast<size_t>(t.nbytes())};
}

at::Tensor SafetensorsFile::tensor(std::string_view name) const {
  const TensorInfo& t = info(name);
  std::vector<int64_t> sizes = t.shape;
  if (t.scalar_type == c10::ScalarType::Float4_e2m1fn_x2) sizes.back() /= 2;
  const auto options = at::TensorOptions().dtype(t.scalar_type).device(at::kCPU);
  std::byte* data = data_ + t.begin;
  if (reinterpret_cast<uintptr_t>(data) % c10::elementSize(t.scalar_type) != 0) {
    at::Tensor copy = at::empty(sizes, options);
    std::memcpy(copy.data_ptr(), data, t.nbytes());
    return copy;
  }
  // The deleter's copy of map_ keeps the file mapped for as long as the tensor's storage lives.
  auto keep_mapped = [map = map_](void*) {};
  return at::from_blob(data, sizes, keep_mapped, options);
}

// ---- SafetensorsCheckpoint ---------------------------------------------------------------------

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// weight_map of an index: shard file name -> the tensors the index puts there.
std::map<std::string, std::vector<std::string>> read_weight_map(const fs::path& index) {
  const MappedFile file(index);
  json root;
  try {
    root = parse_json({reinterpret_cast<const char*>(file.data()), file.size()}, "index");
  } catch (Error& e) {
    e.file(index.string());
    throw;
  }
  auto fail = [&](std::string message) {
    Error e(std::move(message));
    e.file(index.string());
    return e;
  };
  if (!root.is_object()) throw fail(fmt::format("index must be a JSON object, got {}", root.type_name()));
  auto it = root.find("weight_map");
  if (it == root.end()) throw fail("index has no 'weight_map'");
  if (!it->is_object()) throw fail(fmt::format("'weight_map' must be an object, got {}", it->type_name()));
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [name, shard] : it->items()) {
    if (!shard.is_string())
      throw fail(fmt::format("'weight_map' must name a shard file, got {}", brief(shard))).tensor(name);
    const fs::path relative = shard.get<std::string>();
    // Shards live beside the index; a path leaving that directory is a broken or hostile index.
    if (relative.empty() || relative.is_absolute() ||
        std::any_of(relative.begin(), relative.end(), [](const fs::path& part) { return part == ".."; }))
      throw fail(fmt::format("shard '{}' is not a path inside the index's directory", relative.string())).tensor(name);
    shards[relative.lexically_normal().string()].push_back(name);
  }
  return shards;
}

}  // namespace

SafetensorsCheckpoint SafetensorsCheckpoint::open(const fs::path& path) {
  std::error_code ec;
  fs::path file = path;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(path / kSingleFile, ec)) {
      file = path / kSingleFile;
    } else if (fs::exists(path / kIndexFile, ec)) {
      file = path / kIndexFile;
    } else {
      throw Error(fmt::format("directory has neither {} nor {}", kSingleFile, kIndexFile), Error::Kind::NotFound)
          .file(path.string());
    }
  }

  SafetensorsCheckpoint ckpt;
  ckpt.path_ = path;
  if (file.extension() != ".json") {
    ckpt.shards_.push_back(SafetensorsFile::open(file));
    for (const TensorInfo& t : ckpt.shards_[0].tensors()) ckpt.shard_of_.emplace(t.name, 0);
    return ckpt;
  }

  const auto weight_map = read_weight_map(file);
  ckpt.shards_.reserve(weight_map.size());
  for (const auto& [shard_name, names] : weight_map) {
    try {
      ckpt.shards_.push_back(SafetensorsFile::open(file.parent_path() / shard_name));
    } catch (const Error& e) {
      throw Error(fmt::format("{} (a shard named by {})", e.message(), file.string()), e.kind())
          .file(e.file())
          .tensor(e.tensor());
    }
    for (const std::string& name : names) ckpt.shard_of_.emplace(name, ckpt.shards_.size() - 1);
  }
  // Each shard must hold exactly what the index assigns to it.
  size_t shard = 0;
  for (const auto& [shard_name, names] : weight_map) {
    const SafetensorsFile& f = ckpt.shards_[shard];
    for (const std::string& name : names)
      if (f.find(name) == nullptr)
        throw Error(fmt::format("{} assigns the tensor to this shard, which does not hold it", file.string()))
            .file(f.path().string())
            .tensor(name);
    for (const TensorInfo& t : f.tensors()) {
      auto it = ckpt.shard_of_.find(t.name);
      if (it == ckpt.shard_of_.end())
        throw Error(fmt::format("shard holds a tensor that {} does not list", file.string()))
            .file(f.path().string())
            .tensor(t.name);
      if (it->second != shard)
        throw Error(fmt::format("shard holds a tensor that {} assigns to {}", file.string(),
                                ckpt.shards_[it->second].path().string()))
            .file(f.path().string())
            .tensor(t.name);
    }
    ++shard;
  }
  return ckpt;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(shard_of_.size());
  for (const auto& [name, shard] : shard_of_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

bool SafetensorsCheckpoint::contains(std::string_view name) const { return shard_of_.find(name) != shard_of_.end(); }

const SafetensorsFile& SafetensorsCheckpoint::shard_holding(std::string_view name) const {
  auto it = shard_of_.find(name);
  if (it == shard_of_.end())
    throw Error(
        fmt::format("no such tensor in the checkpoint ({} tensors in {} file(s))", shard_of_.size(), shards_.size()),
        Error::Kind::NotFound)
        .file(path_.string())
        .tensor(std::string(name));
  return shards_[it->second];
}

const std::vector<int64_t>* SafetensorsCheckpoint::find_shape(std::string_view name) const {
  const auto it = shard_of_.find(name);
  return it == shard_of_.end() ? nullptr : &shards_[it->second].info(name).shape;
}

const TensorInfo& SafetensorsCheckpoint::info(std::string_view name) const { return shard_holding(name).info(name); }

at::Tensor SafetensorsCheckpoint::tensor(std::string_view name) const { return shard_holding(name).tensor(name); }

}  // namespace trimvl::io
