// app/eval/sample_journal.h: what reopening finds after a torn write, a finished run, a hand-edited
// file; that duplicates cannot be written; that a failed write leaves the file as it was; and,
// by killing writer processes with SIGKILL at random moments, that a resumed journal always holds
// keys 0..k exactly once, in order, every line whole.
#include "app/eval/sample_journal.h"

#include <csignal>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/runtime/atomic_file.h"
#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"

namespace trimvl::app::eval {
namespace {

using nlohmann::json;

std::vector<std::string> split_lines(const std::string& bytes) {
  std::vector<std::string> lines;
  size_t begin = 0;
  for (size_t nl; (nl = bytes.find('\n', begin)) != std::string::npos; begin = nl + 1)
    lines.push_back(bytes.substr(begin, nl - begin));
  if (begin < bytes.size()) lines.push_back(bytes.substr(begin));  // a tail without '\n'
  return lines;
}

std::string keys_of(const SampleJournal& journal) {
  std::string keys;
  for (const json& r : journal.records()) keys += r.at("key").get<std::string>() + " ";
  return keys;
}

// The message of the InvalidInput error `f` throws ("" when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput) << e.what();
    return e.what();
  }
  return "";
}

TEST(SampleJournal, WritesOneLinePerRecordAndLoadsThemBack) {
  test::TempDir tmp;
  const auto path = tmp / "run/x_samples_t@full.jsonl";  // the directory is created
  {
    SampleJournal j = SampleJournal::open(path);
    EXPECT_EQ(j.size(), 0u);
    j.append("0", {{"doc_id", 0}, {"resps", {"line\nbreak"}}});
    j.append("1", {{"doc_id", 1}, {"filtered_resps", "caf\xc3\xa9"}});
    j.append("2", {{"doc_id", 2}, {"key", "2"}});  // a record may carry its own key already
    EXPECT_TRUE(j.done("1"));
    EXPECT_FALSE(j.done("3"));
  }
  // Three lines, each a whole JSON object ending in '\n'; the newline inside a string is escaped.
  const std::string bytes = test::read_file(path);
  ASSERT_EQ(bytes.back(), '\n');
  const auto lines = split_lines(bytes);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(json::parse(lines[0]), json::parse(R"({"doc_id":0,"resps":["line\nbreak"],"key":"0"})"));
  EXPECT_EQ(json::parse(lines[1]).at("filtered_resps"), "caf\xc3\xa9");

  const SampleJournal again = SampleJournal::open(path);
  EXPECT_EQ(keys_of(again), "0 1 2 ");
  EXPECT_EQ(again.records()[1].at("doc_id"), 1);
  EXPECT_EQ(again.truncated_bytes(), 0);
  EXPECT_EQ(test::read_file(path), bytes) << "opening a clean file changes nothing";
}

TEST(SampleJournal, ReopeningAfterACompleteRunFindsEverythingDone) {
  test::TempDir tmp;
  const auto path = tmp / "s.jsonl";
  {
    SampleJournal j = SampleJournal::open(path);
    for (int k = 0; k < 5; ++k) j.append(std::to_string(k), {{"doc_id", k}});
  }
  const SampleJournal j = SampleJournal::open(path);
  EXPECT_EQ(j.size(), 5u);
  for (int k = 0; k < 5; ++k) EXPECT_TRUE(j.done(std::to_string(k))) << k;
  EXPECT_EQ(j.truncated_bytes(), 0);
  EXPECT_EQ(j.duplicates(), 0);
}

TEST(SampleJournal, ATornLastLineIsCutOffAndItsSampleRunsAgain) {
  test::TempDir tmp;
  const auto path = tmp / "s.jsonl";
  const std::string whole = "{\"key\":\"0\",\"doc_id\":0}\n{\"key\":\"1\",\"doc_id\":1}\n";
  const std::string half = "{\"key\":\"2\",\"doc_i";  // a write killed halfway
  test::write_file(path, whole + half);
  {
    SampleJournal j = SampleJournal::open(path);
    EXPECT_EQ(keys_of(j), "0 1 ");
    EXPECT_FALSE(j.done("2"));
    EXPECT_EQ(j.truncated_bytes(), static_cast<int64_t>(half.size()));
    EXPECT_EQ(test::read_file(path), whole) << "the torn tail is gone from the file, not just ignored";
    j.append("2", {{"doc_id", 2}});
  }
  const auto lines = split_lines(test::read_file(path));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(json::parse(lines[2]).at("key"), "2") << "the new line starts on a line of its own";
}

