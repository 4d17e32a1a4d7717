#include "app/eval/sample_journal.h"

#include <cerrno>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace trimvl::app::eval {
namespace {

std::string errno_text(int error) { return std::generic_category().message(error); }

[[noreturn]] void fail(const std::filesystem::path& path, std::string_view what, int error) {
  throw Error(fmt::format("{}: {}", what, errno_text(error))).file(path.string());
}

std::string read_all(int fd, const std::filesystem::path& path) {
  std::string bytes;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(bytes.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, "cannot read the samples file", errno);
    if (n == 0) return bytes;
    bytes.append(buffer, static_cast<size_t>(n));
  }
}

// Makes the file's directory entry durable (a new file otherwise may vanish on power loss even
// after its data was synced). Best effort: some file systems refuse fsync on directories.
void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

bool blank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace

SampleJournal::SampleJournal(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}

SampleJournal::SampleJournal(SampleJournal&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      records_(std::move(other.records_)),
      keys_(std::move(other.keys_)),
      truncated_bytes_(other.truncated_bytes_),
      duplicates_(other.duplicates_) {}

SampleJournal& SampleJournal::operator=(SampleJournal&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    records_ = std::move(other.records_);
    keys_ = std::move(other.keys_);
    truncated_bytes_ = other.truncated_bytes_;
    duplicates_ = other.duplicates_;
  }
  return *this;
}

SampleJournal::~SampleJournal() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

SampleJournal SampleJournal::open(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec)
    throw Error(fmt::format("cannot create the directory of the samples file: {}", ec.message())).file(path.string());
  // O_APPEND: every write lands at the end of the file as it is at that moment, whatever offset
  // this descriptor last saw, so appends can never leave a gap or overwrite a line.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) fail(path, "cannot open the samples file", errno);
  SampleJournal journal(path, fd);  // closes fd if anything below throws
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      throw Error(
          "the samples file is being written by another process (is another `trimvl eval` running the same "
          "command?)")
          .file(path.string());
    fail(path, "cannot lock the samples file", errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(path, "cannot stat the samples file", errno);
  if (!S_ISREG(st.st_mode)) throw Error("the samples file is not a regular file").file(path.string());
  sync_directory(path.parent_path());
  journal.load();
  return journal;
}

void SampleJournal::load() {
  const std::string bytes = read_all(fd_, path_);
  struct Line {
    size_t begin, end;  // [begin, end) without the '\n'
  };
  std::vector<Line> lines;
  size_t complete = 0;  // bytes up to and including the last '\n'
  for (size_t begin = 0;;) {
    const size_t nl = bytes.find('\n', begin);
    if (nl == std::string::npos) break;
    lines.push_back({begin, nl});
    begin = complete = nl + 1;
  }

  // A kill mid-append leaves at most a prefix of the last line: text after the last '\n'. A last
  // complete line that does not parse no kill can leave, but a crash of the machine can (a file
  // system that grew the file before writing its data shows zeros); it is cut too. Anything
  // earlier is not a torn write, and not ours to drop.
  size_t keep = complete;
  std::vector<nlohmann::json> parsed;
  parsed.reserve(lines.size());
  std::vector<size_t> line_numbers;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string_view text(bytes.data() + lines[i].begin, lines[i].end - lines[i].begin);
    if (blank(text)) continue;
    const auto line_number = static_cast<int64_t>(i + 1);
    nlohmann::json record = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded()) {
      if (i + 1 == lines.size()) {
        keep = lines[i].begin;
        break;
      }
      throw Error(
          "this line is not valid JSON, and it is not the last line, so no interrupted write left it: repair "
          "or delete the line, or move the file away to start the task afresh")
          .file(path_.string())
          .line(line_number);
    }
    if (!record.is_object() || !record.contains("key") || !record["key"].is_string())
      throw Error("expected a JSON object with a string \"key\" (a sample record of `trimvl eval`)")
          .file(path_.string())
          .line(line_number);
    parsed.push_back(std::move(record));
    line_numbers.push_back(i + 1);
  }

  if (keep < bytes.size()) {
    if (::ftruncate(fd_, static_cast<off_t>(keep)) != 0) fail(path_, "cannot cut off the torn last line", errno);
    if (::fdatasync(fd_) != 0) fail(path_, "cannot flush the samples file", errno);
    truncated_bytes_ = static_cast<int64_t>(bytes.size() - keep);
    log::warn("{}: cut off a torn last line ({} bytes) that an interrupted run left; its sample runs again",
              path_.string(), truncated_bytes_);
  }
  size_ = static_cast<int64_t>(keep);

  std::unordered_map<std::string, size_t> first_line;
  for (size_t r = 0; r < parsed.size(); ++r) {
    std::string key = parsed[r]["key"].get<std::string>();
    if (const auto it = first_line.find(key); it != first_line.end()) {
      ++duplicates_;
      log::warn("{}: line {} repeats the key '{}' of line {}; keeping line {}", path_.string(), line_numbers[r], key,
                it->second, it->second);
      continue;
    }
    first_line.emplace(key, line_numbers[r]);
    keys_.insert(std::move(key));
    records_.push_back(std::move(parsed[r]));
  }
}

void SampleJournal::append(const std::string& key, nlohmann::json record) {
  TRIMVL_CHECK(fd_ >= 0, "append to a moved-from samples journal");
  TRIMVL_CHECK(record.is_object(), "a sample record must be a JSON object, got {}", record.type_name());
  TRIMVL_CHECK(!record.contains("key") || record["key"] == key, "sample record for key '{}' holds the key {}", key,
               record["key"].dump());
  TRIMVL_CHECK(!done(key), "{}: sample '{}' is already in the file", path_.string(), key);
  record["key"] = key;
  // Invalid UTF-8 (a model's raw bytes) is replaced, not thrown on: the line must be written.
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';  // dump() escapes control characters, so this is the line's only '\n'

  // The whole line goes out in one write(2) on the O_APPEND descriptor: a process killed at any
  // point leaves either nothing of it or a prefix at the very end of the file — never a hole, never
  // a torn line followed by a complete one — and open() cuts such a prefix. Only a full disk or a
  // signal mid-copy returns short; the rest is written after it, and a failure removes the prefix.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0)
        log::warn("{}: cannot remove a partly written line: {}", path_.string(), errno_text(errno));
      fail(path_, fmt::format("cannot append sample '{}'", key), error);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  // On disk before the sample counts as done: a SIGKILL alone would not lose the page cache, but a
  // crash of the machine would, and a file system may then show the line's space as zeros. One
  // fdatasync per sample is nothing beside a model's generation.
  if (::fdatasync(fd_) != 0) fail(path_, fmt::format("cannot flush sample '{}' to disk", key), errno);
  size_ += static_cast<int64_t>(line.size());
  keys_.insert(key);
  records_.push_back(std::move(record));
}

}  // namespace trimvl::app::eval
