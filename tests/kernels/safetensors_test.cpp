#include "kernels/io/safetensors.h"

#include <cstring>
#include <optional>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"

namespace trimvl::io {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using Kind = Error::Kind;

// A safetensors file assembled by hand: the length (the header's own unless overridden), the
// header text and the data section.
std::string st_file(std::string_view header, std::string_view data = "", std::optional<uint64_t> length = {}) {
  const uint64_t n = length.value_or(header.size());
  std::string out(sizeof n, '\0');
  std::memcpy(out.data(), &n, sizeof n);
  out += header;
  out += data;
  return out;
}

std::string entry(std::string_view dtype, std::string_view shape, uint64_t begin, uint64_t end) {
  return fmt::format(R"({{"dtype":"{}","shape":{},"data_offsets":[{},{}]}})", dtype, shape, begin, end);
}

template <typename T>
std::string raw(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.const_data_ptr(), cb.const_data_ptr(), ca.nbytes()) == 0;
}

// One tensor of every dtype safetensors and ATen share, with values that tell elements apart.
std::vector<std::pair<std::string, at::Tensor>> every_dtype() {
  const at::Tensor base = at::arange(-6, 6, at::kDouble).reshape({3, 4}) * 1.5;
  const at::Tensor counts = at::arange(12, at::kLong).reshape({4, 3}) * 37;
  return {
      {"bool", base > 0},
      {"u8", counts.to(at::kByte)},
      {"i8", (-counts).to(at::kChar)},
      {"i16", (counts * -300).to(at::kShort)},
      {"u16", (counts * 1000).to(at::kUInt16)},
      {"i32", (counts * -100000).to(at::kInt)},
      {"u32", (counts * 10000000).to(at::kUInt32)},
      {"i64", counts * -1000000000000},
      {"u64", (counts * 1000000000000).to(at::kUInt64)},
      {"f16", base.to(at::kHalf)},
      {"bf16", base.to(at::kBFloat16)},
      {"f32", base.to(at::kFloat)},
      {"f64", base / 3},
      {"c64", at::complex(base.to(at::kFloat), -base.to(at::kFloat))},
      {"f8_e4m3", base.to(at::kFloat8_e4m3fn)},
      {"f8_e5m2", base.to(at::kFloat8_e5m2)},
      {"f8_e8m0", at::pow(2.0, at::arange(-3, 3, at::kFloat)).to(at::kFloat8_e8m0fnu)},
      {"f4", at::arange(6, at::kByte).reshape({2, 3}).view(at::kFloat4_e2m1fn_x2)},
      {"scalar", at::scalar_tensor(2.5, at::kFloat)},
      {"empty", at::zeros({3, 0, 2}, at::kBFloat16)},
  };
}

// ---- dtypes ------------------------------------------------------------------------------------

TEST(SafetensorsDtype, MapsCodesBothWays) {
  EXPECT_EQ(scalar_type_from_safetensors("BF16"), at::kBFloat16);
  EXPECT_EQ(scalar_type_from_safetensors("F8_E8M0"), at::kFloat8_e8m0fnu);
  EXPECT_EQ(scalar_type_from_safetensors("U64"), at::kUInt64);
  EXPECT_EQ(safetensors_dtype_code(at::kFloat4_e2m1fn_x2), "F4");
  EXPECT_EQ(safetensors_dtype_code(at::kComplexFloat), "C64");
  EXPECT_EQ(safetensors_bit_width("F4"), 4);
  EXPECT_EQ(safetensors_bit_width("I16"), 16);
  for (const auto& [name, t] : every_dtype())
    EXPECT_EQ(scalar_type_from_safetensors(safetensors_dtype_code(t.scalar_type())), t.scalar_type()) << name;
}