TEST(SampleJournal, ALastLineThatIsWholeButUnparsableIsCutToo) {
  // A whole line with nothing after it, but not JSON: only a crash can leave it (zeros where the
  // data was), and it stands for a sample not written.
  test::TempDir tmp;
  const auto path = tmp / "s.jsonl";
  const std::string good = "{\"key\":\"a\"}\n";
  test::write_file(path, good + std::string(7, '\0') + "\n");
  const SampleJournal j = SampleJournal::open(path);
  EXPECT_EQ(keys_of(j), "a ");
  EXPECT_EQ(j.truncated_bytes(), 8);
  EXPECT_EQ(test::read_file(path), good);
}

TEST(SampleJournal, AppendRefusesAKeyAlreadyDoneAlsoAfterReopening) {
  test::TempDir tmp;
  const auto path = tmp / "s.jsonl";
  {
    SampleJournal j = SampleJournal::open(path);
    for (int k = 0; k < 3; ++k) j.append(std::to_string(k), {{"doc_id", k}});
    EXPECT_THROW(j.append("1", {{"doc_id", 1}}), Error);
  }
  SampleJournal j = SampleJournal::open(path);
  try {
    j.append("1", {{"doc_id", 1}});
    FAIL() << "a second line for key 1 was written";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::Internal);
  }
  j.append("3", {{"doc_id", 3}});
  EXPECT_THROW(j.append("4", json::array({1, 2})), Error) << "a record must be an object";
  EXPECT_THROW(j.append("4", {{"key", "5"}}), Error) << "a record's own key must be the key";

  std::vector<std::string> keys;
  for (const std::string& line : split_lines(test::read_file(path))) keys.push_back(json::parse(line).at("key"));
  EXPECT_EQ(keys, (std::vector<std::string>{"0", "1", "2", "3"}));
}

TEST(SampleJournal, DuplicateLinesOfAHandEditedFileKeepTheFirst) {
  test::TempDir tmp;
  const auto path = tmp / "s.jsonl";
  test::write_file(path, "{\"key\":\"a\",\"v\":1}\n{\"key\":\"b\",\"v\":2}\n\n{\"key\":\"a\",\"v\":3}\n");
  const SampleJournal j = SampleJournal::open(path);
  EXPECT_EQ(keys_of(j), "a b ");
  EXPECT_EQ(j.records()[0].at("v"), 1);
  EXPECT_EQ(j.duplicates(), 1);
}

TEST(SampleJournal, ABrokenLineBeforeTheEndIsAnErrorNamingFileAndLine) {
  test::TempDir tmp;
  const auto path = tmp / "s.jsonl";
  test::write_file(path, "{\"key\":\"a\"}\n{\"key\":\"b\"\n{\"key\":\"c\"}\n");
  std::string message = error_of([&] { SampleJournal::open(path); });
  EXPECT_NE(message.find(path.string() + ": line 2: "), std::string::npos) << message;
  EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;

  test::write_file(path, "{\"key\":\"a\"}\n[1,2]\n{\"key\":\"c\"}\n");
  message = error_of([&] { SampleJournal::open(path); });
  EXPECT_NE(message.find("line 2: expected a JSON object with a string \"key\""), std::string::npos) << message;

  test::write_file(path, "{\"key\":7}\n");
  message = error_of([&] { SampleJournal::open(path); });
  EXPECT_NE(message.find("line 1: expected a JSON object"), std::string::npos) << message;
  EXPECT_EQ(test::read_file(path), "{\"key\":7}\n") << "a refused file is left as it was";
}

TEST(SampleJournal, ASecondWriterIsRefusedUntilTheFirstCloses) {
  test::TempDir tmp;
  const auto path = tmp / "s.jsonl";
  std::optional<SampleJournal> first = SampleJournal::open(path);
  const std::string message = error_of([&] { SampleJournal::open(path); });
  EXPECT_NE(message.find("being written by another process"), std::string::npos) << message;
  first.reset();
  EXPECT_NO_THROW(SampleJournal::open(path));
}

