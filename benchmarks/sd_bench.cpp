// sd_bench: one Stable Diffusion 1.5 UNet step and one VAE decode on the CPU or
// a CUDA device, each as GFLOP/s (TFLOP/s on a GPU) next to the f32 GEMM rate of
// kernels::matmul measured in the same program on the same device (the rate the
// convolutions and attention could at best approach).
//
// It writes an SD 1.5-shaped checkpoint with random f16 weights and the CompVis
// key names (model.diffusion_model.*, first_stage_model.decoder.* and
// post_quant_conv; no CLIP and no VAE encoder, which the timings do not use)
// as one safetensors file into a temporary folder (removed at exit), loads the
// UNet and the VAE from it through ModelFile::open, and times
//   - UNet: predict_eps at 512x512 (latent 64x64), batch 2 (guidance's
//     [uncond, cond]), context 2 x 77 x 768;
//   - VAE: decode of one 64x64 latent (a 512x512 image).
// FLOPs are counted analytically while the weights are laid out (docs in
// benchmarks/README.md, "sd_bench"): 2 flops per multiply-add of every
// convolution, linear layer and attention matmul (QK^T and PV); norms,
// activations and additions are not counted. On a GPU the weights are placed
// there at load, every timing ends with a one-element copy of the result to the
// host (so it covers the whole computation), and the best of a few runs after a
// warm-up run counts.
//
//   sd_bench [--threads N] [--quick] [--device cpu|cuda|cuda:N]

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "benchmarks/bench_util.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/model_file.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "diffusion/unet.h"
#include "diffusion/vae.h"
#include "kernels/ops.h"
#include "kernels/random.h"

namespace mmgen::bench {
namespace {

using bench::cpu_model;
using bench::Options;

namespace fs = std::filesystem;

struct Sizes {
  int64_t image = 512;  // image side; the latent is image / 8
  int64_t model_channels = 320;
  std::vector<int64_t> channel_mult = {1, 2, 4, 4};
  std::vector<bool> attention = {true, true, true, false};
  int64_t res_blocks = 2;
  int64_t heads = 8;
  int64_t context_dim = 768;
  int64_t context_len = 77;
  int64_t batch = 2;
  int64_t vae_ch = 128;
  std::vector<int64_t> vae_mult = {1, 2, 4, 4};
  int64_t vae_res_blocks = 2;
  int64_t z_channels = 4;
};

Sizes quick_sizes() {
  Sizes s;
  s.image = 256;
  s.model_channels = 64;
  s.vae_ch = 32;
  s.context_dim = 128;
  return s;
}

// Lays out weights (name -> random f16 tensor) and counts the FLOPs of the
// forward pass they take part in.
class Builder {
 public:
  explicit Builder(std::string prefix) : prefix_(std::move(prefix)) {}

  double flops = 0;
  std::vector<std::pair<std::string, Tensor>> tensors;

  // Weight ~ normal(0, 1 / sqrt(fan_in)), so activations keep their scale.
  void weight(const std::string& name, Shape shape, int64_t fan_in) {
    Tensor t = Tensor::empty(std::move(shape), DType::kF32);
    fill_normal(t.typed_data<float>(), t.numel(), 7, stream_++);
    const float s = 1.0f / std::sqrt(static_cast<float>(fan_in));
    float* d = t.typed_data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) d[i] *= s;
    tensors.emplace_back(prefix_ + name, t.to(DType::kF16));
  }
  void constant(const std::string& name, int64_t n, float value) {
    tensors.emplace_back(prefix_ + name, Tensor::full({n}, value).to(DType::kF16));
  }
  // Convolution at output size n x h x w.
  void conv(const std::string& name, int64_t out, int64_t in, int64_t k, int64_t n, int64_t h,
            int64_t w) {
    weight(name + ".weight", {out, in, k, k}, in * k * k);
    constant(name + ".bias", out, 0.0f);
    flops += 2.0 * n * h * w * out * in * k * k;
  }
  void linear(const std::string& name, int64_t out, int64_t in, int64_t rows, bool bias = true) {
    weight(name + ".weight", {out, in}, in);
    if (bias) constant(name + ".bias", out, 0.0f);
    flops += 2.0 * rows * out * in;
  }
  void norm(const std::string& name, int64_t c) {
    constant(name + ".weight", c, 1.0f);
    constant(name + ".bias", c, 0.0f);
  }
  // QK^T and PV over all heads: 4 n Lq Lk width.
  void attention(int64_t n, int64_t lq, int64_t lk, int64_t width) {
    flops += 4.0 * n * lq * lk * width;
  }