TEST(SafetensorsDtype, RejectsWhatAtenOrSafetensorsLacks) {
  for (std::string_view code : {"F6_E2M3", "f32", "FLOAT"}) {
    try {
      scalar_type_from_safetensors(code);
      ADD_FAILURE() << code << ": no throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Kind::Unsupported);
      EXPECT_NE(e.message().find(code), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(safetensors_dtype_code(at::kComplexDouble), Error);
  EXPECT_THROW(safetensors_dtype_code(at::kQInt8), Error);
}

// ---- writing and reading back ------------------------------------------------------------------

TEST(Safetensors, WritesTheReferenceLayout) {
  // Expected bytes from the format: u64 length, compact JSON with __metadata__ first and the
  // tensors in data order, padded with spaces to a multiple of 8, then the raw data.
  TempDir dir;
  save_safetensors(dir / "t.safetensors", {{"a", at::tensor({1.0f, 2.0f})}, {"b", at::tensor({1, 2, 3}, at::kByte)}},
                   {{"k", "v"}});
  std::string header = R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})";
  header.resize((header.size() + 7) / 8 * 8, ' ');
  EXPECT_EQ(test::read_file(dir / "t.safetensors"), st_file(header, raw({1.0f, 2.0f}) + "\x01\x02\x03"));

  save_safetensors(dir / "none.safetensors", {});
  EXPECT_EQ(test::read_file(dir / "none.safetensors"), st_file("{}      "));
}

TEST(Safetensors, RoundTripsEveryDtypeInTheOrderGiven) {
  TempDir dir;
  const auto tensors = every_dtype();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "ünïcode ✓"}, {"empty", ""}};
  save_safetensors(dir / "all.safetensors", tensors, metadata);
  const auto file = SafetensorsFile::open(dir / "all.safetensors");
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.tensors().size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, expected] = tensors[i];
    SCOPED_TRACE(name);
    EXPECT_EQ(file.tensors()[i].name, name);
    EXPECT_EQ(file.info(name).scalar_type, expected.scalar_type());
    const at::Tensor t = file.tensor(name);
    EXPECT_TRUE(same_bytes(t, expected)) << t;
    EXPECT_EQ(file.bytes(name).size(), expected.nbytes());
  }
  // F4: the file counts 4-bit values, the tensor packs them in pairs.
  EXPECT_EQ(file.info("f4").shape, (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(file.info("f4").numel(), 12);
  EXPECT_EQ(file.tensor("f4").sizes(), (at::IntArrayRef{2, 3}));
  EXPECT_EQ(file.info("scalar").shape, std::vector<int64_t>{});
  EXPECT_EQ(file.info("empty").nbytes(), 0u);
}

TEST(Safetensors, TensorsAreCopyOnWriteViewsThatKeepTheMapAlive) {
  TempDir dir;
  save_safetensors(dir / "t.safetensors", {{"w", at::arange(8, at::kFloat)}});
  at::Tensor w;
  {
    const auto file = SafetensorsFile::open(dir / "t.safetensors");
    w = file.tensor("w");
    EXPECT_EQ(w.const_data_ptr(), static_cast<const void*>(file.bytes("w").data()));  // zero-copy
  }
  EXPECT_EQ(w[7].item<float>(), 7.0f);  // the file object is gone; the mapping is not
  w.mul_(2);
  EXPECT_EQ(w[7].item<float>(), 14.0f);
  EXPECT_TRUE(at::equal(SafetensorsFile::open(dir / "t.safetensors").tensor("w"), at::arange(8, at::kFloat)));
}

TEST(Safetensors, MisalignedDataIsCopiedNotViewed) {
  // Written in the order given, the F32 data starts 3 bytes into the data section.
  TempDir dir;
  save_safetensors(dir / "t.safetensors", {{"u", at::tensor({1, 2, 3}, at::kByte)}, {"f", at::tensor({1.5f, -2.5f})}});
  const auto file = SafetensorsFile::open(dir / "t.safetensors");
  const at::Tensor f = file.tensor("f");
  EXPECT_NE(f.const_data_ptr(), static_cast<const void*>(file.bytes("f").data()));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.const_data_ptr()) % alignof(float), 0u);
  EXPECT_TRUE(at::equal(f, at::tensor({1.5f, -2.5f})));
}

