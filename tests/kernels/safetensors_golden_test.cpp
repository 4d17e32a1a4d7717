// Interop with the reference safetensors (0.7.0), both ways: files written by it (see
// tests/golden/gen_safetensors.py) read here, and files written here read by it
// (tests/golden/check_safetensors.py).
#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/wait.h>

#include "kernels/io/safetensors.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

extern char** environ;

namespace trimvl::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& path) { return json::parse(test::read_file(path)); }

double expected_float(const json& v) {
  if (v.is_number()) return v.get<double>();
  const auto s = v.get<std::string>();
  if (s == "nan") return std::nan("");
  if (s == "inf") return INFINITY;
  if (s == "-inf") return -INFINITY;
  throw std::runtime_error("expected.json: unexpected float " + s);
}

::testing::AssertionResult same_floats(const at::Tensor& actual, const std::vector<double>& expected) {
  const at::Tensor a = actual.to(at::kDouble).flatten().contiguous();
  if (static_cast<size_t>(a.numel()) != expected.size())
    return ::testing::AssertionFailure() << a.numel() << " values, expected " << expected.size();
  for (size_t i = 0; i < expected.size(); ++i) {
    const double x = a.const_data_ptr<double>()[i], e = expected[i];
    // Exact, with NaN equal to NaN and -0.0 told apart from 0.0.
    if (std::isnan(e) ? !std::isnan(x) : (x != e || std::signbit(x) != std::signbit(e)))
      return ::testing::AssertionFailure() << "value " << i << ": " << x << ", expected " << e;
  }
  return ::testing::AssertionSuccess();
}

// Compares a tensor we read with the generator's description of it (see gen_safetensors.py).
void expect_described(const TensorInfo& info, const at::Tensor& actual, const json& spec) {
  SCOPED_TRACE(info.name);
  EXPECT_EQ(info.dtype, spec.at("dtype").get<std::string>());
  EXPECT_EQ(info.shape, spec.at("shape").get<std::vector<int64_t>>());
  const auto type = actual.scalar_type();
  if (type == at::kFloat4_e2m1fn_x2) {
    const auto bytes = spec.at("packed_bytes").get<std::vector<int64_t>>();
    EXPECT_TRUE(at::equal(actual.view(at::kByte).flatten().to(at::kLong), at::tensor(bytes)));
    return;
  }
  const json& values = spec.at("values");
  std::vector<double> floats;
  if (type == at::kComplexFloat) {
    for (const json& z : values)
      for (const json& part : z) floats.push_back(expected_float(part));
    EXPECT_TRUE(same_floats(at::view_as_real(actual), floats));
  } else if (at::isFloatingType(type)) {
    for (const json& v : values) floats.push_back(expected_float(v));
    EXPECT_TRUE(same_floats(actual, floats));
  } else {
    // Integers and booleans as int64; U64 compares bit for bit through the same 64 bits.
    std::vector<int64_t> ints;
    for (const json& v : values)
      ints.push_back(v.is_boolean()           ? v.get<bool>()
                     : v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>())
                                              : v.get<int64_t>());
    const at::Tensor a = type == at::kUInt64 ? actual.view(at::kLong) : actual.to(at::kLong);
    EXPECT_TRUE(at::equal(a.flatten(), at::tensor(ints, at::kLong))) << actual;
  }
}

TEST(SafetensorsGolden, ReadsEveryDtypeTheReferenceWrites) {
  const fs::path dir = test::golden_dir("safetensors");
  const json expected = read_json(dir / "expected.json").at("dtypes.safetensors");
  const auto file = SafetensorsFile::open(dir / "dtypes.safetensors");
  EXPECT_EQ(file.metadata(), (expected.at("metadata").get<std::map<std::string, std::string>>()));
  ASSERT_EQ(file.tensors().size(), expected.at("tensors").size());
  for (const auto& [name, spec] : expected.at("tensors").items()) {
    ASSERT_NE(file.find(name), nullptr) << name;
    expect_described(file.info(name), file.tensor(name), spec);
    if (file.info(name).nbytes() > 0) {
      EXPECT_EQ(file.tensor(name).const_data_ptr(), static_cast<const void*>(file.bytes(name).data()))
          << name << ": the reference writer aligns every tensor, so no copy is needed";
    }
  }
}

TEST(SafetensorsGolden, ReadsAShardedCheckpoint) {
  const fs::path dir = test::golden_dir("safetensors");
  const json expected = read_json(dir / "expected.json").at("sharded");
  const auto ckpt = SafetensorsCheckpoint::open(dir / "sharded");
  EXPECT_EQ(ckpt.shards().size(), expected.at("shards").get<size_t>());
  std::vector<std::string> names;
  for (const auto& [name, spec] : expected.at("tensors").items()) {
    names.push_back(name);
    expect_described(ckpt.info(name), ckpt.tensor(name), spec);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(ckpt.names(), names);
}

// Runs a program without a shell; returns its exit status, or -1 if it did not exit normally.
int run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(SafetensorsGolden, ReferenceReadsWhatWeWrite) {
  const fs::path dir = test::golden_dir("safetensors");
  const auto reference = SafetensorsFile::open(dir / "dtypes.safetensors");
  // Reversed data order puts the 1-byte dtypes first, so most tensors land misaligned: a layout
  // the reference writer never produces but must read.
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto t = reference.tensors().rbegin(); t != reference.tensors().rend(); ++t)
    tensors.emplace_back(t->name, reference.tensor(t->name));
  test::TempDir tmp;
  save_safetensors(tmp / "ours.safetensors", tensors, reference.metadata());
  EXPECT_EQ(run({test::env_path("TRIMVL_PYTHON").string(), TRIMVL_CHECK_SAFETENSORS_PY,
                 (tmp / "ours.safetensors").string(), (dir / "dtypes.safetensors").string()}),
            0);
  // And the checker is not a pushover: a file that differs in one value fails it.
  auto& victim = *std::find_if(tensors.begin(), tensors.end(), [](const auto& t) { return t.second.numel() > 0; });
  victim.second = victim.second.clone();
  victim.second.view(at::kByte).flatten()[0].add_(1);
  save_safetensors(tmp / "changed.safetensors", tensors, reference.metadata());
  EXPECT_EQ(run({test::env_path("TRIMVL_PYTHON").string(), TRIMVL_CHECK_SAFETENSORS_PY,
                 (tmp / "changed.safetensors").string(), (dir / "dtypes.safetensors").string()}),
            1);
}

}  // namespace
}  // namespace trimvl::io
