#pragma once
// The crash-safe samples file of one task (<date>_samples_<key>.jsonl): one JSON object per line,
// appended as each sample finishes, so that `trimvl eval` killed at any moment (SIGKILL included)
// and run again with the same command skips what is done and redoes nothing twice.
//
// Every record carries its caller-chosen key (e.g. the doc_id) in the field "key". Opening an
// existing file loads its complete lines; what a kill can leave behind — a last line without its
// '\n', or a last line that does not parse — is cut off (ftruncate, with a warning). A record whose
// key an earlier line already holds is ignored with a warning (the first wins); append() never
// writes one, so only a hand-edited file has them. Anything else that is not one JSON object with a
// string "key" per line is an InvalidInput error naming the file and line: it is not ours to drop.
//
// While open, the journal holds an exclusive flock on the file: a second `trimvl eval` writing the
// same run fails at open instead of interleaving duplicates. The lock dies with the process.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

namespace trimvl::app::eval {

class SampleJournal {
 public:
  // Creates the file (and its directory) when missing. Throws InvalidInput as described above,
  // or when another process holds the file.
  static SampleJournal open(const std::filesystem::path& path);

  SampleJournal(SampleJournal&& other) noexcept;
  SampleJournal& operator=(SampleJournal&& other) noexcept;
  SampleJournal(const SampleJournal&) = delete;
  SampleJournal& operator=(const SampleJournal&) = delete;
  ~SampleJournal();

  bool done(const std::string& key) const { return keys_.contains(key); }
  // Writes `record` (a JSON object) with "key": key as one line and flushes it to disk before
  // returning. Throws Internal for a key already done or a record that is not an object or holds a
  // different "key"; InvalidInput (naming the file) when the write fails, leaving the file as before.
  void append(const std::string& key, nlohmann::json record);

  // Every record in file order, each with its "key".
  const std::vector<nlohmann::json>& records() const { return records_; }
  size_t size() const { return records_.size(); }
  const std::filesystem::path& path() const { return path_; }
  // Bytes of a torn tail cut off at open (0 for a clean file), and duplicate lines ignored.
  int64_t truncated_bytes() const { return truncated_bytes_; }
  int64_t duplicates() const { return duplicates_; }

 private:
  SampleJournal(std::filesystem::path path, int fd);
  void load();

  std::filesystem::path path_;
  int fd_ = -1;
  int64_t size_ = 0;  // bytes of complete lines: the file's length between appends
  std::vector<nlohmann::json> records_;
  std::unordered_set<std::string> keys_;
  int64_t truncated_bytes_ = 0, duplicates_ = 0;
};

}  // namespace trimvl::app::eval