TEST(Safetensors, WritesStridedConjugatedAndNegatedViewsByValue) {
  TempDir dir;
  const at::Tensor transposed = at::arange(6, at::kFloat).reshape({2, 3}).t();
  const at::Tensor z = at::complex(at::arange(3, at::kFloat), at::ones({3}));
  save_safetensors(dir / "t.safetensors", {{"t", transposed}, {"conj", z.conj()}, {"neg", z.conj()._neg_view()}});
  const auto file = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_TRUE(at::equal(file.tensor("t"), transposed.contiguous()));
  EXPECT_TRUE(at::equal(file.tensor("conj"), z.conj().resolve_conj()));
  EXPECT_TRUE(at::equal(file.tensor("neg"), -z.conj().resolve_conj()));
}

TEST(Safetensors, SaveReplacesAtomicallyAndMappedViewsKeepTheOldData) {
  TempDir dir;
  const fs::path path = dir / "t.safetensors";
  save_safetensors(path, {{"x", at::full({4}, 1.0f)}});
  const at::Tensor old = SafetensorsFile::open(path).tensor("x");
  save_safetensors(path, {{"x", at::full({4}, 2.0f)}});
  EXPECT_TRUE(at::equal(old, at::full({4}, 1.0f)));
  EXPECT_TRUE(at::equal(SafetensorsFile::open(path).tensor("x"), at::full({4}, 2.0f)));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);  // no temporaries left
}

TEST(Safetensors, SaveRejectsBadInputAndLeavesNoFile) {
  const at::Tensor ok = at::ones({2});
  struct Case {
    const char* label;
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    std::map<std::string, std::string> metadata;
    Kind kind;
    std::string tensor, reason;
  };
  const std::vector<Case> cases = {
      {"duplicate", {{"a", ok}, {"a", ok}}, {}, Kind::InvalidInput, "a", "given twice"},
      {"reserved", {{"__metadata__", ok}}, {}, Kind::InvalidInput, "__metadata__", "reserved"},
      {"undefined", {{"a", at::Tensor()}}, {}, Kind::InvalidInput, "a", "undefined"},
      {"complex128", {{"z", at::zeros({2}, at::kComplexDouble)}}, {}, Kind::Unsupported, "z", "ComplexDouble"},
      {"sparse", {{"s", ok.to_sparse()}}, {}, Kind::Unsupported, "s", "dense"},
      {"f4 scalar",
       {{"q", at::zeros({}, at::kByte).view(at::kFloat4_e2m1fn_x2)}},
       {},
       Kind::Unsupported,
       "q",
       "scalar"},
      {"name not utf8", {{"bad\xff", ok}}, {}, Kind::InvalidInput, "bad\xff", "UTF-8"},
      {"metadata not utf8", {{"a", ok}}, {{"k", "\xc3"}}, Kind::InvalidInput, "", "UTF-8"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    TempDir dir;
    try {
      save_safetensors(dir / "out.safetensors", c.tensors, c.metadata);
      ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), c.kind) << e.what();
      EXPECT_EQ(e.file(), (dir / "out.safetensors").string());
      EXPECT_EQ(e.tensor(), c.tensor);
      EXPECT_NE(e.message().find(c.reason), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::is_empty(dir.path()));
  }
  TempDir dir;
  try {
    save_safetensors(dir / "no" / "such" / "dir.safetensors", {{"a", ok}});
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), (dir / "no" / "such" / "dir.safetensors").string());
    EXPECT_NE(e.message().find("No such file or directory"), std::string::npos) << e.what();
  }
}

// ---- what the reference accepts, we accept -----------------------------------------------------

