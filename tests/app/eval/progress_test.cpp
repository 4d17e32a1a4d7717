// app/eval/progress.h: the ETA arithmetic, the rendered terminal and log lines (written out by
// hand), throttling, and what a resumed run counts — with a fake clock.
#include "app/eval/progress.h"

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace trimvl::app::eval {
namespace {

ProgressState state(int64_t total, int64_t done, int64_t resumed, int64_t tokens, double elapsed,
                    bool finished = false) {
  return {total, done, resumed, tokens, elapsed, finished};
}

// Everything written to a FILE* so far.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::string out;
  std::rewind(f);
  for (int c; (c = std::fgetc(f)) != EOF;) out += static_cast<char>(c);
  return out;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(Progress, FormatsHoursMinutesSeconds) {
  EXPECT_EQ(format_hms(0), "0:00:00");
  EXPECT_EQ(format_hms(59.4), "0:00:59");
  EXPECT_EQ(format_hms(59.5), "0:01:00");
  EXPECT_EQ(format_hms(3600), "1:00:00");
  EXPECT_EQ(format_hms(27 * 3600 + 3 * 60 + 4), "27:03:04");
  EXPECT_EQ(format_hms(-1), "--:--:--");
  EXPECT_EQ(format_hms(1.0 / 0.0), "--:--:--");
}

TEST(Progress, EtaIsWhatRemainsAtThisProcesssRate) {
  // 10 of 100 in 20 s: 0.5 samples/s, 90 left → 180 s.
  EXPECT_DOUBLE_EQ(state(100, 10, 0, 0, 20).samples_per_s(), 0.5);
  EXPECT_DOUBLE_EQ(state(100, 10, 0, 0, 20).eta_s(), 180);
  // Resumed at 40: the 40 found done do not count toward the rate. 10 in 20 s, 50 left → 100 s.
  EXPECT_DOUBLE_EQ(state(100, 50, 40, 0, 20).samples_per_s(), 0.5);
  EXPECT_DOUBLE_EQ(state(100, 50, 40, 0, 20).eta_s(), 100);
  EXPECT_DOUBLE_EQ(state(100, 50, 40, 300, 20).tokens_per_s(), 15);
  // Nothing done yet in this process: unknown.
  EXPECT_EQ(state(100, 40, 40, 0, 20).eta_s(), -1);
  EXPECT_EQ(state(100, 0, 0, 0, 0).samples_per_s(), 0);
}

TEST(Progress, TheTerminalLineFillsTheWidth) {
  // 37 of 120 in 20 s with 966 tokens: 1.85 samples/s, 48.3 tok/s, 83 left / 1.85 = 44.9 s → 0:00:45.
  // Around the bar: "eval   37/120 " (14) and "  30%  1.85 samples/s  48.3 tok/s  ETA 0:00:45" (46):
  // 80 − 1 − 14 − 46 − 2 brackets = 17 cells, of which 37·17/120 = 5 filled.
  const std::string line = progress_bar_line(state(120, 37, 0, 966, 20), 80);
  EXPECT_EQ(line, "eval   37/120 [#####............]  30%  1.85 samples/s  48.3 tok/s  ETA 0:00:45");
  EXPECT_EQ(line.size(), 79u) << "one column short of the terminal's width";
  // Finished: the elapsed time instead of the ETA, a full bar.
  EXPECT_EQ(progress_bar_line(state(4, 4, 0, 40, 8, true), 80, "sweep"),
            "sweep  4/4 [########################] 100%  2.0 s/sample  5.0 tok/s  in 0:00:08");
  // Too narrow for a bar of 10: the numbers alone, cut to the width.
  EXPECT_EQ(progress_bar_line(state(120, 37, 0, 966, 20), 40), "eval   37/120  30%  1.85 samples/s  48.");
  // Before the first sample of this process the rates are unknown.
  EXPECT_EQ(progress_bar_line(state(10, 0, 0, 0, 1), 80),
            "eval   0/10 [........................]   0%  ? samples/s  ? tok/s  ETA --:--:--");
}

TEST(Progress, TheLogLineSaysTheSame) {
  EXPECT_EQ(progress_log_line(state(120, 37, 0, 966, 20)),
            "eval: 37/120 (30%), 1.85 samples/s, 48.3 tok/s, ETA 0:00:45");
  EXPECT_EQ(progress_log_line(state(120, 120, 20, 4000, 79, true)),
            "eval: 120/120 (100%) in 0:01:19, 1.27 samples/s, 50.6 tok/s");
}

TEST(Progress, OnATerminalRedrawsInPlaceAtMostTenTimesASecond) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  double now = 0;
  ProgressOptions options;
  options.clock = [&] { return now; };
  options.tty = 1;
  options.width = 80;
  {
    Progress progress(5, true, out, options);
    EXPECT_EQ(count(contents(out), "\r"), 1u) << "drawn at once";
    for (const double t : {0.05, 0.08, 0.3, 0.35, 1.0}) {  // redraws at 0.3 and 1.0 only
      now = t;
      progress.advance(10);
    }
    EXPECT_EQ(count(contents(out), "\r"), 3u);
    progress.clear();
    EXPECT_TRUE(contents(out).ends_with("\r\033[K"));
    progress.finish();
  }  // the destructor adds nothing after finish()
  const std::string text = contents(out);
  std::fclose(out);
  EXPECT_EQ(count(text, "\n"), 1u);
  EXPECT_TRUE(
      text.ends_with("\reval  5/5 [######################] 100%  5.00 samples/s  50.0 tok/s  in 0:00:01\033[K\n"))
      << text;
}

TEST(Progress, ElsewhereLogsEveryIntervalAndAtTheEnd) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  double now = 100;
  std::vector<std::string> lines;
  ProgressOptions options;
  options.clock = [&] { return now; };
  options.tty = 0;
  options.log_interval_s = 30;
  options.log = [&](const std::string& line) { lines.push_back(line); };
  {
    Progress progress(10, true, out, options, /*resumed=*/4);
    for (const double t : {110.0, 120.0, 131.0, 145.0, 162.0}) {  // logs at 131 and 162 (31 s apart)
      now = t;
      progress.advance(100);
    }
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], "eval: 7/10 (70%), 10.3 s/sample, 9.7 tok/s, ETA 0:00:31");  // 3 in 31 s, 3 left
    now = 170;
  }  // finish() from the destructor
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], "eval: 9/10 (90%) in 0:01:10, 14.0 s/sample, 7.1 tok/s");  // 5 in 70 s, 500 tokens
  EXPECT_EQ(contents(out), "") << "nothing on the stream itself";
  std::fclose(out);
}

TEST(Progress, DisabledPrintsNothing) {
  std::FILE* out = std::tmpfile();
  std::vector<std::string> lines;
  ProgressOptions options;
  options.tty = 1;
  options.log = [&](const std::string& line) { lines.push_back(line); };
  {
    Progress progress(3, false, out, options);
    progress.advance(1);
    progress.finish();
  }
  options.tty = 0;
  {
    Progress progress(3, false, out, options);
    progress.advance(1);
  }
  EXPECT_EQ(contents(out), "");
  EXPECT_TRUE(lines.empty());
  std::fclose(out);
}

}  // namespace
}  // namespace trimvl::app::eval
