#pragma once
// Typed, located access to tokenizer.json. Every accessor either returns a value of the asked
// type or throws one trimvl::Error naming the file and the JSON location ("pre_tokenizer.
// pretokenizers[1].behavior: expected a string, got number"), so each component's parser reads
// like a schema and bad files never surface as nlohmann exceptions.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/runtime/error.h"

namespace trimvl::tok {

class ConfigNode {
 public:
  ConfigNode(const nlohmann::json& value, std::string where, std::shared_ptr<const std::string> file, int depth = 0)
      : value_(&value), where_(std::move(where)), file_(std::move(file)), depth_(depth) {}

  const nlohmann::json& json() const { return *value_; }
  const std::string& where() const { return where_; }
  const std::string& file() const { return *file_; }

  // A key counts as present unless it is absent or null (HF writes optional fields as null).
  bool has(std::string_view key) const;
  ConfigNode at(std::string_view key) const;  // required
  std::optional<ConfigNode> find(std::string_view key) const;
  std::vector<ConfigNode> elements() const;  // this node must be an array
  std::vector<ConfigNode> elements(std::string_view key) const { return at(key).elements(); }
  std::vector<std::pair<std::string, ConfigNode>> members() const;  // this node must be an object

  std::string as_string() const;
  std::string string(std::string_view key) const { return at(key).as_string(); }
  std::optional<std::string> optional_string(std::string_view key) const;
  bool boolean(std::string_view key, bool fallback) const;
  int64_t integer(std::string_view key) const;
  int64_t as_integer() const;
  // A string that must hold exactly one character (Strip.content, Metaspace.replacement, ...).
  char32_t character(std::string_view key) const;
  // The "type" tag of a component. Components nest (Sequence), and their parsers recurse, so a
  // component deeper than kMaxDepth JSON levels is rejected before it can exhaust the stack.
  std::string type() const;
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void fail(const std::string& message, Error::Kind kind = Error::Kind::InvalidInput) const;
  [[noreturn]] void unsupported(const std::string& what) const { fail(what, Error::Kind::Unsupported); }

 private:
  std::string child_where(std::string_view key) const;
  void expect(bool ok, const char* expected) const;

  const nlohmann::json* value_;
  std::string where_;
  std::shared_ptr<const std::string> file_;
  int depth_;
};

}  // namespace trimvl::tok
