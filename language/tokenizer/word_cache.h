#pragma once
// A bounded, thread-safe memo of word -> ids for the BPE model. Natural text repeats a small set
// of words, so most pieces skip the merge loop. Sharded by hash so concurrent encoders rarely
// contend; a full shard is cleared (cheap, and it adapts to a changing text mix). A cache only:
// results never depend on what it holds.
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace trimvl::tok {

class WordCache {
 public:
  static constexpr std::size_t kMaxWordBytes = 256;  // longer words are rare and not worth keeping

  explicit WordCache(std::size_t capacity = 1 << 16) : shard_capacity_(capacity / kShards + 1) {}

  // Appends the cached ids of `word` to `out` and returns true, or returns false.
  bool lookup(std::string_view word, std::vector<int32_t>& out) const;
  void insert(std::string_view word, const int32_t* ids, std::size_t count) const;

 private:
  static constexpr std::size_t kShards = 16;
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  Shard& shard(std::size_t hash) const { return shards_[hash % kShards]; }

  std::size_t shard_capacity_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace trimvl::tok