TEST(SampleJournal, AMovedJournalKeepsWriting) {
  test::TempDir tmp;
  const auto path = tmp / "s.jsonl";
  SampleJournal a = SampleJournal::open(path);
  a.append("0", json::object());
  SampleJournal b = std::move(a);
  b.append("1", json::object());
  EXPECT_EQ(b.size(), 2u);
  EXPECT_EQ(split_lines(test::read_file(path)).size(), 2u);
}

TEST(SampleJournal, AFailedWriteLeavesTheFileAsItWas) {
  // RLIMIT_FSIZE makes the kernel refuse the bytes past a limit, as a full disk would: the write
  // goes partly through, then fails. In a child process, so the limit stays there.
  test::TempDir tmp;
  const auto path = tmp / "s.jsonl";
  {
    SampleJournal j = SampleJournal::open(path);
    j.append("0", {{"doc_id", 0}});
  }
  const std::string before = test::read_file(path);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 0;
    try {
      std::signal(SIGXFSZ, SIG_IGN);  // else the kernel kills the writer instead of failing the write
      SampleJournal j = SampleJournal::open(path);
      const rlimit limit{static_cast<rlim_t>(before.size() + 100), RLIM_INFINITY};
      ::setrlimit(RLIMIT_FSIZE, &limit);
      try {
        j.append("1", {{"payload", std::string(1000, 'x')}});
        code = 10;  // no error
      } catch (const Error& e) {
        code = std::string(e.what()).find("cannot append sample '1'") != std::string::npos ? 0 : 11;
      }
      if (j.done("1")) code = 12;
    } catch (...) {
      code = 13;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: no error, 11: wrong message, 12: counted as done, 13: other failure";
  EXPECT_EQ(test::read_file(path), before) << "the partly written line was removed";
}

// ---- SIGKILL ------------------------------------------------------------------------------------

// A line of up to ~384 KB: a SIGKILL arriving while the kernel copies it can tear it.
json record_for(int64_t k) {
  const size_t size = static_cast<size_t>((k * 7919) % 393216);
  return {{"doc_id", k}, {"payload", std::string(size, static_cast<char>('a' + k % 26))}};
}

// Opens the journal and appends keys from where it stands, forever or up to `stop`.
[[noreturn]] void writer(const std::filesystem::path& path, int64_t stop) {
  try {
    SampleJournal j = SampleJournal::open(path);
    for (auto k = static_cast<int64_t>(j.size()); k < stop; ++k) j.append(std::to_string(k), record_for(k));
    ::_exit(0);
  } catch (...) {
    ::_exit(3);
  }
}

// Every line but a torn tail parses; keys 0..n-1 in order, once each; returns n.
int64_t check_file(const std::filesystem::path& path, bool& torn) {
  const std::string bytes = test::read_file(path);
  const auto lines = split_lines(bytes);
  torn = !bytes.empty() && bytes.back() != '\n';
  const size_t whole = lines.size() - (torn ? 1 : 0);
  for (size_t i = 0; i < whole; ++i) {
    const json r = json::parse(lines[i], nullptr, false);
    EXPECT_FALSE(r.is_discarded()) << "line " << i + 1 << " is not whole, and is not the last";
    if (r.is_discarded()) return -1;
    EXPECT_EQ(r.at("key"), std::to_string(i)) << "line " << i + 1;
    EXPECT_EQ(r,
              [&] {
                json e = record_for(static_cast<int64_t>(i));
                e["key"] = std::to_string(i);
                return e;
              }())
        << "line " << i + 1 << " holds another record's data";
  }
  return static_cast<int64_t>(whole);
}

struct KillStats {
  int64_t samples = 0;  // whole lines after the last kill
  int torn = 0;         // kills that left a torn last line
};

// Kills a writer `iterations` times at random moments up to `max_delay_us`, resuming each time,
// and checks after every kill and every resume what the file holds.
KillStats kill_and_resume(const std::filesystem::path& path, int iterations, int max_delay_us, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_us(0, max_delay_us);
  KillStats stats;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    const pid_t pid = ::fork();
    EXPECT_GE(pid, 0);
    if (pid < 0) return stats;
    if (pid == 0) writer(path, INT64_MAX);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    EXPECT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer failed on its own";

    // What the kill left: whole lines 0..n-1, then at most a torn tail.
    bool torn = false;
    const int64_t whole = check_file(path, torn);
    EXPECT_GE(whole, stats.samples) << "iteration " << iteration << ": a finished sample was lost";
    stats.torn += torn;

    // Resuming cuts the tail and finds exactly the whole lines done.
    {
      const SampleJournal j = SampleJournal::open(path);
      EXPECT_EQ(static_cast<int64_t>(j.size()), whole);
      for (int64_t k = 0; k < whole; ++k) EXPECT_TRUE(j.done(std::to_string(k)));
      EXPECT_FALSE(j.done(std::to_string(whole)));
    }
    EXPECT_EQ(check_file(path, torn), whole);
    EXPECT_FALSE(torn);
    stats.samples = whole;
    if (::testing::Test::HasFailure()) return stats;
  }
  return stats;
}

