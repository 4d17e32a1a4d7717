#include "app/pipeline/media_cache.h"

#include <iterator>
#include <utility>

namespace trimvl::app {

std::optional<MediaSet> MediaCache::find(const std::string& key) {
  const auto found = index_.find(key);
  if (found == index_.end()) return std::nullopt;
  entries_.splice(entries_.begin(), entries_, found->second);
  return found->second->set;
}

void MediaCache::insert(const std::string& key, MediaSet set) {
  if (const auto found = index_.find(key); found != index_.end()) erase(found->second);
  const int64_t size = set.bytes();
  if (!enabled() || size > capacity_) return;
  while (bytes_ + size > capacity_) erase(std::prev(entries_.end()));
  entries_.push_front({key, std::move(set), size});
  index_.emplace(key, entries_.begin());
  bytes_ += size;
}

void MediaCache::erase(std::list<Entry>::iterator it) {
  bytes_ -= it->bytes;
  index_.erase(it->key);
  entries_.erase(it);
}

}  // namespace trimvl::app
