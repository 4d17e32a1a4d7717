#pragma once
// Running another program (the HF baseline script of `trimvl bench`) and waiting for it. The child
// inherits stdin, stderr and the environment: its diagnostics reach the user as they come, and
// results travel through files the caller names on its command line.
#include <string>
#include <vector>

namespace trimvl::app {

struct ProcessStatus {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it (exit_code stays -1)

  bool ok() const { return exit_code == 0; }
  std::string describe() const;  // "exit status 1", "killed by signal 9 (Killed)"
};

// Runs argv[0] (looked up on PATH when it has no '/') with argv and waits for it. With
// `stdout_to_stderr` the child's stdout goes to our stderr, so that our stdout carries only our
// results. Throws Error(NotFound) when it cannot be started (no such program, not executable),
// naming it.
ProcessStatus run_process(const std::vector<std::string>& argv, bool stdout_to_stderr = false);

// argv as one line a shell would split back into the same words (for logs and reports).
std::string shell_quote(const std::vector<std::string>& argv);

}  // namespace trimvl::app
