#include "language/tokenizer/word_cache.h"

namespace trimvl::tok {

bool WordCache::lookup(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() > kMaxWordBytes) return false;
  const std::size_t hash = StringHash{}(word);
  Shard& s = shard(hash);
  std::lock_guard lock(s.mutex);
  const auto it = s.map.find(word);
  if (it == s.map.end()) return false;
  out.insert(out.end(), it->second.begin(), it->second.end());
  return true;
}

void WordCache::insert(std::string_view word, const int32_t* ids, std::size_t count) const {
  if (word.size() > kMaxWordBytes) return;
  const std::size_t hash = StringHash{}(word);
  Shard& s = shard(hash);
  std::lock_guard lock(s.mutex);
  if (s.map.size() >= shard_capacity_) s.map.clear();
  s.map.try_emplace(std::string(word), ids, ids + count);
}

}  // namespace trimvl::tok
