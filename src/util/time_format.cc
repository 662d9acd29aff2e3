#include "util/time_format.h"

#include <chrono>
#include <cstring>

namespace parley {

namespace {
// Days since 1970-01-01 -> (year, month, day); Howard Hinnant's
// civil_from_days, valid for every date Parley will see.
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

void Put(char* p, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}
}  // namespace

void AppendIso8601(std::string* out, int64_t unix_ms) {
  int64_t days = unix_ms >= 0 ? unix_ms / 86400000 : (unix_ms - 86399999) / 86400000;
  int64_t ms_of_day = unix_ms - days * 86400000;
  int64_t y;
  unsigned mo, d;
  CivilFromDays(days, &y, &mo, &d);
  unsigned secs = static_cast<unsigned>(ms_of_day / 1000);
  // "YYYY-MM-DDTHH:MM:SS.mmm000+00:00"
  char buf[32];
  Put(buf, static_cast<unsigned>(y), 4);
  buf[4] = '-';
  Put(buf + 5, mo, 2);
  buf[7] = '-';
  Put(buf + 8, d, 2);
  buf[10] = 'T';
  Put(buf + 11, secs / 3600, 2);
  buf[13] = ':';
  Put(buf + 14, secs / 60 % 60, 2);
  buf[16] = ':';
  Put(buf + 17, secs % 60, 2);
  buf[19] = '.';
  Put(buf + 20, static_cast<unsigned>(ms_of_day % 1000), 3);
  std::memcpy(buf + 23, "000+00:00", 9);
  out->append(buf, 32);
}

std::string FormatIso8601(int64_t unix_ms) {
  std::string s;
  AppendIso8601(&s, unix_ms);
  return s;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace parley
