#include "kernels/runtime/error.h"

namespace trimvl {

void Error::render() {
  full_.clear();
  if (!file_.empty()) full_ += file_ + ": ";
  if (line_ >= 0) full_ += fmt::format("line {}: ", line_);
  if (!tensor_.empty()) full_ += "tensor '" + tensor_ + "': ";
  full_ += message_;
}

}  // namespace trimvl
