#include "kernels/runtime/config_json.h"

#include <cmath>
#include <fstream>
#include <sstream>

namespace trimvl {
namespace {

std::string describe(const nlohmann::json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

}  // namespace

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("file not found", Error::Kind::NotFound).file(path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open for reading").file(path.string());
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's text is "[json.exception.parse_error.101] parse error at line 3, column 5: ...".
    std::string what = e.what();
    if (auto end = what.find("] "); what.rfind("[json.exception", 0) == 0 && end != std::string::npos)
      what = what.substr(end + 2);
    throw Error("invalid JSON: " + what).file(path.string());
  }
}

ConfigObject::ConfigObject(const nlohmann::json& value, std::string file, std::string key_path)
    : value_(&value), file_(std::move(file)), path_(std::move(key_path)) {
  if (!value.is_object())
    throw Error(path_.empty() ? fmt::format("expected a JSON object, got {}", describe(value))
                              : fmt::format("key '{}': expected an object, got {}", path_, describe(value)))
        .file(file_);
}

bool ConfigObject::has(std::string_view key) const {
  auto it = value_->find(key);
  return it != value_->end() && !it->is_null();
}

bool ConfigObject::contains(std::string_view key) const { return value_->find(key) != value_->end(); }

std::string ConfigObject::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

Error ConfigObject::error(std::string_view key, std::string_view message) const {
  if (key.empty() && path_.empty()) return Error(std::string(message)).file(file_);
  return Error(fmt::format("key '{}': {}", key.empty() ? path_ : key_path(key), message)).file(file_);
}

const nlohmann::json& ConfigObject::at(std::string_view key) const {
  if (!has(key)) throw Error(fmt::format("missing key '{}'", key_path(key))).file(file_);
  return *value_->find(key);
}

int64_t ConfigObject::integer(std::string_view key) const {
  const auto& v = at(key);
  if (v.is_number_integer()) return v.get<int64_t>();
  // Some writers emit integral values as floats ("memory_size": 512.0).
  if (v.is_number_float() && std::isfinite(v.get<double>()) && std::trunc(v.get<double>()) == v.get<double>() &&
      std::abs(v.get<double>()) < 9.0e15)
    return static_cast<int64_t>(v.get<double>());
  throw error(key, fmt::format("expected an integer, got {}", describe(v)));
}

int64_t ConfigObject::integer(std::string_view key, int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}

std::optional<int64_t> ConfigObject::optional_integer(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return integer(key);
}

double ConfigObject::number(std::string_view key) const {
  const auto& v = at(key);
  if (!v.is_number()) throw error(key, fmt::format("expected a number, got {}", describe(v)));
  return v.get<double>();
}

double ConfigObject::number(std::string_view key, double fallback) const {
  return has(key) ? number(key) : fallback;
}

bool ConfigObject::boolean(std::string_view key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = at(key);
  if (!v.is_boolean()) throw error(key, fmt::format("expected true or false, got {}", describe(v)));
  return v.get<bool>();
}

std::string ConfigObject::string(std::string_view key) const {
  const auto& v = at(key);
  if (!v.is_string()) throw error(key, fmt::format("expected a string, got {}", describe(v)));
  return v.get<std::string>();
}

std::string ConfigObject::string(std::string_view key, std::string fallback) const {
  return has(key) ? string(key) : fallback;
}

std::optional<std::string> ConfigObject::optional_string(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return string(key);
}

std::vector<int64_t> ConfigObject::integers(std::string_view key, std::vector<int64_t> fallback) const {
  if (!has(key)) return fallback;
  const auto& v = at(key);
  if (!v.is_array()) throw error(key, fmt::format("expected a list of integers, got {}", describe(v)));
  std::vector<int64_t> out;
  for (const auto& item : v) {
    if (!item.is_number_integer()) throw error(key, fmt::format("expected a list of integers, got {}", describe(v)));
    out.push_back(item.get<int64_t>());
  }
  return out;
}

std::optional<ConfigObject> ConfigObject::object(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return ConfigObject(at(key), file_, key_path(key));
}

void ConfigObject::require_positive(std::string_view key, int64_t value) const {
  if (value <= 0) throw error(key, fmt::format("must be positive, got {}", value));
}

}  // namespace trimvl
