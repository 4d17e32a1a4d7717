#include "app/eval/run_directory.h"

#include <cerrno>
#include <ctime>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include "kernels/runtime/atomic_file.h"
#include "kernels/runtime/config_json.h"
#include "kernels/runtime/error.h"

namespace trimvl::app::eval {
namespace {

constexpr std::string_view kManifestFormat = "trimvl-eval-runs";
constexpr int kManifestVersion = 1;

std::string format_date(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm local{};
  localtime_r(&seconds, &local);
  char out[32];
  std::strftime(out, sizeof out, "%Y%m%d_%H%M%S", &local);
  return out;
}

// A name for a file: anything but [A-Za-z0-9._@+-] becomes '_'.
std::string file_part(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '_' || c == '@' || c == '+' || c == '-';
    if (!plain) c = '_';
  }
  return out;
}

// flock on <dir>/.run.lock for the lifetime of the object (the manifest itself is replaced by
// rename, so a lock on it would lock a file that stops being the manifest).
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::filesystem::path& dir) {
    const std::filesystem::path path = dir / ".run.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) fail(path, "cannot create the run lock");
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) fail(path, "cannot lock the run directory");
  }
  ~DirectoryLock() { ::close(fd_); }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  [[noreturn]] void fail(const std::filesystem::path& path, std::string_view what) {
    const int error = errno;
    if (fd_ >= 0) ::close(fd_);
    throw Error(fmt::format("{}: {}", what, std::generic_category().message(error))).file(path.string());
  }
  int fd_ = -1;
};

bool is_date(const nlohmann::json& v) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  if (s.size() != 15 || s[8] != '_') return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (i != 8 && (s[i] < '0' || s[i] > '9')) return false;
  return true;
}

nlohmann::json read_manifest(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    return {{"format", kManifestFormat}, {"version", kManifestVersion}, {"runs", nlohmann::json::array()}};
  nlohmann::json manifest = read_json_file(path);
  auto refuse = [&](std::string_view why) {
    return Error(fmt::format("not a trimvl eval run manifest ({}); move it away or choose another --output-dir", why))
        .file(path.string());
  };
  if (!manifest.is_object() || !manifest.contains("format") || manifest["format"] != std::string(kManifestFormat))
    throw refuse("no \"format\": \"trimvl-eval-runs\"");
  if (!manifest.contains("version") || manifest["version"] != kManifestVersion)
    throw refuse(fmt::format("version {}, this trimvl reads {}", manifest.value("version", nlohmann::json()).dump(),
                             kManifestVersion));
  if (!manifest.contains("runs") || !manifest["runs"].is_array()) throw refuse("no \"runs\" list");
  for (size_t i = 0; i < manifest["runs"].size(); ++i) {
    const nlohmann::json& run = manifest["runs"][i];
    if (!run.is_object() || !run.contains("date") || !is_date(run["date"]) || !run.contains("config"))
      throw refuse(fmt::format("runs[{}] needs a \"date\" like 20261123_141502 and a \"config\"", i));
  }
  return manifest;
}

bool date_taken(const std::filesystem::path& dir, const nlohmann::json& runs, const std::string& date) {
  for (const nlohmann::json& run : runs)
    if (run["date"] == date) return true;
  const std::string prefix = date + "_";
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().starts_with(prefix)) return true;
  if (ec) throw Error(fmt::format("cannot list the results directory: {}", ec.message())).file(dir.string());
  return false;
}

}  // namespace

std::filesystem::path RunDirectory::results() const { return dir / (date + "_results.json"); }
std::filesystem::path RunDirectory::summary_csv() const { return dir / (date + "_summary.csv"); }

std::filesystem::path RunDirectory::samples(std::string_view key) const {
  // lmms-eval tools find a result's samples as <date>_samples_<key>.jsonl, so the key is not
  // rewritten; task_result.h's keys never hold a '/'.
  TRIMVL_CHECK_ARG(!key.empty() && key.find('/') == std::string_view::npos && key.find('\0') == std::string_view::npos,
                   "result key '{}' cannot name a samples file", key);
  return dir / fmt::format("{}_samples_{}.jsonl", date, key);
}

std::filesystem::path RunDirectory::accuracy_plot(std::string_view task, std::string_view metric) const {
  return dir / fmt::format("{}_accuracy_{}_{}.png", date, file_part(task), file_part(metric));
}

std::filesystem::path RunDirectory::kv_memory_plot(std::string_view task) const {
  return dir / fmt::format("{}_kv_memory_{}.png", date, file_part(task));
}

std::filesystem::path RunDirectory::trace(std::string_view sample_id, std::string_view config_label) const {
  return dir / "traces" / fmt::format("{}_{}_{}.trace", date, file_part(sample_id), file_part(config_label));
}

std::string fnv1a_hex(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return fmt::format("{:016x}", h);
}

std::string sanitise_model_name(std::string_view model_name) {
  std::string_view name = model_name;
  while (name.size() > 1 && name.back() == '/') name.remove_suffix(1);
  // The last two parts, as lmms-eval keeps "org/model" of a hub id.
  const size_t last = name.rfind('/');
  if (last != std::string_view::npos && last > 0) {
    const size_t before = name.rfind('/', last - 1);
    if (before != std::string_view::npos) name.remove_prefix(before + 1);
  }
  constexpr std::string_view kReplaced = "\"<>:/|\\?*[]";
  std::string out;
  for (size_t i = 0; i < name.size();) {
    if (kReplaced.find(name[i]) == std::string_view::npos) {
      out += name[i++];
      continue;
    }
    while (i < name.size() && kReplaced.find(name[i]) != std::string_view::npos) ++i;
    out += "__";
  }
  TRIMVL_CHECK_ARG(!out.empty() && out != "." && out != "..",
                   "model name '{}' gives no usable directory name for the results", model_name);
  return out;
}

RunDirectory open_run(const std::filesystem::path& output_dir, std::string_view model_name,
                      const nlohmann::json& resolved_config, bool resume, std::chrono::system_clock::time_point now) {
  RunDirectory run;
  run.model_name_sanitised = sanitise_model_name(model_name);
  run.dir = output_dir / run.model_name_sanitised;
  std::error_code ec;
  std::filesystem::create_directories(run.dir, ec);
  if (ec) throw Error(fmt::format("cannot create the results directory: {}", ec.message())).file(run.dir.string());
  run.config_hash = fnv1a_hex(resolved_config.dump());  // shown; runs are matched on the config itself

  const DirectoryLock lock(run.dir);
  nlohmann::json manifest = read_manifest(run.manifest());
  nlohmann::json& runs = manifest["runs"];
  if (resume)
    for (auto it = runs.rbegin(); it != runs.rend(); ++it)  // the newest run of this config
      if ((*it)["config"] == resolved_config) {
        run.date = (*it)["date"].get<std::string>();
        run.resumed = true;
        return run;
      }

  run.date = format_date(now);
  while (date_taken(run.dir, runs, run.date)) {
    now += std::chrono::seconds(1);
    run.date = format_date(now);
  }
  runs.push_back({{"date", run.date},
                  {"config_hash", run.config_hash},
                  {"model", std::string(model_name)},
                  {"config", resolved_config}});
  write_file_atomically(run.manifest(), manifest.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  return run;
}

}  // namespace trimvl::app::eval
