// kernel_bench: throughput of the core kernels next to the machine's limits.
//
// First it measures the bounds of the cores in use (peak f32 FMA rate with
// register-blocked independent accumulators; where the CPU has AMX, the peak of bf16
// tile products held in tile registers; and streaming memory bandwidth), then the
// kernels at the sizes the models use, each printed as
//   <name>  <value> <unit>  (<pct>% of <bound name> <bound value>)
// Compute-bound kernels are compared with the FMA peak (lines with bf16 weights with the
// tile peak, where they run on tiles), memory-bound ones with the bandwidth. With a
// CUDA device present the GPU kernels follow.
//
//   kernel_bench [--threads N] [--quick] [--json FILE]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "benchmarks/bench_util.h"
#include "core/device.h"
#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/amx.h"
#include "kernels/ops.h"
#include "kernels/random.h"

namespace mmgen::bench {
namespace {

using bench::Clock;
using bench::cpu_model;
using bench::Options;
using bench::seconds_since;

struct Bound {
  std::string name;
  double value = 0;
  std::string unit;
};

struct Result {
  std::string name;
  std::string backend;
  double value = 0;
  std::string unit;
  std::optional<Bound> bound;
  double seconds = 0;  // best time of one run
};

std::vector<Result> results;

// Best time of `fn` over repeated runs (one warm-up, then at least `min_runs`
// and until `min_seconds` of runs have passed).
double best_time(const std::function<void()>& fn, double min_seconds, int min_runs = 2) {
  fn();  // warm-up: first-touch page faults, lazy allocations, pool start
  double best = 1e300, total = 0;
  for (int run = 0; run < min_runs || (total < min_seconds && run < 1000); ++run) {
    const auto start = Clock::now();
    fn();
    const double t = seconds_since(start);
    best = std::min(best, t);
    total += t;
  }
  return best;
}

void report(Result result) {
  char line[256];
  int n = std::snprintf(line, sizeof line, "%-34s %9.1f %-7s", result.name.c_str(), result.value,
                        result.unit.c_str());
  if (result.bound && result.bound->value > 0)
    std::snprintf(line + n, sizeof line - n, "  (%.1f%% of %s %.1f %s)",
                  100.0 * result.value / result.bound->value, result.bound->name.c_str(),
                  result.bound->value, result.bound->unit.c_str());
  std::printf("%s\n", line);
  std::fflush(stdout);
  results.push_back(std::move(result));
}

// ---- machine bounds ------------------------------------------------------------

// FMAs on independent accumulators so that every FMA unit stays busy: the
// count covers the latency (4 cycles) times the units (2) with room to spare.
#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kAccumulators = 16;
using Vec = __m512;
inline Vec vec_set(float x) { return _mm512_set1_ps(x); }
inline Vec vec_fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float vec_first(Vec v) { return _mm512_cvtss_f32(v); }
constexpr const char* kIsa = "AVX-512";
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kLanes = 8;
constexpr int kAccumulators = 12;
using Vec = __m256;
inline Vec vec_set(float x) { return _mm256_set1_ps(x); }
inline Vec vec_fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float vec_first(Vec v) { return _mm256_cvtss_f32(v); }
constexpr const char* kIsa = "AVX2";
#else
constexpr int kLanes = 4;
constexpr int kAccumulators = 8;
typedef float Vec __attribute__((vector_size(16)));
inline Vec vec_set(float x) { return Vec{x, x, x, x}; }
inline Vec vec_fma(Vec a, Vec b, Vec c) { return a * b + c; }
inline float vec_first(Vec v) { return v[0]; }
constexpr const char* kIsa = "generic vectors";
#endif

// Runs `iterations` rounds of kAccumulators FMAs; returns a value that depends
// on every accumulator so the compiler cannot drop the work.
__attribute__((noinline)) float fma_loop(int64_t iterations, float seed) {
  Vec acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = vec_set(seed + static_cast<float>(i));
  const Vec a = vec_set(0.999999f), b = vec_set(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kAccumulators; ++i) acc[i] = vec_fma(acc[i], a, b);
  }
  float sum = 0;
  for (int i = 0; i < kAccumulators; ++i) sum += vec_first(acc[i]);
  return sum;
}

// All threads run loop(thread) at once, started together; the best of three GFLOP/s over
// the slowest thread's time. loop returns a value that depends on its work.
double peak_gflops(int threads, double flops_per_thread, const std::function<float(int)>& loop) {
  double best = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> pool;
    std::vector<float> sink(threads);
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        ++ready;
        while (!go.load()) std::this_thread::yield();
        sink[t] = loop(t);
      });
    while (ready.load() < threads) std::this_thread::yield();
    const auto start = Clock::now();
    go = true;
    for (auto& thread : pool) thread.join();
    const double seconds = seconds_since(start);
    best = std::max(best, flops_per_thread * threads / seconds / 1e9);
    if (sink[0] == 12345.0f) std::printf(" ");  // keeps the results alive
  }
  return best;
}

