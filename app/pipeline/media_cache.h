#pragma once
// Encoded media kept across requests, so a sample asked under several KV policies (trimvl eval's
// sweeps), or an image asked about again after reset(), is decoded, processed and encoded once.
//
// An entry is one encoder call's output — the images (or the videos) of one request — under a key
// naming its inputs in order (Pipeline builds it from each file's identity, media_file_identity,
// and the per-video sampling options; the processor configs, dtype and device are fixed per
// engine). Whole calls rather than single items because the encoder batches a request's items as
// HF does, and a batch's rounding need not equal an item's alone: reusing exactly what the same
// call produced keeps a hit bit-identical to a miss.
//
// Bounded by the bytes of the encodings (on the model's device), least recently used out first.
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "app/pipeline/encoded_media.h"

namespace trimvl::app {

class MediaCache {
 public:
  // capacity_bytes ≤ 0 caches nothing.
  explicit MediaCache(int64_t capacity_bytes) : capacity_(capacity_bytes) {}

  bool enabled() const { return capacity_ > 0; }

  // The set stored under `key` (it becomes the most recently used), or nothing. The copy shares
  // the stored tensors; nothing downstream writes to them.
  std::optional<MediaSet> find(const std::string& key);

  // Stores `set` under `key`, replacing what was there, then drops the least recently used entries
  // until the total fits. A set larger than the whole capacity is not stored.
  void insert(const std::string& key, MediaSet set);

  int64_t bytes() const { return bytes_; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string key;
    MediaSet set;
    int64_t bytes = 0;
  };
  void erase(std::list<Entry>::iterator it);

  int64_t capacity_;
  int64_t bytes_ = 0;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace trimvl::app
