#include "app/process.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "kernels/runtime/error.h"

extern char** environ;

namespace trimvl::app {

std::string ProcessStatus::describe() const {
  if (signal != 0) return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exit status {}", exit_code);
}

ProcessStatus run_process(const std::vector<std::string>& argv, bool stdout_to_stderr) {
  TRIMVL_CHECK(!argv.empty(), "run_process: no program given");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_to_stderr) posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid = 0;
  // posix_spawnp rather than fork: no copy-on-write of a process that may hold gigabytes mapped.
  const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw Error(fmt::format("cannot run '{}': {}", argv[0], std::strerror(rc)), Error::Kind::NotFound);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    // A signal handler (the CLI's Ctrl-C) may interrupt the wait; the child is still ours to reap.
    if (errno != EINTR)
      throw Error(fmt::format("waiting for '{}': {}", argv[0], std::strerror(errno)), Error::Kind::Internal);
  }
  ProcessStatus result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

std::string shell_quote(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& a : argv) {
    if (!line.empty()) line += ' ';
    // Characters no shell treats specially stay bare; everything else goes in single quotes.
    constexpr std::string_view kPlain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%";
    const bool plain = !a.empty() && a.find_first_not_of(kPlain) == std::string::npos;
    if (plain) {
      line += a;
      continue;
    }
    line += '\'';
    for (const char c : a) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += '\'';
  }
  return line;
}

}  // namespace trimvl::app
