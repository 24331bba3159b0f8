#include "kernels/random.h"

#include "core/error.h"
#include "core/random.h"

#if MMGEN_HAS_CUDA
#include "kernels/cuda/random_cuda.h"
#endif

namespace mmgen::kernels {
namespace {

enum class Distribution { kUniform, kNormal };

Tensor random_tensor(Distribution distribution, Shape shape, uint64_t seed, uint64_t stream,
                     Device device) {
  for (int64_t d : shape)
    MMGEN_CHECK(d >= 0, "random tensor: negative dimension in shape ", shape_str(shape));
  Tensor out = Tensor::empty(std::move(shape), DType::kF32, device);
  const int64_t n = out.numel();
  if (n == 0) return out;
  float* data = out.typed_data<float>();
  if (device.is_cpu()) {
    if (distribution == Distribution::kUniform)
      fill_uniform(data, n, seed, stream);
    else
      fill_normal(data, n, seed, stream);
    return out;
  }
#if MMGEN_HAS_CUDA
  if (distribution == Distribution::kUniform)
    cuda::fill_uniform(device, data, n, seed, stream);
  else
    cuda::fill_normal(device, data, n, seed, stream);
  return out;
#else
  fail("random tensor on ", device.str(), ": mmgen was built without CUDA");
#endif
}

}  // namespace

Tensor random_uniform(Shape shape, uint64_t seed, uint64_t stream, Device device) {
  return random_tensor(Distribution::kUniform, std::move(shape), seed, stream, device);
}

Tensor random_normal(Shape shape, uint64_t seed, uint64_t stream, Device device) {
  return random_tensor(Distribution::kNormal, std::move(shape), seed, stream, device);
}

}  // namespace mmgen::kernels
