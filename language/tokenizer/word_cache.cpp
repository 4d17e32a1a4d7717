#include "language/tokenizer/word_cache.h"

#include <functional>

namespace trimvl::tok {

WordCache::WordCache() {
  for (Shard& shard : shards_) shard.slots.resize(kSlotsPerShard);
}

bool WordCache::lookup(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() > kMaxWordBytes) return false;
  const std::size_t hash = std::hash<std::string_view>{}(word);
  Shard& shard = shard_of(hash);
  std::lock_guard lock(shard.mutex);
  const Slot& slot = shard.slots[slot_of(hash)];
  if (slot.hash != hash || slot.word != word) return false;
  out.insert(out.end(), slot.ids.begin(), slot.ids.end());
  return true;
}

void WordCache::insert(std::string_view word, const int32_t* ids, std::size_t count) const {
  if (word.size() > kMaxWordBytes || word.empty()) return;
  const std::size_t hash = std::hash<std::string_view>{}(word);
  Shard& shard = shard_of(hash);
  std::lock_guard lock(shard.mutex);
  Slot& slot = shard.slots[slot_of(hash)];
  slot.hash = hash;
  slot.word.assign(word);
  slot.ids.assign(ids, ids + count);
}

}  // namespace trimvl::tok
