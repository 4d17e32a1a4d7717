#pragma once
// The BPE merge table: (left id, right id) -> (rank, merged id). Looked up several times per
// merge step, so it is an open-addressing table (linear probing, at most half full) rather than
// a node-based map: a lookup is one hash and, almost always, one cache line.
#include <cstdint>
#include <optional>
#include <vector>

namespace trimvl::tok {

class MergeTable {
 public:
  struct Merge {
    uint32_t rank;
    int32_t id;
  };

  explicit MergeTable(std::size_t expected = 0);

  // Inserts or overwrites (a repeated pair takes its last rank, as HF's map construction does).
  void set(int32_t left, int32_t right, Merge merge);

  const Merge* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = pack(left, right);
    for (std::size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return &slot.merge;
      if (slot.key == kEmpty) return nullptr;
    }
  }
  std::size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are non-negative, so no pair packs to this
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{};
  };
  static uint64_t pack(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  static std::size_t hash(uint64_t key) {  // splitmix64's finalizer
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebULL;
    key ^= key >> 31;
    return static_cast<std::size_t>(key);
  }
  void grow();

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace trimvl::tok