TEST(Safetensors, AcceptsWhatTheReferenceAccepts) {
  TempDir dir;
  const std::string f32x2 = raw({1.5f, -2.0f});
  struct Case {
    const char* label;
    std::string bytes;
    std::vector<std::string> names;  // in data order
  };
  const std::vector<Case> cases = {
      {"empty header", st_file("{}"), {}},
      {"null metadata", st_file(R"({"__metadata__":null,"a":)" + entry("F32", "[2]", 0, 8) + "}", f32x2), {"a"}},
      {"unknown keys in an entry",
       st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":[1,{}]}})", f32x2),
       {"a"}},
      {"whitespace around the JSON", st_file(" \n\t{\"a\":" + entry("F32", "[2]", 0, 8) + "}\r\n  ", f32x2), {"a"}},
      {"listed out of data order",
       st_file(R"({"b":)" + entry("F32", "[1]", 4, 8) + R"(,"a":)" + entry("F32", "[1]", 0, 4) + "}", f32x2),
       {"a", "b"}},
      {"zero-size tensors share offsets",
       st_file(R"({"z":)" + entry("I64", "[0,3]", 4, 4) + R"(,"a":)" + entry("F32", "[1]", 0, 4) + R"(,"y":)" +
                   entry("U8", "[0]", 0, 0) + R"(,"b":)" + entry("F32", "[1]", 4, 8) + "}",
               f32x2),
       {"y", "a", "z", "b"}},
      {"zero-size with large dims", st_file(R"({"e":)" + entry("F32", "[0,65536,65536]", 0, 0) + "}"), {"e"}},
      {"empty tensor name", st_file(R"({"":)" + entry("F32", "[2]", 0, 8) + "}", f32x2), {""}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    test::write_file(dir / "t.safetensors", c.bytes);
    const auto file = SafetensorsFile::open(dir / "t.safetensors");
    std::vector<std::string> names;
    for (const TensorInfo& t : file.tensors()) {
      names.push_back(t.name);
      EXPECT_EQ(file.tensor(t.name).numel(), t.numel());
    }
    EXPECT_EQ(names, c.names);
    EXPECT_TRUE(file.metadata().empty());
  }
}

// ---- the bad-input corpus ----------------------------------------------------------------------

struct BadFile {
  const char* label;
  std::string bytes;
  Kind kind;
  std::string tensor;  // the tensor the error must name; empty: none
  std::string reason;  // a part of the message that says what is wrong
};

