// The log of commits' entries (store/batch_codec.h) as a commit writes them
// to parley_log and a node publishes them on the bus, N messages per entry:
// encoding time and bytes per message (LZ4 from 256 bytes on), and the
// decoding every other node pays. bench/RESULTS.md "LZ4 on the log" has
// the raw-versus-LZ4 comparison that chose this.
//   parley_micro_bench --benchmark_filter=LogEntry
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "store/batch_codec.h"

// GCC 12 at -O3 warns falsely on std::string appends here (GCC bug 105329).
// (Clang has no such warning, and -Werror refuses the unknown name.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

namespace parley {
namespace {

// Chat-like content: words from a small vocabulary, 5-25 words.
std::string Content(std::mt19937& rng) {
  static const char* words[] = {"the",      "a",      "is",     "ok",     "lol",  "yes",
                                "no",       "server", "deploy", "anyone", "know", "why",
                                "build",    "fails",  "thanks", "here",   "link", "meeting",
                                "tomorrow", "works",  "for",    "me",     "nice"};
  std::uniform_int_distribution<int> n(5, 25), w(0, 22);
  std::string out;
  for (int i = 0, k = n(rng); i < k; ++i) {
    if (i) out.push_back(' ');
    out += words[w(rng)];
  }
  return out;
}

std::vector<WriteBatch> Batches(int messages) {
  std::mt19937 rng(42);
  std::vector<WriteBatch> batches;
  Snowflake id = Snowflake{1577722644600459265};
  for (int i = 0; i < messages; ++i) {
    Message m;
    m.id = id + static_cast<Snowflake>(i) * 4096;
    m.channel_id = 1577722644600459000 + (i % 8);
    m.guild_id = 1577722644600458000;
    m.author_id = 1577722644512378880 + (i % 64);
    m.content = Content(rng);
    m.nonce = "\"";
    m.nonce.append(std::to_string(rng())).append("\"");
    batches.push_back({mut::InsertMessage{m}});
  }
  return batches;
}

// N messages' batches, and the pointers EncodeBatches takes.
struct Entry {
  explicit Entry(int messages) : batches(Batches(messages)) {
    for (const WriteBatch& b : batches) ptrs.push_back(&b);
  }
  std::vector<WriteBatch> batches;
  std::vector<const WriteBatch*> ptrs;
};

// What a commit writes to parley_log (and a node publishes): version 1
// below 256 bytes, LZ4 (version 2) from there when it shrinks.
void BM_LogEntryEncode(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const Entry entry(n);
  std::string out;
  for (auto _ : state) {
    out.clear();
    EncodeBatches(entry.ptrs, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes_per_msg"] = static_cast<double>(out.size()) / n;
  state.counters["version"] = static_cast<uint8_t>(out[0]);
  state.counters["msgs_per_s"] =
      benchmark::Counter(static_cast<double>(n) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LogEntryEncode)->Arg(1)->Arg(16)->Arg(32)->Arg(64);

// What every other node pays to read it.
void BM_LogEntryDecode(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const Entry entry(n);
  std::string raw;
  EncodeBatches(entry.ptrs, &raw);
  std::vector<WriteBatch> out;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(DecodeBatches(raw, &out).ok());
  }
  state.counters["msgs_per_s"] =
      benchmark::Counter(static_cast<double>(n) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LogEntryDecode)->Arg(1)->Arg(16)->Arg(32)->Arg(64);

}  // namespace
}  // namespace parley
