#pragma once
// A bounded, thread-safe memo of word -> ids for the BPE model. Natural text repeats a small set
// of words, so most pieces skip the merge loop. Laid out like a hardware cache: a fixed array
// of slots indexed by the word's hash (a colliding word replaces the previous one), split into
// independently locked shards so concurrent encoders rarely contend. A cache only: results
// never depend on what it holds.
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace trimvl::tok {

class WordCache {
 public:
  static constexpr std::size_t kMaxWordBytes = 256;  // longer words are rare and not worth keeping

  WordCache();

  // Appends the cached ids of `word` to `out` and returns true, or returns false.
  bool lookup(std::string_view word, std::vector<int32_t>& out) const;
  void insert(std::string_view word, const int32_t* ids, std::size_t count) const;

 private:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kSlotsPerShard = 4096;
  struct Slot {
    std::size_t hash = 0;
    std::string word;  // empty: unused (the model never sees empty words)
    std::vector<int32_t> ids;
  };
  struct Shard {
    std::mutex mutex;
    std::vector<Slot> slots;
  };
  // The low bits pick the slot, the high bits the shard, so the two choices are independent.
  Shard& shard_of(std::size_t hash) const { return shards_[(hash >> 56) % kShards]; }
  static std::size_t slot_of(std::size_t hash) { return hash & (kSlotsPerShard - 1); }

  mutable std::array<Shard, kShards> shards_;
};

}  // namespace trimvl::tok