std::vector<BadFile> bad_files() {
  const std::string f32x2 = raw({1.5f, -2.0f});
  const std::string a_ok = entry("F32", "[2]", 0, 8);
  auto one = [](std::string_view body) { return fmt::format(R"({{"a":{}}})", body); };
  return {
      {"empty file", "", Kind::InvalidInput, "", "file has 0 bytes, fewer than the 8-byte header length"},
      {"shorter than the length", std::string("\x02\0\0\0\0", 5), Kind::InvalidInput, "", "file has 5 bytes"},
      {"header beyond the file", st_file("{}", "", 999), Kind::InvalidInput, "",
       "header length 999 exceeds the file size 10"},
      {"header over the limit", st_file("{}", "", 100'000'001), Kind::InvalidInput, "",
       "header length 100000001 exceeds the 100000000-byte limit"},
      {"header length u64 max", st_file("{}", "", UINT64_MAX), Kind::InvalidInput, "",
       "exceeds the 100000000-byte limit"},
      {"truncated header", st_file(one(a_ok), "").substr(0, 30), Kind::InvalidInput, "", "exceeds the file size 30"},
      {"truncated data", st_file(one(a_ok), f32x2.substr(0, 5)), Kind::InvalidInput, "a",
       "data_offsets [0, 8] reach past the data section, which has 5 bytes"},
      {"invalid UTF-8", st_file("{\"\xff\":" + a_ok + "}", f32x2), Kind::InvalidInput, "",
       "header is not valid UTF-8 (ill-formed sequence at byte 2)"},
      {"UTF-8 surrogate", st_file("{\"\xed\xa0\x80\":" + a_ok + "}", f32x2), Kind::InvalidInput, "", "not valid UTF-8"},
      {"overlong UTF-8", st_file("{\"\xc0\xaf\":" + a_ok + "}", f32x2), Kind::InvalidInput, "", "not valid UTF-8"},
      {"invalid JSON", st_file(R"({"a":)", ""), Kind::InvalidInput, "", "header is not valid JSON: parse error"},
      {"empty header", st_file("", ""), Kind::InvalidInput, "", "header is not valid JSON"},
      {"NUL padding", st_file(one(a_ok) + std::string(3, '\0'), f32x2), Kind::InvalidInput, "",
       "header is not valid JSON: NUL byte at byte 54"},
      {"header is an array", st_file("[]"), Kind::InvalidInput, "", "header must be a JSON object, got array"},
      {"entry not an object", st_file(R"({"a":[1]})"), Kind::InvalidInput, "a", "entry must be an object, got array"},
      {"entry null", st_file(R"({"a":null})"), Kind::InvalidInput, "a", "entry must be an object, got null"},
      {"no dtype", st_file(one(R"({"shape":[2],"data_offsets":[0,8]})"), f32x2), Kind::InvalidInput, "a",
       "entry has no 'dtype'"},
      {"no shape", st_file(one(R"({"dtype":"F32","data_offsets":[0,8]})"), f32x2), Kind::InvalidInput, "a",
       "entry has no 'shape'"},
      {"no data_offsets", st_file(one(R"({"dtype":"F32","shape":[2]})"), f32x2), Kind::InvalidInput, "a",
       "entry has no 'data_offsets'"},
      {"dtype not a string", st_file(one(R"({"dtype":7,"shape":[2],"data_offsets":[0,8]})"), f32x2), Kind::InvalidInput,
       "a", "'dtype' must be a string, got 7"},
      {"unknown dtype", st_file(one(entry("f32", "[2]", 0, 8)), f32x2), Kind::Unsupported, "a", "unknown dtype 'f32'"},
      {"dtype without ATen type", st_file(one(entry("F6_E2M3", "[4]", 0, 3)), "abc"), Kind::Unsupported, "a",
       "dtype F6_E2M3 is not supported"},
      {"shape not an array", st_file(one(entry("F32", "2", 0, 8)), f32x2), Kind::InvalidInput, "a",
       "'shape' must be an array of non-negative integers, got 2"},
      {"fractional dim", st_file(one(entry("F32", "[2.0]", 0, 8)), f32x2), Kind::InvalidInput, "a",
       "'shape' must be an array of non-negative integers"},
      {"string dim", st_file(one(entry("F32", R"(["2"])", 0, 8)), f32x2), Kind::InvalidInput, "a",
       "'shape' must be an array of non-negative integers"},
      {"negative dim", st_file(one(entry("F32", "[-2]", 0, 8)), f32x2), Kind::InvalidInput, "a",
       "negative dimension in shape [-2]"},
      {"dim beyond int64", st_file(one(entry("U8", "[9223372036854775808]", 0, 8)), f32x2), Kind::InvalidInput, "a",
       "is too large"},
      {"dim beyond u64", st_file(one(entry("U8", "[18446744073709551616]", 0, 8)), f32x2), Kind::InvalidInput, "a",
       "'shape' must be an array of non-negative integers"},
      {"element count overflows", st_file(one(entry("U8", "[4294967296,4294967296,0]", 0, 0))), Kind::InvalidInput, "a",
       "shape [4294967296,4294967296,0] is too large: its element count or strides overflow int64"},
      // The reference accepts this one; ATen cannot give it strides.
      {"strides overflow beside a zero", st_file(one(entry("U8", "[0,4294967296,4294967296]", 0, 0))),
       Kind::InvalidInput, "a", "is too large"},
      {"bit count overflows", st_file(one(entry("F64", "[2305843009213693952]", 0, 0))), Kind::InvalidInput, "a",
       "shape [2305843009213693952] of F64 is too large: its size in bits overflows int64"},
      {"F4 half byte", st_file(one(entry("F4", "[3]", 0, 2)), "ab"), Kind::InvalidInput, "a",
       "3 elements of F4 do not fill whole bytes"},
      {"F4 odd last dim", st_file(one(entry("F4", "[2,1]", 0, 1)), "a"), Kind::Unsupported, "a", "odd last dimension"},
      {"offsets not an array", st_file(one(R"({"dtype":"F32","shape":[2],"data_offsets":8})"), f32x2),
       Kind::InvalidInput, "a", "'data_offsets' must be [begin, end]"},
      {"three offsets", st_file(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8,8]})"), f32x2),
       Kind::InvalidInput, "a", "'data_offsets' must be [begin, end]"},
      {"negative offset", st_file(one(R"({"dtype":"F32","shape":[0],"data_offsets":[-1,0]})")), Kind::InvalidInput, "a",
       "'data_offsets' must be [begin, end]"},
      {"begin after end", st_file(one(entry("F32", "[0]", 8, 0)), f32x2), Kind::InvalidInput, "a",
       "data_offsets [8, 0] begin after they end"},
      {"end beyond the data", st_file(one(entry("F32", "[2]", 0, 8)), "abcd"), Kind::InvalidInput, "a",
       "data_offsets [0, 8] reach past the data section, which has 4 bytes"},
      {"huge offsets", st_file(one(entry("F32", "[0]", UINT64_MAX, UINT64_MAX)), ""), Kind::InvalidInput, "a",
       "reach past the data section"},
      {"size disagrees with shape", st_file(one(entry("F32", "[2]", 0, 4)), f32x2.substr(0, 4)), Kind::InvalidInput,
       "a", "data_offsets [0, 4] hold 4 bytes, but F32 of shape [2] takes 8"},
      {"overlap",
       st_file(R"({"a":)" + entry("F32", "[2]", 0, 8) + R"(,"b":)" + entry("F32", "[2]", 4, 12) + "}",
               f32x2 + f32x2.substr(0, 4)),
       Kind::InvalidInput, "b", "data_offsets [4, 12] overlap tensor 'a' at [0, 8]"},
      {"same range twice", st_file(R"({"a":)" + a_ok + R"(,"b":)" + a_ok + "}", f32x2), Kind::InvalidInput, "b",
       "overlap tensor 'a'"},
      {"gap", st_file(one(entry("F32", "[1]", 4, 8)), f32x2), Kind::InvalidInput, "a",
       "data_offsets [4, 8] leave bytes [0, 4) of the data section unused"},
      {"bytes after the last tensor", st_file(one(a_ok), f32x2 + "xyz"), Kind::InvalidInput, "",
       "the header accounts for 8 bytes of data, but the file has 3 more after them"},
      {"data without tensors", st_file("{}", "x"), Kind::InvalidInput, "", "has 1 more after them"},
      {"duplicate tensor", st_file(R"({"a":)" + a_ok + R"(,"a":)" + a_ok + "}", f32x2), Kind::InvalidInput, "",
       "header has duplicate key 'a'"},
      {"duplicate field", st_file(one(R"({"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]})"), f32x2),
       Kind::InvalidInput, "", "header has duplicate key 'dtype' in 'a'"},
      {"duplicate metadata key", st_file(R"({"__metadata__":{"k":"1","k":"2"}})"), Kind::InvalidInput, "",
       "header has duplicate key 'k' in '__metadata__'"},
      {"metadata not an object", st_file(R"({"__metadata__":["x"]})"), Kind::InvalidInput, "",
       "'__metadata__' must be an object of strings, got array"},
      {"metadata value not a string", st_file(R"({"__metadata__":{"k":1}})"), Kind::InvalidInput, "",
       "'__metadata__' value of 'k' must be a string, got 1"},
      {"metadata value nested", st_file(R"({"__metadata__":{"k":{"x":"y"}}})"), Kind::InvalidInput, "",
       "'__metadata__' value of 'k' must be a string"},
  };
}

