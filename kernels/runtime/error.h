#pragma once
// The one exception type of the engine. Library code throws it; only front ends (CLI main, GUI
// workers) catch it and turn it into an exit code or a message. It carries the context a user
// needs to fix the input: which file, which tensor, which line.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace trimvl {

class Error : public std::exception {
 public:
  enum class Kind {
    InvalidInput,   // a file or argument the user gave is wrong (bad header, missing key, ...)
    NotFound,       // a file, tensor or key that should exist does not
    Unsupported,    // valid, but not something trimvl implements (model type, dtype, ...)
    Internal,       // a broken invariant inside trimvl: a bug
    Cancelled,      // the caller asked to stop
  };

  explicit Error(std::string message, Kind kind = Kind::InvalidInput)
      : kind_(kind), message_(std::move(message)) { render(); }

  // Context setters return *this so a throw site reads as one expression:
  //   throw Error("offsets overlap").file(path).tensor(name);
  Error& file(std::string path) { file_ = std::move(path); render(); return *this; }
  Error& tensor(std::string name) { tensor_ = std::move(name); render(); return *this; }
  Error& line(int64_t line) { line_ = line; render(); return *this; }

  Kind kind() const noexcept { return kind_; }
  const std::string& message() const noexcept { return message_; }
  const std::string& file() const noexcept { return file_; }
  const std::string& tensor() const noexcept { return tensor_; }
  int64_t line() const noexcept { return line_; }
  const char* what() const noexcept override { return full_.c_str(); }

 private:
  void render();

  Kind kind_;
  std::string message_, file_, tensor_, full_;
  int64_t line_ = -1;
};

// Invariant checks for library code; never abort. The message is only formatted on failure.
#define TRIMVL_CHECK(cond, ...)                                                          \
  do {                                                                                   \
    if (!(cond)) [[unlikely]]                                                            \
      throw ::trimvl::Error(::fmt::format(__VA_ARGS__), ::trimvl::Error::Kind::Internal); \
  } while (0)

#define TRIMVL_CHECK_ARG(cond, ...)                                                          \
  do {                                                                                       \
    if (!(cond)) [[unlikely]]                                                                \
      throw ::trimvl::Error(::fmt::format(__VA_ARGS__), ::trimvl::Error::Kind::InvalidInput); \
  } while (0)

}  // namespace trimvl
