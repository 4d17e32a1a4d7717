#include "kernels/runtime/mapped_file.h"

#include <cstring>

#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"

namespace trimvl {
namespace {

using test::TempDir;

TEST(MappedFile, MapsTheWholeFile) {
  TempDir dir;
  test::write_file(dir / "f.bin", "hello, map");
  MappedFile map(dir / "f.bin");
  EXPECT_EQ(map.path(), dir / "f.bin");
  ASSERT_EQ(map.size(), 10u);
  EXPECT_EQ(std::memcmp(map.data(), "hello, map", 10), 0);
  EXPECT_EQ(map.bytes().size(), 10u);
}

TEST(MappedFile, EmptyFileMapsToEmptySpan) {
  TempDir dir;
  test::write_file(dir / "empty", "");
  MappedFile map(dir / "empty");
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.data(), nullptr);
  EXPECT_TRUE(map.bytes().empty());
}

TEST(MappedFile, WritesStayInMemory) {
  TempDir dir;
  test::write_file(dir / "f.bin", "abcd");
  MappedFile map(dir / "f.bin");
  map.data()[0] = std::byte{'X'};
  EXPECT_EQ(static_cast<char>(map.data()[0]), 'X');
  EXPECT_EQ(test::read_file(dir / "f.bin"), "abcd");
  MappedFile again(dir / "f.bin");
  EXPECT_EQ(static_cast<char>(again.data()[0]), 'a');
}

TEST(MappedFile, MoveTransfersTheMapping) {
  TempDir dir;
  test::write_file(dir / "f.bin", "abcd");
  MappedFile a(dir / "f.bin");
  std::byte* data = a.data();
  MappedFile b(std::move(a));
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.size(), 4u);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(a.size(), 0u);
  test::write_file(dir / "g.bin", "xy");
  MappedFile c(dir / "g.bin");
  c = std::move(b);
  EXPECT_EQ(c.data(), data);
  EXPECT_EQ(static_cast<char>(c.data()[3]), 'd');
}

TEST(MappedFile, ErrorsNameTheFileAndTheReason) {
  TempDir dir;
  try {
    MappedFile map(dir / "missing.bin");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::NotFound);
    EXPECT_EQ(e.file(), (dir / "missing.bin").string());
    EXPECT_EQ(e.message(), "cannot open: No such file or directory");
  }
  try {
    MappedFile map(dir.path());
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
    EXPECT_EQ(e.file(), dir.path().string());
    EXPECT_EQ(e.message(), "is a directory, not a file");
  }
}

}  // namespace
}  // namespace trimvl
