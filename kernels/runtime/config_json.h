#pragma once
// Reading the JSON files of a checkpoint (config.json, index files, processor configs) with
// errors that name the file and the key, e.g.
//   /m/config.json: key 'text_config.hidden_size': expected an integer, got "2560"
// JSON null counts as absent, as transformers treats it (None takes the class default).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/runtime/error.h"

namespace trimvl {

// Parses a JSON file; NotFound if it does not exist, InvalidInput with line and column if it is not
// valid JSON.
nlohmann::json read_json_file(const std::filesystem::path& path);

// A JSON object inside a file, with typed lookups. Required lookups throw when the key is absent;
// every lookup throws when the value has the wrong type.
class ConfigObject {
 public:
  // `value` must outlive this view. Throws when `value` is not an object.
  ConfigObject(const nlohmann::json& value, std::string file, std::string key_path = "");

  bool has(std::string_view key) const;       // present and not null
  bool contains(std::string_view key) const;  // present, possibly null
  std::string key_path(std::string_view key) const;  // "text_config.hidden_size"
  const std::string& file() const { return file_; }

  int64_t integer(std::string_view key) const;
  int64_t integer(std::string_view key, int64_t fallback) const;
  std::optional<int64_t> optional_integer(std::string_view key) const;
  double number(std::string_view key) const;
  double number(std::string_view key, double fallback) const;
  bool boolean(std::string_view key, bool fallback) const;
  std::string string(std::string_view key) const;
  std::string string(std::string_view key, std::string fallback) const;
  std::optional<std::string> optional_string(std::string_view key) const;
  std::vector<int64_t> integers(std::string_view key, std::vector<int64_t> fallback) const;
  // Absent or null: nullopt.
  std::optional<ConfigObject> object(std::string_view key) const;

  // An error about `key` (or about the object itself when empty), naming the file and key path.
  [[nodiscard]] Error error(std::string_view key, std::string_view message) const;
  // Throws error(key, "must be positive, got N") unless value > 0 (for sizes read from `key`).
  void require_positive(std::string_view key, int64_t value) const;

 private:
  const nlohmann::json& at(std::string_view key) const;  // present, non-null
  const nlohmann::json* value_;
  std::string file_, path_;
};

}  // namespace trimvl
