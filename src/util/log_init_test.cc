// Not a test: makes spdlog's registry on the main thread before any test
// starts a thread. libspdlog (Debian's) is not built with ThreadSanitizer,
// which then cannot see the registry's one-time initialization as
// synchronized and reports a race between the first two threads that log
// (scripts/tsan-check.sh). The binary logs on its main thread first anyway.
#include <spdlog/spdlog.h>

namespace {
[[maybe_unused]] const bool kLoggerReady = (spdlog::default_logger_raw(), true);
}  // namespace