// Open file descriptors of this process; a failed open must not leak one, nor a mapping.
size_t open_fds() { return static_cast<size_t>(std::distance(fs::directory_iterator("/proc/self/fd"), {})); }

TEST(Safetensors, BadFilesFailWithOneClearErrorAndLeaveNothingOpen) {
  TempDir dir;
  const size_t fds_before = open_fds();
  for (const BadFile& c : bad_files()) {
    SCOPED_TRACE(c.label);
    const fs::path path = dir / (std::string(c.label) + ".safetensors");
    test::write_file(path, c.bytes);
    for (int via_checkpoint = 0; via_checkpoint < 2; ++via_checkpoint) {
      try {
        if (via_checkpoint)
          SafetensorsCheckpoint::open(path);
        else
          SafetensorsFile::open(path);
        ADD_FAILURE() << "no throw";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), c.kind) << e.what();
        EXPECT_EQ(e.file(), path.string());
        EXPECT_EQ(e.tensor(), c.tensor) << e.what();
        EXPECT_NE(e.message().find(c.reason), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_EQ(open_fds(), fds_before);
  EXPECT_EQ(test::read_file("/proc/self/maps").find(dir.path().string()), std::string::npos);
}

TEST(Safetensors, MissingFilesAndTensorsAreNotFound) {
  TempDir dir;
  try {
    SafetensorsFile::open(dir / "missing.safetensors");
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Kind::NotFound);
    EXPECT_EQ(e.file(), (dir / "missing.safetensors").string());
  }
  save_safetensors(dir / "t.safetensors", {{"a", at::ones({1})}});
  const auto file = SafetensorsFile::open(dir / "t.safetensors");
  EXPECT_EQ(file.find("b"), nullptr);
  for (auto lookup : {+[](const SafetensorsFile& f) { f.info("b"); }, +[](const SafetensorsFile& f) { f.tensor("b"); },
                      +[](const SafetensorsFile& f) { f.bytes("b"); }}) {
    try {
      lookup(file);
      ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Kind::NotFound);
      EXPECT_EQ(e.file(), (dir / "t.safetensors").string());
      EXPECT_EQ(e.tensor(), "b");
    }
  }
}