 private:
  std::string prefix_;
  uint64_t stream_ = 0;
};

// ---- UNet (ldm openaimodel.UNetModel, SD 1.x) --------------------------------------

void unet_resblock(Builder& b, const std::string& name, int64_t in, int64_t out, int64_t temb,
                   int64_t n, int64_t h, int64_t w) {
  b.norm(name + "in_layers.0", in);
  b.conv(name + "in_layers.2", out, in, 3, n, h, w);
  b.linear(name + "emb_layers.1", out, temb, n);
  b.norm(name + "out_layers.0", out);
  b.conv(name + "out_layers.3", out, out, 3, n, h, w);
  if (in != out) b.conv(name + "skip_connection", out, in, 1, n, h, w);
}

void unet_transformer(Builder& b, const Sizes& s, const std::string& name, int64_t c, int64_t n,
                      int64_t h, int64_t w) {
  const int64_t tokens = n * h * w, hw = h * w;
  b.norm(name + "norm", c);
  b.conv(name + "proj_in", c, c, 1, n, h, w);
  const std::string t = name + "transformer_blocks.0.";
  b.linear(t + "attn1.to_q", c, c, tokens, false);
  b.linear(t + "attn1.to_k", c, c, tokens, false);
  b.linear(t + "attn1.to_v", c, c, tokens, false);
  b.attention(n, hw, hw, c);
  b.linear(t + "attn1.to_out.0", c, c, tokens);
  b.linear(t + "ff.net.0.proj", 8 * c, c, tokens);  // GEGLU: value and gate
  b.linear(t + "ff.net.2", c, 4 * c, tokens);
  b.linear(t + "attn2.to_q", c, c, tokens, false);
  b.linear(t + "attn2.to_k", c, s.context_dim, n * s.context_len, false);
  b.linear(t + "attn2.to_v", c, s.context_dim, n * s.context_len, false);
  b.attention(n, hw, s.context_len, c);
  b.linear(t + "attn2.to_out.0", c, c, tokens);
  b.norm(t + "norm1", c);
  b.norm(t + "norm2", c);
  b.norm(t + "norm3", c);
  b.conv(name + "proj_out", c, c, 1, n, h, w);
}

void build_unet(Builder& b, const Sizes& s) {
  const int64_t mc = s.model_channels, temb = 4 * mc, n = s.batch;
  int64_t h = s.image / 8;
  b.linear("time_embed.0", temb, mc, n);
  b.linear("time_embed.2", temb, temb, n);
  b.conv("input_blocks.0.0", mc, 4, 3, n, h, h);
  std::vector<int64_t> skips = {mc};
  int64_t ch = mc, index = 1;
  const auto levels = static_cast<int64_t>(s.channel_mult.size());
  for (int64_t level = 0; level < levels; ++level) {
    for (int64_t i = 0; i < s.res_blocks; ++i, ++index) {
      const std::string name = "input_blocks." + std::to_string(index) + ".";
      const int64_t out = mc * s.channel_mult[level];
      unet_resblock(b, name + "0.", ch, out, temb, n, h, h);
      ch = out;
      if (s.attention[level]) unet_transformer(b, s, name + "1.", ch, n, h, h);
      skips.push_back(ch);
    }
    if (level + 1 < levels) {
      h /= 2;
      b.conv("input_blocks." + std::to_string(index++) + ".0.op", ch, ch, 3, n, h, h);
      skips.push_back(ch);
    }
  }
  unet_resblock(b, "middle_block.0.", ch, ch, temb, n, h, h);
  unet_transformer(b, s, "middle_block.1.", ch, n, h, h);
  unet_resblock(b, "middle_block.2.", ch, ch, temb, n, h, h);
  index = 0;
  for (int64_t level = levels - 1; level >= 0; --level) {
    for (int64_t i = 0; i <= s.res_blocks; ++i, ++index) {
      const std::string name = "output_blocks." + std::to_string(index) + ".";
      const int64_t out = mc * s.channel_mult[level];
      unet_resblock(b, name + "0.", ch + skips.back(), out, temb, n, h, h);
      skips.pop_back();
      ch = out;
      int64_t layer = 1;
      if (s.attention[level])
        unet_transformer(b, s, name + std::to_string(layer++) + ".", ch, n, h, h);
      if (level > 0 && i == s.res_blocks) {
        h *= 2;
        b.conv(name + std::to_string(layer) + ".conv", ch, ch, 3, n, h, h);
      }
    }
  }
  b.norm("out.0", ch);
  b.conv("out.2", 4, ch, 3, n, h, h);
}

// ---- VAE decoder (ldm AutoencoderKL) ------------------------------------------------

void vae_resblock(Builder& b, const std::string& name, int64_t in, int64_t out, int64_t h) {
  b.norm(name + "norm1", in);
  b.conv(name + "conv1", out, in, 3, 1, h, h);
  b.norm(name + "norm2", out);
  b.conv(name + "conv2", out, out, 3, 1, h, h);
  if (in != out) b.conv(name + "nin_shortcut", out, in, 1, 1, h, h);
}

void build_vae_decoder(Builder& b, const Sizes& s) {
  int64_t h = s.image / 8;
  const auto levels = static_cast<int64_t>(s.vae_mult.size());
  int64_t ch = s.vae_ch * s.vae_mult.back();
  b.conv("post_quant_conv", s.z_channels, s.z_channels, 1, 1, h, h);
  b.conv("decoder.conv_in", ch, s.z_channels, 3, 1, h, h);
  vae_resblock(b, "decoder.mid.block_1.", ch, ch, h);
  b.norm("decoder.mid.attn_1.norm", ch);
  for (const char* p : {"q", "k", "v", "proj_out"})
    b.conv(std::string("decoder.mid.attn_1.") + p, ch, ch, 1, 1, h, h);
  b.attention(1, h * h, h * h, ch);
  vae_resblock(b, "decoder.mid.block_2.", ch, ch, h);
  for (int64_t level = levels - 1; level >= 0; --level) {
    const std::string name = "decoder.up." + std::to_string(level) + ".";
    const int64_t out = s.vae_ch * s.vae_mult[level];
    for (int64_t i = 0; i <= s.vae_res_blocks; ++i) {
      vae_resblock(b, name + "block." + std::to_string(i) + ".", ch, out, h);
      ch = out;
    }
    if (level > 0) {
      h *= 2;
      b.conv(name + "upsample.conv", ch, ch, 3, 1, h, h);
    }
  }
  b.norm("decoder.norm_out", ch);
  b.conv("decoder.conv_out", 3, ch, 3, 1, h, h);
}

// ---- measurement --------------------------------------------------------------------

// The best time of `runs` calls of fn, whose result is waited for (bench::wait_for);
// `warm_up` extra calls first (a GPU's first call pays for library set-up).
template <typename Fn>
double best_seconds(int runs, Fn&& fn, int warm_up = 0) {
  for (int r = 0; r < warm_up; ++r) wait_for(fn());
  double best = 1e300;
  for (int r = 0; r < runs; ++r) {
    const auto start = Clock::now();
    wait_for(fn());
    best = std::min(best, seconds_since(start));
  }
  return best;
}

void print_line(const char* name, double flops, double seconds, int64_t gemm_size, double gemm,
                bool gpu) {
  const double rate = flops / seconds / 1e9;
  if (gpu) {
    std::printf(
        "%-34s %8.4f s  %8.1f GFLOP  %7.2f TFLOP/s  (%.1f%% of gemm_f32 %lld %.2f TFLOP/s)\n", name,
        seconds, flops / 1e9, rate / 1e3, 100.0 * rate / gemm, static_cast<long long>(gemm_size),
        gemm / 1e3);
  } else {
    std::printf(
        "%-34s %8.2f s  %8.1f GFLOP  %7.1f GFLOP/s  (%.1f%% of gemm_f32 %lld %.1f GFLOP/s)\n", name,
        seconds, flops / 1e9, rate, 100.0 * rate / gemm, static_cast<long long>(gemm_size), gemm);
  }
  std::fflush(stdout);
}

int run(int argc, char** argv) {
  Options options;
  if (const auto exit_code = bench::parse_options(
          argc, argv, "sd_bench", "256x256 and model_channels 64, for a smoke run", false, options,
          /*device=*/true))
    return *exit_code;
  if (options.threads > 0) set_num_threads(options.threads);
  const Device device = resolve_device(options.device, "--device");
  const bool gpu = device.is_cuda();
  const Sizes s = options.quick ? quick_sizes() : Sizes{};
  // CPU: one timed run each at full size (tens of seconds apiece on a few cores).
  // GPU: a warm-up run, then the best of three.
  const int runs = gpu ? 3 : 1, warm_up = gpu ? 1 : 0;
  if (gpu)
    std::printf("sd_bench: %s (host %s)%s\n", device.str().c_str(), cpu_model().c_str(),
                options.quick ? " (quick sizes)" : "");
  else
    std::printf("sd_bench: %s, %d threads%s\n", cpu_model().c_str(), num_threads(),
                options.quick ? " (quick sizes)" : "");

  // The GEMM reference rate: a 2048 (quick: 512; GPU: 8192) f32 matmul on the
  // device, best of several, measured before and after the model timings (the
  // better one is the reference, so a load that comes and goes does not lower it).
  const int64_t g = gpu ? 8192 : options.quick ? 512 : 2048;
  const Tensor a = kernels::random_normal({g, g}, 1, 1, device),
               bm = kernels::random_normal({g, g}, 1, 2, device);
  const auto measure_gemm = [&] {
    const double seconds = best_seconds(
        options.quick ? 3 : 5, [&] { return kernels::matmul(a, bm); }, warm_up);
    return 2.0 * g * g * g / seconds / 1e9;
  };
  const double gemm_before = measure_gemm();
  std::printf("gemm_f32 %lld (before): %.1f GFLOP/s\n", static_cast<long long>(g), gemm_before);
  std::fflush(stdout);

  const ScratchDir scratch("mmgen_sd_bench");
  const fs::path& dir = scratch.path();
  const fs::path path = dir / "sd15_random.safetensors";

  Builder unet_builder("model.diffusion_model.");
  Builder vae_builder("first_stage_model.");
  double unet_flops = 0, vae_flops = 0;
  {
    const auto start = Clock::now();
    build_unet(unet_builder, s);
    build_vae_decoder(vae_builder, s);
    unet_flops = unet_builder.flops;
    vae_flops = vae_builder.flops;
    std::vector<std::pair<std::string, Tensor>> all = std::move(unet_builder.tensors);
    for (auto& t : vae_builder.tensors) all.push_back(std::move(t));
    vae_builder.tensors.clear();
    write_safetensors(path, all);
    std::printf("checkpoint: %lld tensors, %.2f GB f16, written in %.1f s\n",
                static_cast<long long>(all.size()), static_cast<double>(fs::file_size(path)) / 1e9,
                seconds_since(start));
  }
  std::printf(
      "UNet: model_channels %lld, %lld x %lld latent, batch %lld; VAE: ch %lld, %lld x %lld "
      "latent; %d timed run each\n",
      static_cast<long long>(s.model_channels), static_cast<long long>(s.image / 8),
      static_cast<long long>(s.image / 8), static_cast<long long>(s.batch),
      static_cast<long long>(s.vae_ch), static_cast<long long>(s.image / 8),
      static_cast<long long>(s.image / 8), runs);
  std::fflush(stdout);

  std::shared_ptr<const ModelFile> file = ModelFile::open(path);
  double unet_seconds = 0, vae_seconds = 0;
  diffusion::UNetOptions unet_options;
  unet_options.num_heads = static_cast<int>(s.heads);
  {
    const auto unet = diffusion::UNet::load(*file, unet_options, device);
    const int64_t h = s.image / 8;
    const Tensor x = kernels::random_normal({s.batch, 4, h, h}, 3, 0, device);
    const Tensor t = Tensor::full({s.batch}, 500.0f, device);
    const Tensor context =
        kernels::random_normal({s.batch, s.context_len, s.context_dim}, 4, 0, device);
    unet_seconds = best_seconds(
        runs, [&] { return unet->predict_eps(x, t, context); }, warm_up);
  }
  {
    const diffusion::Vae vae = diffusion::Vae::load(file, device);
    const int64_t h = s.image / 8;
    const Tensor z = kernels::random_normal({1, s.z_channels, h, h}, 5, 0, device);
    vae_seconds = best_seconds(
        runs, [&] { return vae.decode(z); }, warm_up);
  }
  const double gemm_after = measure_gemm();
  const double gemm = std::max(gemm_before, gemm_after);
  std::printf("gemm_f32 %lld (after): %.1f GFLOP/s\n\n", static_cast<long long>(g), gemm_after);
  char name[96];
  std::snprintf(name, sizeof name, "unet step %lldx%lld batch %lld",
                static_cast<long long>(s.image), static_cast<long long>(s.image),
                static_cast<long long>(s.batch));
  print_line(name, unet_flops, unet_seconds, g, gemm, gpu);
  std::snprintf(name, sizeof name, "vae decode %lldx%lld latent",
                static_cast<long long>(s.image / 8), static_cast<long long>(s.image / 8));
  print_line(name, vae_flops, vae_seconds, g, gemm, gpu);
  return 0;
}

}  // namespace
}  // namespace mmgen::bench

int main(int argc, char** argv) {
  return mmgen::bench::run_main("sd_bench", mmgen::bench::run, argc, argv);
}
