#include "tests/support/test_env.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

namespace trimvl::test {

std::filesystem::path env_path(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0')
    throw std::runtime_error(std::string("environment variable ") + variable + " is not set (run the test through ctest)");
  return value;
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("trimvl-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

CliOutcome run_trimvl(const std::string& args, const TempDir& tmp) {
  const std::filesystem::path binary = env_path("TRIMVL_BINARY_DIR") / "app" / "trimvl";
  const std::string command =
      fmt::format("'{}' {} >'{}' 2>'{}'", binary.string(), args, (tmp / "out").string(), (tmp / "err").string());
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(tmp / "out"), read_file(tmp / "err")};
}

}  // namespace trimvl::test