Bound measure_peak_fma(int threads, bool quick) {
  const int64_t iterations = quick ? 2'000'000 : 20'000'000;
  const double flops = 2.0 * kLanes * kAccumulators * static_cast<double>(iterations);
  return {"peak fma",
          peak_gflops(threads, flops,
                      [&](int t) { return fma_loop(iterations, static_cast<float>(t)); }),
          "GFLOP/s"};
}

// The same with AMX tile products (bf16 in, f32 sums), where the CPU has them.
std::optional<Bound> measure_peak_tiles(int threads, bool quick) {
  if (!kernels::cpu::amx_bf16_available()) return std::nullopt;
  const int64_t iterations = quick ? 200'000 : 2'000'000;
  const double flops = 2.0 * 4 * 16 * 16 * 32 * static_cast<double>(iterations);
  return Bound{
      "peak tiles bf16",
      peak_gflops(threads, flops, [&](int) { return kernels::cpu::tile_product_loop(iterations); }),
      "GFLOP/s"};
}

Bound measure_bandwidth(bool quick) {
  return {"memory bandwidth", bench::measure_triad_bandwidth_gbs(quick), "GB/s"};
}

// Microseconds one parallel loop costs beyond its work (handing the chunks to the
// workers and waiting for them): every CPU kernel call pays it, ~50 times per decoded
// token of a small LLM.
double measure_parallel_for_us(bool quick) {
  std::atomic<int64_t> sink{0};
  const int calls = quick ? 2000 : 20000;
  const int64_t chunks = num_threads() * 4;
  const double seconds = best_time(
      [&] {
        for (int i = 0; i < calls; ++i)
          parallel_for(chunks, [&](int64_t begin, int64_t end) {
            sink.fetch_add(end - begin, std::memory_order_relaxed);
          });
      },
      quick ? 0.05 : 0.3);
  return seconds / calls * 1e6;
}

// ---- kernels ---------------------------------------------------------------------

struct Context {
  Device device;
  std::string backend;
  bool quick;
  std::optional<Bound> peak;       // compute bound
  std::optional<Bound> tile_peak;  // compute bound of bf16 products (AMX), where there
  std::optional<Bound> bandwidth;  // memory bound
  double min_seconds;
};

// Waits for the device: a one-element copy to the host is ordered after every kernel.
void sync(const Tensor& t) {
  if (t.device().is_cuda()) (void)t.reshape({-1}).narrow(0, 0, 1).cpu();
}

Tensor randn(const Context& ctx, Shape shape, uint64_t stream) {
  return kernels::random_normal(std::move(shape), 1234, stream, ctx.device);
}

// KERNEL_BENCH_ONLY=<text> in the environment runs only the lines whose name contains it.
bool selected(const std::string& name) {
  const char* only = std::getenv("KERNEL_BENCH_ONLY");
  return only == nullptr || name.find(only) != std::string::npos;
}

void bench_flops(const Context& ctx, const std::string& name, double flops,
                 const std::function<Tensor()>& fn) {
  if (!selected(name)) return;
  const double seconds = best_time([&] { sync(fn()); }, ctx.min_seconds);
  report({name, ctx.backend, flops / seconds / 1e9, "GFLOP/s", ctx.peak, seconds});
}

// A line with bf16 weights: against the tile peak where bf16 products run on tiles.
void bench_bf16_flops(const Context& ctx, const std::string& name, double flops,
                      const std::function<Tensor()>& fn) {
  if (!selected(name)) return;
  const double seconds = best_time([&] { sync(fn()); }, ctx.min_seconds);
  const bool tiles = ctx.tile_peak && kernels::bf16_products_available(ctx.device);
  report({name, ctx.backend, flops / seconds / 1e9, "GFLOP/s", tiles ? ctx.tile_peak : ctx.peak,
          seconds});
}

void bench_bytes(const Context& ctx, const std::string& name, double bytes,
                 const std::function<Tensor()>& fn) {
  if (!selected(name)) return;
  const double seconds = best_time([&] { sync(fn()); }, ctx.min_seconds);
  report({name, ctx.backend, bytes / seconds / 1e9, "GB/s", ctx.bandwidth, seconds});
}