// ---- checkpoints -------------------------------------------------------------------------------

// Two shards and an index, as save_pretrained lays them out.
struct ShardedCheckpoint {
  TempDir dir;
  ShardedCheckpoint(const std::string& index_json = "") {
    save_safetensors(dir / "model-00001-of-00002.safetensors",
                     {{"a", at::full({2}, 1.0f)}, {"b", at::full({3}, 2.0f)}});
    save_safetensors(dir / "model-00002-of-00002.safetensors", {{"c", at::full({4}, 3.0f)}});
    test::write_file(dir / "model.safetensors.index.json", index_json.empty()
                                                               ? R"({"metadata": {"total_size": 36}, "weight_map": {
                         "a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                         "c": "model-00002-of-00002.safetensors"}})"
                                                               : index_json);
  }
};

TEST(SafetensorsCheckpoint, OpensShardedDirectoriesAndIndexFiles) {
  ShardedCheckpoint ckpt;
  for (const fs::path& path : {ckpt.dir.path(), ckpt.dir / "model.safetensors.index.json"}) {
    SCOPED_TRACE(path.string());
    const auto c = SafetensorsCheckpoint::open(path);
    EXPECT_EQ(c.path(), path);
    EXPECT_EQ(c.names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(c.shards().size(), 2u);
    EXPECT_TRUE(c.contains("c"));
    EXPECT_FALSE(c.contains("d"));
    EXPECT_EQ(c.info("c").shape, std::vector<int64_t>{4});
    EXPECT_TRUE(at::equal(c.tensor("b"), at::full({3}, 2.0f)));
    EXPECT_TRUE(at::equal(c.tensor("c"), at::full({4}, 3.0f)));
    try {
      c.tensor("d");
      ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Kind::NotFound);
      EXPECT_EQ(e.file(), path.string());
      EXPECT_EQ(e.tensor(), "d");
    }
  }
}

TEST(SafetensorsCheckpoint, OpensSingleFilesAndPrefersThemInDirectories) {
  ShardedCheckpoint ckpt;
  save_safetensors(ckpt.dir / "model.safetensors", {{"only", at::ones({1})}});
  EXPECT_EQ(SafetensorsCheckpoint::open(ckpt.dir.path()).names(), std::vector<std::string>{"only"});
  const auto file = SafetensorsCheckpoint::open(ckpt.dir / "model-00002-of-00002.safetensors");
  EXPECT_EQ(file.names(), std::vector<std::string>{"c"});
  EXPECT_EQ(file.shards().size(), 1u);
  TempDir empty;
  try {
    SafetensorsCheckpoint::open(empty.path());
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Kind::NotFound);
    EXPECT_EQ(e.file(), empty.path().string());
    EXPECT_NE(e.message().find("neither model.safetensors nor model.safetensors.index.json"), std::string::npos);
  }
}

