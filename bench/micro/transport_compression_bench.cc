// Compress time per gateway message, per transport compression mode, with
// the default CompressionOptions. Counters: wire bytes and raw bytes per
// message, per-connection memory.
//   parley_micro_bench --benchmark_filter=TransportCompress
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "gateway/test_support/dispatch_generator.h"
#include "gateway/transport_compression.h"

namespace parley {
namespace {

using test_support::DispatchGenerator;

const std::vector<std::string>& Dispatches() {
  static const std::vector<std::string> v = [] {
    DispatchGenerator g;
    std::vector<std::string> out;
    for (int i = 0; i < 1000; ++i) out.push_back(g.Next());
    return out;
  }();
  return v;
}

// Steady state: one connection's stream, one MESSAGE_CREATE per iteration.
void BM_TransportCompressMessageCreate(benchmark::State& state) {
  const auto mode = static_cast<Compression>(state.range(0));
  const std::vector<std::string>& msgs = Dispatches();
  TransportCompressor c(mode);
  std::string out;
  for (const std::string& m : msgs) {  // warm up: fill the window
    out.clear();
    if (!c.Compress(m, &out).ok()) state.SkipWithError("compress failed");
  }
  size_t i = 0, raw = 0, wire = 0;
  for (auto _ : state) {
    const std::string& m = msgs[i++ % msgs.size()];
    out.clear();
    if (!c.Compress(m, &out).ok()) state.SkipWithError("compress failed");
    benchmark::DoNotOptimize(out.data());
    raw += m.size();
    wire += out.size();
  }
  state.SetLabel(std::string(CompressionName(mode)));
  state.SetBytesProcessed(static_cast<int64_t>(raw));
  state.counters["raw_B/msg"] = benchmark::Counter(static_cast<double>(raw) / state.iterations());
  state.counters["wire_B/msg"] = benchmark::Counter(static_cast<double>(wire) / state.iterations());
  state.counters["conn_mem_KB"] = benchmark::Counter(c.MemoryUsage() / 1024.0);
}
BENCHMARK(BM_TransportCompressMessageCreate)
    ->Arg(static_cast<int>(Compression::kNone))
    ->Arg(static_cast<int>(Compression::kZlibStream))
    ->Arg(static_cast<int>(Compression::kZstdStream));

// A new connection's first message: includes allocating the stream state
// (the cost an identify/HELLO burst pays per connection) and freeing it.
void BM_TransportCompressFirstMessage(benchmark::State& state) {
  const auto mode = static_cast<Compression>(state.range(0));
  const std::string& m = Dispatches()[0];
  std::string out;
  for (auto _ : state) {
    TransportCompressor c(mode);
    out.clear();
    if (!c.Compress(m, &out).ok()) state.SkipWithError("compress failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(std::string(CompressionName(mode)));
  state.counters["wire_B"] = benchmark::Counter(static_cast<double>(out.size()));
}
BENCHMARK(BM_TransportCompressFirstMessage)
    ->Arg(static_cast<int>(Compression::kZlibStream))
    ->Arg(static_cast<int>(Compression::kZstdStream));

}  // namespace
}  // namespace parley