void run_kernels(const Context& ctx) {
  // GEMM f32, square.
  const std::vector<int64_t> gemm_sizes =
      ctx.quick ? std::vector<int64_t>{256, 512} : std::vector<int64_t>{1024, 2048, 4096};
  for (int64_t n : gemm_sizes) {
    const Tensor a = randn(ctx, {n, n}, 1), b = randn(ctx, {n, n}, 2);
    bench_flops(ctx, "gemm_f32 " + std::to_string(n), 2.0 * n * n * n,
                [&] { return kernels::matmul(a, b); });
  }

  // Decode-shaped linear (M = 1): streams the weight once; GB/s of weight bytes.
  {
    const int64_t k = ctx.quick ? 1024 : 4096, n = k;
    const Tensor x = randn(ctx, {1, k}, 3);
    const Tensor w32 = kernels::random_normal({n, k}, 1234, 4);  // quantised on the CPU
    // A model reads a different layer's weights at every call: cycle through
    // copies that together exceed the last-level cache, or the weight would be
    // served from cache and the line would beat the DRAM bound.
    const int layers = ctx.quick ? 2 : 8;
    for (DType dtype : {DType::kQ8_0, DType::kF16}) {
      const Tensor w = w32.to(dtype);
      std::vector<Tensor> copies;
      for (int i = 0; i < layers; ++i) copies.push_back(w.clone().to(ctx.device));
      const std::string name = std::string("linear_") + std::string(dtype_name(dtype)) + " 1x" +
                               std::to_string(k) + "x" + std::to_string(n);
      size_t next = 0;
      bench_bytes(ctx, name, static_cast<double>(w.nbytes()),
                  [&] { return kernels::linear(x, copies[next++ % copies.size()]); });
    }
  }

  // Stable Diffusion UNet convolutions at the first level.
  {
    const int64_t batch = 2, channels = ctx.quick ? 64 : 320, side = ctx.quick ? 32 : 64;
    const Tensor x = randn(ctx, {batch, channels, side, side}, 5);
    const Tensor w3 = randn(ctx, {channels, channels, 3, 3}, 6);
    const Tensor w1 = randn(ctx, {channels, channels, 1, 1}, 7);
    const Tensor bias = randn(ctx, {channels}, 8);
    kernels::Conv2dParams pad1;
    pad1.pad_h = pad1.pad_w = 1;
    const std::string shape = std::to_string(batch) + "x" + std::to_string(channels) + "x" +
                              std::to_string(side) + "x" + std::to_string(side);
    const double positions = static_cast<double>(batch * side * side);
    bench_flops(ctx, "conv2d 3x3 " + shape, 2.0 * positions * channels * channels * 9,
                [&] { return kernels::conv2d(x, w3, bias, pad1); });
    bench_flops(ctx, "conv2d 1x1 " + shape, 2.0 * positions * channels * channels,
                [&] { return kernels::conv2d(x, w1, bias); });
  }

  // HiFi-GAN V1 / piper "medium" decoder convolutions for one second of 22050 Hz audio
  // (86 mel frames): at each level the largest ResBlock convolution (kernel 11,
  // dilation 5, "same" padding) and a kernel 3 one, and the four upsamplers.
  {
    const int64_t frames = ctx.quick ? 11 : 86;
    struct Level {
      int64_t channels, length;
    };
    const Level levels[] = {
        {256, frames * 8}, {128, frames * 64}, {64, frames * 128}, {32, frames * 256}};
    for (const Level& level : levels) {
      const Tensor x = randn(ctx, {1, level.channels, level.length}, 18);
      const Tensor bias = randn(ctx, {level.channels}, 19);
      for (const auto& [kernel, dilation] : {std::pair<int64_t, int64_t>{11, 5}, {3, 1}}) {
        const Tensor w = randn(ctx, {level.channels, level.channels, kernel}, 20);
        kernels::Conv1dParams p;
        p.dilation = dilation;
        p.padding = dilation * (kernel - 1) / 2;
        bench_flops(ctx,
                    "conv1d " + std::to_string(level.channels) + "x" +
                        std::to_string(level.length) + " k" + std::to_string(kernel) + " d" +
                        std::to_string(dilation),
                    2.0 * level.channels * level.channels * kernel * level.length,
                    [&] { return kernels::conv1d(x, w, bias, p); });
        // bf16 weights: bf16 products (AMX tiles where the CPU has them).
        const Tensor wh = w.to(DType::kBF16);
        bench_bf16_flops(ctx,
                         "conv1d " + std::to_string(level.channels) + "x" +
                             std::to_string(level.length) + " k" + std::to_string(kernel) + " d" +
                             std::to_string(dilation) + " bf16",
                         2.0 * level.channels * level.channels * kernel * level.length,
                         [&] { return kernels::conv1d(x, wh, bias, p); });
      }
    }
    struct Upsample {
      int64_t in, out, length, kernel, stride;
    };
    const Upsample upsamples[] = {{512, 256, frames, 16, 8},
                                  {256, 128, frames * 8, 16, 8},
                                  {128, 64, frames * 64, 4, 2},
                                  {64, 32, frames * 128, 4, 2}};
    for (const Upsample& u : upsamples) {
      const Tensor x = randn(ctx, {1, u.in, u.length}, 21);
      const Tensor w = randn(ctx, {u.in, u.out, u.kernel}, 22);
      const Tensor bias = randn(ctx, {u.out}, 23);
      kernels::Conv1dParams p;
      p.stride = u.stride;
      p.padding = (u.kernel - u.stride) / 2;
      const std::string name = "conv_transpose1d " + std::to_string(u.in) + "x" +
                               std::to_string(u.length) + "->" + std::to_string(u.out) + " k" +
                               std::to_string(u.kernel) + " s" + std::to_string(u.stride);
      const double flops = 2.0 * u.in * u.out * u.kernel * u.length;
      bench_flops(ctx, name, flops, [&] { return kernels::conv_transpose1d(x, w, bias, p); });
      const Tensor wh = w.to(DType::kBF16);
      bench_bf16_flops(ctx, name + " bf16", flops,
                       [&] { return kernels::conv_transpose1d(x, wh, bias, p); });
    }
    // A level's multi-receptive-field block: three ResBlocks (kernels 3, 7, 11; units of
    // a convolution at dilation 1, 3, 5 and one at 1), averaged.
    for (const Level& level : levels) {
      const Tensor x = randn(ctx, {1, level.channels, level.length}, 24);
      std::vector<kernels::ResidualStack> f32, bf16;
      uint64_t stream = 25;
      double flops = 0;
      for (const int64_t kernel : {3, 7, 11}) {
        kernels::ResidualStack& a = f32.emplace_back();
        kernels::ResidualStack& b = bf16.emplace_back();
        for (const int dilation : {1, 3, 5}) {
          kernels::ResidualUnit& ua = a.emplace_back();
          kernels::ResidualUnit& ub = b.emplace_back();
          for (const int d : {dilation, 1}) {
            const Tensor w = kernels::scale(
                randn(ctx, {level.channels, level.channels, kernel}, ++stream), 0.02f);
            const Tensor bias = randn(ctx, {level.channels}, ++stream);
            ua.push_back({w, bias, d});
            ub.push_back({w.to(DType::kBF16), bias, d});
            flops += 2.0 * level.channels * level.channels * kernel * level.length;
          }
        }
      }
      const std::string name = "resblocks " + std::to_string(level.channels) + "x" +
                               std::to_string(level.length) + " k3,7,11";
      bench_flops(ctx, name, flops, [&] { return kernels::residual_stacks_mean(x, f32, 0.1f); });
      bench_bf16_flops(ctx, name + " bf16", flops,
                       [&] { return kernels::residual_stacks_mean(x, bf16, 0.1f); });
    }
  }

  // SD self-attention (B*H = 16, L = 4096, D = 40) and cross-attention (L_k = 77).
  {
    const int64_t heads = 16, len = ctx.quick ? 1024 : 4096, dim = 40, len_ctx = 77;
    const Tensor q = randn(ctx, {1, heads, len, dim}, 9);
    const Tensor k = randn(ctx, {1, heads, len, dim}, 10);
    const Tensor v = randn(ctx, {1, heads, len, dim}, 11);
    const Tensor kc = randn(ctx, {1, heads, len_ctx, dim}, 12);
    const Tensor vc = randn(ctx, {1, heads, len_ctx, dim}, 13);
    const std::string tag = std::to_string(heads) + "x" + std::to_string(len);
    bench_flops(ctx, "attention self " + tag + "x" + std::to_string(len) + " d40",
                4.0 * heads * len * len * dim, [&] { return kernels::attention(q, k, v); });
    bench_flops(ctx, "attention cross " + tag + "x77 d40", 4.0 * heads * len * len_ctx * dim,
                [&] { return kernels::attention(q, kc, vc); });
  }

  // GroupNorm over a UNet feature map: bytes read once and written once.
  {
    const int64_t side = ctx.quick ? 32 : 64;
    const Tensor x = randn(ctx, {2, 320, side, side}, 14);
    const Tensor gamma = randn(ctx, {320}, 15), beta = randn(ctx, {320}, 16);
    bench_bytes(ctx, "group_norm 2x320x" + std::to_string(side) + "x" + std::to_string(side),
                2.0 * static_cast<double>(x.nbytes()),
                [&] { return kernels::group_norm(x, 32, gamma, beta); });
  }

  // A strided copy: the transpose of a square matrix made contiguous.
  {
    const int64_t n = ctx.quick ? 1024 : 4096;
    const Tensor t = randn(ctx, {n, n}, 17).transpose(0, 1);
    bench_bytes(ctx, "contiguous transpose " + std::to_string(n) + "x" + std::to_string(n),
                2.0 * static_cast<double>(t.numel()) * 4, [&] { return kernels::contiguous(t); });
  }
}

