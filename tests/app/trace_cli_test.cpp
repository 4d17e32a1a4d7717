// `trimvl trace` through the built binary: the summary, its JSON, the PNGs (or, without OpenCV,
// one Unsupported error), and each bad argument or file giving one error and a non-zero exit.
#include <array>
#include <cstdio>

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/trace/trace_file.h"
#include "tests/app/trace_fixture.h"
#include "tests/support/test_env.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;


class TraceCli : public ::testing::Test {
 protected:
  void SetUp() override { write_trace(test::synthetic_trace(), trace); }
  test::TempDir tmp;
  fs::path trace = tmp / "run.trace";
};

TEST_F(TraceCli, PrintsTheSummary) {
  const test::CliOutcome run = test::run_trimvl("trace " + trace.string(), tmp);
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("dbtrimkv fixed_budget M=32 B=16"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("3 evictions, 42 steps recorded"), std::string::npos) << run.out;
  EXPECT_TRUE(run.err.empty()) << run.err;

  const test::CliOutcome json = test::run_trimvl("trace --json " + trace.string(), tmp);
  ASSERT_EQ(json.code, 0) << json.err;
  const auto summary = nlohmann::json::parse(json.out);
  EXPECT_EQ(summary["events"].size(), 3u);
  EXPECT_EQ(summary["tokens"]["by_modality"]["image"], test::kImageEnd - test::kImageBegin);
}

TEST_F(TraceCli, BadFilesAndArgumentsFailWithOneError) {
  test::write_file(tmp / "junk.trace", "not a trace");
  const std::vector<std::tuple<std::string, int, std::string>> cases = {
      {"trace " + (tmp / "absent.trace").string(), 1, "no such trace file"},
      {"trace " + (tmp / "junk.trace").string(), 1, "junk.trace"},
#ifdef TRIMVL_HAVE_MEDIA
      {"trace " + trace.string() + " --png " + (tmp / "x.png").string() + " --layer 2", 1,
       "run.trace: layer 2 is out of range: the trace has 2 layers"},
      {"trace " + trace.string() + " --png " + (tmp / "x.png").string() + " --layer 0 --head 2", 1,
       "kv head 2 is out of range"},
      {"trace " + trace.string() + " --png " + (tmp / "x.png").string() + " --event 3", 1,
       "event 3 is out of range: the trace holds 3 evictions"},
#else
      {"trace " + trace.string() + " --png " + (tmp / "x.png").string(), 3, "TRIMVL_MEDIA=OFF"},
#endif
      {"trace " + trace.string() + " --layer 0", 2, "--layer requires --png"},
  };
  for (const auto& [args, code, fragment] : cases) {
    const test::CliOutcome run = test::run_trimvl(args, tmp);
    EXPECT_EQ(run.code, code) << args << "\n" << run.err;
    EXPECT_NE(run.err.find(fragment), std::string::npos) << args << "\n" << run.err;
    EXPECT_TRUE(run.out.empty()) << args;
  }
  EXPECT_FALSE(fs::exists(tmp / "x.png"));
  EXPECT_FALSE(fs::exists(tmp / "x-modality.png"));
}

#ifdef TRIMVL_HAVE_MEDIA
TEST_F(TraceCli, WritesBothPngs) {
  const test::CliOutcome run = test::run_trimvl("trace " + trace.string() + " --png " + (tmp / "heat.png").string() + " --event 1", tmp);
  ASSERT_EQ(run.code, 0) << run.err;
  const std::string png_magic = "\x89PNG";
  EXPECT_EQ(test::read_file(tmp / "heat.png").substr(0, 4), png_magic);
  EXPECT_EQ(test::read_file(tmp / "heat-modality.png").substr(0, 4), png_magic);
}
#endif

}  // namespace
}  // namespace trimvl::app
