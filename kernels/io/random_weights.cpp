#include "kernels/io/random_weights.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "kernels/runtime/dtype.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/generator.h"

namespace trimvl::io {
namespace {

int64_t elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

}  // namespace

RandomWeights::RandomWeights(std::vector<RandomTensor> tensors, c10::ScalarType dtype, c10::Device device,
                             uint64_t seed, double std)
    : tensors_(std::move(tensors)),
      dtype_(dtype),
      device_(device),
      seed_(seed),
      std_(std),
      generator_(seeded_generator(device, seed)) {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const RandomTensor& t = tensors_[i];
    TRIMVL_CHECK_ARG(std::all_of(t.shape.begin(), t.shape.end(), [](int64_t d) { return d >= 0; }),
                     "random weights: tensor '{}' has a negative dimension", t.name);
    TRIMVL_CHECK_ARG(index_.emplace(t.name, i).second, "random weights: tensor '{}' is listed twice", t.name);
  }
}

std::string RandomWeights::origin() const {
  return fmt::format("random weights ({} tensors, {}, seed {})", tensors_.size(), dtype_name(dtype_), seed_);
}

std::vector<std::string> RandomWeights::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& t : tensors_) out.push_back(t.name);
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<int64_t>* RandomWeights::find_shape(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second].shape;
}

at::Tensor RandomWeights::tensor(std::string_view name) const {
  const auto it = index_.find(name);
  if (it == index_.end())
    throw Error(fmt::format("no tensor '{}' among the random weights", name), Error::Kind::NotFound);
  const RandomTensor& t = tensors_[it->second];
  const auto options = at::TensorOptions().dtype(dtype_).device(device_);
  switch (t.init) {
    case RandomTensor::Init::Ones:
      return at::ones(t.shape, options);
    case RandomTensor::Init::Zeros:
      return at::zeros(t.shape, options);
    case RandomTensor::Init::Normal:
      break;
  }
  return at::empty(t.shape, options).normal_(0.0, std_, generator_);
}

int64_t RandomWeights::numel(std::string_view prefix) const {
  int64_t n = 0;
  for (const auto& t : tensors_)
    if (t.name.rfind(prefix, 0) == 0) n += elements(t.shape);
  return n;
}

int64_t RandomWeights::nbytes(std::string_view prefix) const {
  return numel(prefix) * static_cast<int64_t>(c10::elementSize(dtype_));
}

}  // namespace trimvl::io
