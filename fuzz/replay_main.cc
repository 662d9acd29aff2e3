// A main() for a libFuzzer target built without libFuzzer (any compiler):
// replays corpora, as ctest does with the checked-in ones (fuzz/corpus/).
//
//   fuzz_replay_<target> PATH...
//
// Each PATH is a file or a directory; every regular file of a directory is
// replayed, in name order (not recursively). Each input goes to
// LLVMFuzzerTestOneInput in a heap block of exactly its size (so that
// AddressSanitizer catches a read past it); the target aborts on a failed
// check, which fails the run. LLVMFuzzerInitialize runs first if the target
// defines it.
//
// Exit status: 0 when every input was replayed; 1 when a PATH does not
// exist, cannot be read, or is a directory holding no file: a corpus that
// went missing fails the test instead of passing it unnoticed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

// The files PATH names (itself, or a directory's regular files in name
// order). Empty, after a message, when there are none.
std::vector<fs::path> InputsOf(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {path};
  if (!fs::is_directory(path, ec)) {
    std::fprintf(stderr, "replay: %s: no such file or directory\n", path.c_str());
    return {};
  }
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file()) files.push_back(e.path());
  if (ec) {
    std::fprintf(stderr, "replay: %s: %s\n", path.c_str(), ec.message().c_str());
    return {};
  }
  if (files.empty()) std::fprintf(stderr, "replay: %s: empty corpus\n", path.c_str());
  std::sort(files.begin(), files.end());
  return files;
}

bool ReadFile(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 1;
  }
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  for (int i = 1; i < argc; ++i) {
    const std::vector<fs::path> inputs = InputsOf(argv[i]);
    if (inputs.empty()) return 1;
    for (const fs::path& p : inputs) {
      std::string bytes;
      if (!ReadFile(p, &bytes)) {
        std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
        return 1;
      }
      // Its own allocation of exactly its size (none for an empty input).
      std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.size() + (bytes.empty() ? 1 : 0)]);
      std::copy(bytes.begin(), bytes.end(), copy.get());
      std::fprintf(stderr, "replay: %s (%zu bytes)\n", p.c_str(), bytes.size());
      LLVMFuzzerTestOneInput(copy.get(), bytes.size());
    }
    std::printf("replayed %zu inputs from %s\n", inputs.size(), argv[i]);
  }
  return 0;
}
