// FUZZ_CHECK(cond): the fuzz targets' assertion, active in every build
// (NDEBUG or not): prints the failed condition and aborts, which libFuzzer
// and the corpus replay (replay_main.cc) both report as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)