TEST(SafetensorsCheckpoint, BadIndexesFailNamingTheFileAndTensor) {
  const std::string s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors";
  auto map = [](const std::string& entries) { return R"({"weight_map": {)" + entries + "}}"; };
  struct Case {
    const char* label;
    std::string index;
    Kind kind;
    std::string file;  // relative to the checkpoint directory
    std::string tensor, reason;
  };
  const std::string index = "model.safetensors.index.json";
  const std::vector<Case> cases = {
      {"missing shard", map(R"("a": "gone.safetensors")"), Kind::NotFound, "gone.safetensors", "",
       "cannot open: No such file or directory (a shard named by"},
      {"shard lacks a tensor",
       map(R"("a": ")" + s1 + R"(", "b": ")" + s1 + R"(", "c": ")" + s2 + R"(", "d": ")" + s2 + R"(")"),
       Kind::InvalidInput, s2, "d", "assigns the tensor to this shard, which does not hold it"},
      {"tensor in the wrong shard", map(R"("a": ")" + s1 + R"(", "b": ")" + s2 + R"(", "c": ")" + s2 + R"(")"),
       Kind::InvalidInput, s1, "b", "shard holds a tensor that"},
      {"shard holds an unlisted tensor", map(R"("a": ")" + s1 + R"(", "c": ")" + s2 + R"(")"), Kind::InvalidInput, s1,
       "b", "does not list"},
      {"duplicate weight_map key", map(R"("a": ")" + s1 + R"(", "a": ")" + s1 + R"(")"), Kind::InvalidInput, index, "",
       "index has duplicate key 'a' in 'weight_map'"},
      {"invalid JSON", "{", Kind::InvalidInput, index, "", "index is not valid JSON"},
      {"not an object", "[]", Kind::InvalidInput, index, "", "index must be a JSON object"},
      {"no weight_map", R"({"metadata": {}})", Kind::InvalidInput, index, "", "index has no 'weight_map'"},
      {"weight_map not an object", R"({"weight_map": []})", Kind::InvalidInput, index, "",
       "'weight_map' must be an object"},
      {"shard not a string", map(R"("a": 1)"), Kind::InvalidInput, index, "a", "must name a shard file"},
      {"absolute shard", map(R"("a": "/etc/passwd")"), Kind::InvalidInput, index, "a",
       "is not a path inside the index's directory"},
      {"shard outside", map(R"("a": "../x.safetensors")"), Kind::InvalidInput, index, "a",
       "is not a path inside the index's directory"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    ShardedCheckpoint ckpt(c.index);
    try {
      SafetensorsCheckpoint::open(ckpt.dir.path());
      ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), c.kind) << e.what();
      EXPECT_EQ(fs::path(e.file()), ckpt.dir / c.file) << e.what();
      EXPECT_EQ(e.tensor(), c.tensor) << e.what();
      EXPECT_NE(e.message().find(c.reason), std::string::npos) << e.what();
    }
  }
}

TEST(SafetensorsCheckpoint, TensorInTwoShardsIsAnError) {
  ShardedCheckpoint ckpt;
  const fs::path second = ckpt.dir / "model-00002-of-00002.safetensors";
  save_safetensors(second, {{"c", at::full({4}, 3.0f)}, {"b", at::full({3}, 2.0f)}});
  try {
    SafetensorsCheckpoint::open(ckpt.dir.path());
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), second.string());
    EXPECT_EQ(e.tensor(), "b");
    EXPECT_NE(e.message().find("assigns to " + (ckpt.dir / "model-00001-of-00002.safetensors").string()),
              std::string::npos)
        << e.what();
  }
}

TEST(SafetensorsCheckpoint, BrokenShardIsReportedWithItsIndex) {
  ShardedCheckpoint ckpt;
  test::write_file(ckpt.dir / "model-00002-of-00002.safetensors", "\x02");
  try {
    SafetensorsCheckpoint::open(ckpt.dir.path());
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), (ckpt.dir / "model-00002-of-00002.safetensors").string());
    EXPECT_NE(e.message().find("file has 1 bytes"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("a shard named by " + (ckpt.dir / "model.safetensors.index.json").string()),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace trimvl::io
