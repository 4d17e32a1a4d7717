#pragma once
// Finds added-token strings in text: leftmost match first and, among matches starting there, the
// longest (aho-corasick's LeftmostLongest, which HF uses). A byte trie with a first-byte filter:
// added vocabularies are small and most text positions are rejected by one table lookup.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace trimvl::tok {

class TokenMatcher {
 public:
  struct Match {
    std::size_t start, end;
    uint32_t pattern;  // the value given to add()
  };

  // `pattern` must be non-empty; adding the same string twice keeps the first value.
  void add(std::string_view pattern, uint32_t value);
  bool empty() const { return nodes_.size() <= 1; }

  // The leftmost-longest match starting at or after `from`.
  std::optional<Match> find(std::string_view text, std::size_t from) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, uint32_t>> edges;  // sorted by byte
    int64_t value = -1;                                 // >= 0: a pattern ends here
  };
  int64_t child(uint32_t node, uint8_t byte) const;

  std::vector<Node> nodes_{1};
  std::array<bool, 256> first_byte_{};
};

}  // namespace trimvl::tok
