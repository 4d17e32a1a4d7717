#include "language/tokenizer/token_matcher.h"

#include <algorithm>

namespace trimvl::tok {

int64_t TokenMatcher::child(uint32_t node, uint8_t byte) const {
  const auto& edges = nodes_[node].edges;
  const auto it = std::lower_bound(edges.begin(), edges.end(), std::pair<uint8_t, uint32_t>{byte, 0},
                                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return it != edges.end() && it->first == byte ? static_cast<int64_t>(it->second) : -1;
}

void TokenMatcher::add(std::string_view pattern, uint32_t value) {
  uint32_t node = 0;
  for (const char c : pattern) {
    const auto byte = static_cast<uint8_t>(c);
    const int64_t next = child(node, byte);
    if (next >= 0) {
      node = static_cast<uint32_t>(next);
      continue;
    }
    const auto created = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();
    auto& edges = nodes_[node].edges;
    edges.insert(std::upper_bound(edges.begin(), edges.end(), std::pair<uint8_t, uint32_t>{byte, 0},
                                  [](const auto& a, const auto& b) { return a.first < b.first; }),
                 {byte, created});
    node = created;
  }
  if (nodes_[node].value < 0) nodes_[node].value = value;
  first_byte_[static_cast<uint8_t>(pattern.front())] = true;
}

std::optional<TokenMatcher::Match> TokenMatcher::find(std::string_view text, std::size_t from) const {
  if (empty()) return std::nullopt;
  for (std::size_t start = from; start < text.size(); ++start) {
    if (!first_byte_[static_cast<uint8_t>(text[start])]) continue;
    uint32_t node = 0;
    std::optional<Match> best;
    for (std::size_t i = start; i < text.size(); ++i) {
      const int64_t next = child(node, static_cast<uint8_t>(text[i]));
      if (next < 0) break;
      node = static_cast<uint32_t>(next);
      if (nodes_[node].value >= 0) best = Match{start, i + 1, static_cast<uint32_t>(nodes_[node].value)};
    }
    if (best) return best;
  }
  return std::nullopt;
}

}  // namespace trimvl::tok