TEST(SampleJournal, KilledAtRandomMomentsAndResumedItHoldsEveryKeyOnceInOrder) {
  test::TempDir tmp;
  const auto path = tmp / "killed.jsonl";
  const KillStats stats = kill_and_resume(path, 16, 40000, 20261123);
  ASSERT_FALSE(HasFailure());
  // And the same command, left to finish, completes the set without redoing or repeating any.
  const int64_t target = stats.samples + 5;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) writer(path, target);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  bool torn = false;
  EXPECT_EQ(check_file(path, torn), target);
  EXPECT_FALSE(torn);
  std::printf("[ info ] %lld samples over 16 kills, %d of them left a torn line\n",
              static_cast<long long>(stats.samples), stats.torn);
}

TEST(SampleJournal, AKillInsideTheWriteTearsTheLineAndResumingCutsIt) {
  // Random kills mostly land outside write(2) (in fdatasync, or in reopening); this one waits
  // until the file starts growing by a 32 MB line — the writer is inside write(2), the kernel
  // copying page by page — and kills it there, so the kernel really leaves part of the line.
  test::TempDir tmp;
  const auto path = tmp / "s.jsonl";
  {
    SampleJournal j = SampleJournal::open(path);
    for (int k = 0; k < 3; ++k) j.append(std::to_string(k), {{"doc_id", k}});
  }
  const std::string before = test::read_file(path);
  const std::string big(32 << 20, 'x');
  bool torn = false;
  for (int attempt = 0; attempt < 5 && !torn; ++attempt) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        SampleJournal j = SampleJournal::open(path);
        j.append("big", {{"payload", big}});
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    for (;;) {  // until the line starts to land (or the writer is gone)
      std::error_code ec;
      const auto size = std::filesystem::file_size(path, ec);
      if ((!ec && size > before.size()) || ::waitpid(pid, nullptr, WNOHANG) == pid) break;
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    const std::string after = test::read_file(path);
    ASSERT_EQ(after.compare(0, before.size(), before), 0) << "the lines before were touched";
    torn = after.size() > before.size() && after.back() != '\n';
    if (!torn) {  // the write finished first: start over from the three small lines
      ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(before.size())), 0);
      continue;
    }
    const SampleJournal j = SampleJournal::open(path);
    EXPECT_EQ(keys_of(j), "0 1 2 ");
    EXPECT_EQ(j.truncated_bytes(), static_cast<int64_t>(after.size() - before.size()));
    EXPECT_EQ(test::read_file(path), before);
  }
  EXPECT_TRUE(torn) << "five kills inside a 32 MB write and none tore it";
}

TEST(AtomicRewrite, AKilledRewriteLeavesTheOldOrTheNewFileWhole) {
  // The manifest, results JSON and CSV are rewritten whole through write_file_atomically; a writer
  // killed at any moment must leave one of the complete versions, never a mix or a prefix.
  test::TempDir tmp;
  const auto path = tmp / "results.json";
  auto version = [](int v) { return std::string(static_cast<size_t>(200000 + v * 1000), static_cast<char>('A' + v)); };
  write_file_atomically(path, version(0));
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> delay_us(0, 20000);
  for (int iteration = 0; iteration < 12; ++iteration) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int v = 1;; v = v % 9 + 1) write_file_atomically(path, version(v));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    const std::string bytes = test::read_file(path);
    bool whole = false;
    for (int v = 0; v <= 9; ++v) whole = whole || bytes == version(v);
    ASSERT_TRUE(whole) << "iteration " << iteration << ": " << bytes.size() << " bytes, no complete version";
  }
}

}  // namespace
}  // namespace trimvl::app::eval