void write_json(const std::string& path, int threads) {
  nlohmann::json out;
  out["machine"] = {{"cpu", cpu_model()},
                    {"threads", threads},
                    {"hardware_threads", std::thread::hardware_concurrency()},
                    {"simd", kIsa},
                    {"cuda_devices", cuda_device_count()}};
  out["results"] = nlohmann::json::array();
  for (const Result& r : results) {
    nlohmann::json item = {{"name", r.name},
                           {"backend", r.backend},
                           {"value", r.value},
                           {"unit", r.unit},
                           {"seconds", r.seconds}};
    if (r.bound) {
      item["bound"] = {{"name", r.bound->name}, {"value", r.bound->value}, {"unit", r.bound->unit}};
      item["percent_of_bound"] = 100.0 * r.value / r.bound->value;
    }
    out["results"].push_back(item);
  }
  std::ofstream file(path);
  MMGEN_CHECK(file.good(), path, ": cannot open for writing");
  file << out.dump(2) << "\n";
  MMGEN_CHECK(file.good(), path, ": write failed");
}

int run(int argc, char** argv) {
  Options options;
  if (const auto exit_code = bench::parse_options(argc, argv, "kernel_bench",
                                                  "small sizes, for a smoke run", true, options))
    return *exit_code;
  if (options.threads > 0) set_num_threads(options.threads);
  const int threads = num_threads();
  std::printf("kernel_bench: %s, %d threads, %s%s\n", cpu_model().c_str(), threads, kIsa,
              options.quick ? " (quick sizes)" : "");

  Context cpu{Device::cpu(),
              "cpu",
              options.quick,
              std::nullopt,
              std::nullopt,
              std::nullopt,
              options.quick ? 0.05 : 0.3};
  std::printf("-- machine bounds (cpu)\n");
  cpu.peak = measure_peak_fma(threads, options.quick);
  report({"peak fma f32 (" + std::string(kIsa) + ")", "cpu", cpu.peak->value, "GFLOP/s", {}, 0});
  cpu.tile_peak = measure_peak_tiles(threads, options.quick);
  if (cpu.tile_peak)
    report({"peak tiles bf16 (AMX)", "cpu", cpu.tile_peak->value, "GFLOP/s", {}, 0});
  cpu.bandwidth = measure_bandwidth(options.quick);
  report({"memory bandwidth (triad)", "cpu", cpu.bandwidth->value, "GB/s", {}, 0});
  report({"parallel_for round trip", "cpu", measure_parallel_for_us(options.quick), "us", {}, 0});
  std::printf("-- kernels (cpu)\n");
  run_kernels(cpu);

  if (cuda_available()) {
    Context gpu{Device::cuda(),
                "cuda",
                options.quick,
                std::nullopt,
                std::nullopt,
                std::nullopt,
                options.quick ? 0.05 : 0.3};
    std::printf("-- machine bounds (cuda:0)\n");
    // Device-to-device copy of a large buffer: read + write bytes.
    const Tensor big = kernels::random_uniform({int64_t{256} << 20}, 1, 0, gpu.device);
    const double seconds = best_time([&] { sync(big.clone()); }, 0.3);
    gpu.bandwidth = Bound{"gpu memory bandwidth", 2.0 * big.nbytes() / seconds / 1e9, "GB/s"};
    report({"gpu memory bandwidth (copy)", "cuda", gpu.bandwidth->value, "GB/s", {}, seconds});
    std::printf("-- kernels (cuda:0; compute-bound kernels have no measured peak)\n");
    run_kernels(gpu);
  }

  if (!options.json_path.empty()) write_json(options.json_path, threads);
  return 0;
}

}  // namespace
}  // namespace mmgen::bench

int main(int argc, char** argv) {
  return mmgen::bench::run_main("kernel_bench", mmgen::bench::run, argc, argv);
}
