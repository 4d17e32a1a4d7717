// app/process.h: a child's exit status or signal comes back as it happened, a program that cannot
// start is one NotFound error naming it, and quoted command lines split back into the same words.
#include "app/process.h"

#include <gtest/gtest.h>

#include "kernels/runtime/error.h"

namespace trimvl::app {
namespace {

TEST(Process, ReportsTheExitStatusOrTheSignal) {
  EXPECT_TRUE(run_process({"true"}).ok());  // looked up on PATH
  const ProcessStatus failed = run_process({"/bin/sh", "-c", "exit 3"});
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(failed.exit_code, 3);
  EXPECT_EQ(failed.describe(), "exit status 3");
  const ProcessStatus killed = run_process({"/bin/sh", "-c", "kill -9 $$"});
  EXPECT_FALSE(killed.ok());
  EXPECT_EQ(killed.signal, 9);
  EXPECT_EQ(killed.describe().rfind("killed by signal 9", 0), 0u) << killed.describe();
}

TEST(Process, AProgramThatCannotStartIsOneErrorNamingIt) {
  try {
    run_process({"/no/such/program", "--flag"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::NotFound);
    EXPECT_NE(std::string(e.what()).find("cannot run '/no/such/program'"), std::string::npos) << e.what();
  }
}

TEST(Process, QuotedCommandLinesSplitBackIntoTheSameWords) {
  const std::vector<std::string> words = {"plain", "two words", "it's", "", "$HOME", "a\"b", "--x=1,2"};
  EXPECT_EQ(shell_quote({"python3", "/a/b.py", "--contexts", "16,32"}), "python3 /a/b.py --contexts 16,32");
  // The shell gives back each word between brackets exactly when the quoting is right.
  std::string expected;
  for (const std::string& w : words) expected += "[" + w + "]";
  const std::string script = "for a in \"$@\"; do printf '[%s]' \"$a\"; done | grep -qxF -- \"$0\"";
  std::vector<std::string> argv = {"/bin/sh", "-c", script, expected};
  argv.insert(argv.end(), words.begin(), words.end());
  EXPECT_TRUE(run_process({"/bin/sh", "-c", "eval \"$0\"", shell_quote(argv)}).ok()) << shell_quote(argv);
  // And the check fails for words that differ.
  argv.back() = "--x=1,3";
  EXPECT_FALSE(run_process({"/bin/sh", "-c", "eval \"$0\"", shell_quote(argv)}).ok());
}

}  // namespace
}  // namespace trimvl::app
