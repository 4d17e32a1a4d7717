#include "language/tokenizer/config_node.h"

#include "language/tokenizer/utf8.h"

namespace trimvl::tok {

std::string ConfigNode::child_where(std::string_view key) const {
  return where_.empty() ? std::string(key) : where_ + "." + std::string(key);
}

void ConfigNode::fail(const std::string& message, Error::Kind kind) const {
  throw Error(where_.empty() ? message : where_ + ": " + message, kind).file(*file_);
}

void ConfigNode::expect(bool ok, const char* expected) const {
  if (!ok) fail(fmt::format("expected {}, got {}", expected, value_->type_name()));
}

bool ConfigNode::has(std::string_view key) const {
  expect(value_->is_object(), "an object");
  const auto it = value_->find(key);
  return it != value_->end() && !it->is_null();
}

ConfigNode ConfigNode::at(std::string_view key) const {
  if (!has(key)) fail(fmt::format("missing required key '{}'", key));
  return ConfigNode(*value_->find(key), child_where(key), file_, depth_ + 1);
}

std::optional<ConfigNode> ConfigNode::find(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return ConfigNode(*value_->find(key), child_where(key), file_, depth_ + 1);
}

std::vector<ConfigNode> ConfigNode::elements() const {
  expect(value_->is_array(), "an array");
  std::vector<ConfigNode> out;
  out.reserve(value_->size());
  for (std::size_t i = 0; i < value_->size(); ++i)
    out.emplace_back((*value_)[i], fmt::format("{}[{}]", where_, i), file_, depth_ + 1);
  return out;
}

std::vector<std::pair<std::string, ConfigNode>> ConfigNode::members() const {
  expect(value_->is_object(), "an object");
  std::vector<std::pair<std::string, ConfigNode>> out;
  out.reserve(value_->size());
  for (const auto& [key, value] : value_->items())
    out.emplace_back(key, ConfigNode(value, child_where(key), file_, depth_ + 1));
  return out;
}

std::string ConfigNode::type() const {
  if (depth_ > kMaxDepth) fail(fmt::format("components nested more than {} levels deep", kMaxDepth));
  return string("type");
}

std::string ConfigNode::as_string() const {
  expect(value_->is_string(), "a string");
  return value_->get<std::string>();
}

std::optional<std::string> ConfigNode::optional_string(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return string(key);
}

bool ConfigNode::boolean(std::string_view key, bool fallback) const {
  if (!has(key)) return fallback;
  const ConfigNode node = at(key);
  node.expect(node.json().is_boolean(), "a boolean");
  return node.json().get<bool>();
}

int64_t ConfigNode::as_integer() const {
  expect(value_->is_number_integer(), "an integer");
  return value_->get<int64_t>();
}

int64_t ConfigNode::integer(std::string_view key) const { return at(key).as_integer(); }

char32_t ConfigNode::character(std::string_view key) const {
  const ConfigNode node = at(key);
  const std::string s = node.as_string();
  std::size_t i = 0;
  const char32_t cp = s.empty() ? 0 : utf8::next(s, i);
  if (s.empty() || i != s.size()) node.fail(fmt::format("expected a single character, got \"{}\"", s));
  return cp;
}

}  // namespace trimvl::tok
