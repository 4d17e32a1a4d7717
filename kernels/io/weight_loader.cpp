#include "kernels/io/weight_loader.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/runtime/error.h"

namespace trimvl::io {
namespace {

// At most this many names per category in the error; the count says how many there were.
constexpr size_t kListed = 12;

void append_list(std::string& out, std::string_view what, const std::vector<std::string>& names) {
  if (names.empty()) return;
  out += fmt::format("\n  {} {}:", names.size(), what);
  for (size_t i = 0; i < names.size() && i < kListed; ++i) out += "\n    " + names[i];
  if (names.size() > kListed) out += fmt::format("\n    ... and {} more", names.size() - kListed);
}

}  // namespace

WeightLoader::WeightLoader(const WeightSource& source, c10::ScalarType dtype, c10::Device device)
    : source_(source), dtype_(dtype), device_(device) {}

WeightLoader::Scope WeightLoader::root() { return Scope(this, ""); }

WeightLoader::Scope WeightLoader::Scope::scope(std::string_view name) const {
  return Scope(loader_, prefix_ + std::string(name) + ".");
}

std::string WeightLoader::Scope::name(std::string_view leaf) const { return prefix_ + std::string(leaf); }

bool WeightLoader::Scope::contains(std::string_view leaf) const { return loader_->source_.find_shape(name(leaf)) != nullptr; }

at::Tensor WeightLoader::Scope::take(std::string_view leaf, std::vector<int64_t> shape) const {
  return fetch(leaf, std::move(shape), true);
}

at::Tensor WeightLoader::Scope::take_as_stored(std::string_view leaf, std::vector<int64_t> shape) const {
  return fetch(leaf, std::move(shape), false);
}

at::Tensor WeightLoader::Scope::fetch(std::string_view leaf, std::vector<int64_t> shape, bool convert) const {
  WeightLoader& l = *loader_;
  const std::string full = name(leaf);
  const auto placeholder = [&] { return at::zeros(shape, at::TensorOptions().dtype(l.dtype_).device(l.device_)); };
  const std::vector<int64_t>* stored = l.source_.find_shape(full);
  if (stored == nullptr) {
    l.missing_.push_back(fmt::format("{} {}", full, shape));
    return placeholder();
  }
  l.taken_.insert(full);
  if (*stored != shape) {
    l.misshapen_.push_back(fmt::format("{}: checkpoint has {}, model expects {}", full, *stored, shape));
    return placeholder();
  }
  at::Tensor t = l.source_.tensor(full);
  // contiguous(): a module may view or reshape parameters freely; copies only when converting.
  return convert ? t.to(l.device_, l.dtype_).contiguous() : t.to(l.device_).contiguous();
}

void WeightLoader::finish(const std::vector<std::string>& owned_prefixes) {
  std::vector<std::string> unused;
  for (const std::string& n : source_.names()) {
    if (taken_.count(n) != 0) continue;
    for (const std::string& p : owned_prefixes)
      if (n.rfind(p, 0) == 0) {
        unused.push_back(n);
        break;
      }
  }
  if (missing_.empty() && misshapen_.empty() && unused.empty()) return;
  std::string message = "checkpoint does not match the model:";
  append_list(message, "missing tensors", missing_);
  append_list(message, "tensors with the wrong shape", misshapen_);
  append_list(message, "unexpected tensors", unused);
  throw Error(message).file(source_.origin());
}

}  // namespace trimvl::io
