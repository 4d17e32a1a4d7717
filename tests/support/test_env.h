#pragma once
// Where tests find their inputs. Every path comes from the environment CTest sets (see
// tests/CMakeLists.txt); a missing variable fails the test with the variable's name.
#include <filesystem>
#include <string>

namespace trimvl::test {

std::filesystem::path env_path(const char* variable);
inline std::filesystem::path shared_dir() { return env_path("TRIMVL_SHARED_DIR"); }
inline std::filesystem::path test_data_dir() { return env_path("TRIMVL_TEST_DATA"); }
inline std::filesystem::path qwen3_tokenizer_dir() { return shared_dir() / "assets" / "qwen3-tokenizer"; }
inline std::filesystem::path llama2_tokenizer_dir() { return shared_dir() / "assets" / "llama2-tokenizer"; }

// A fresh, empty directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Writes bytes to a file (creating parents); for building bad-input cases in tests.
void write_file(const std::filesystem::path& path, const std::string& bytes);
std::string read_file(const std::filesystem::path& path);

// What a run of the built `trimvl` gave: its exit code (-1 when it did not exit) and its output.
struct CliOutcome {
  int code = -1;
  std::string out, err;
};
// Runs `trimvl ARGS` (ARGS as a shell would split them), stdout and stderr captured through files
// in `tmp`.
CliOutcome run_trimvl(const std::string& args, const TempDir& tmp);

}  // namespace trimvl::test

// GPU tests skip cleanly where no CUDA device exists (CI); they run on the GPU machine.
#define TRIMVL_REQUIRE_CUDA()                                         \
  do {                                                                \
    if (!::trimvl::cuda_available()) GTEST_SKIP() << "no CUDA device"; \
  } while (0)
