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

// (year, month, day) -> days since 1970-01-01; days_from_civil.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// `n` decimal digits at s[*i]; false if they are not there.
bool Digits(std::string_view s, size_t* i, int n, unsigned* out) {
  unsigned v = 0;
  for (int k = 0; k < n; ++k, ++*i) {
    if (*i >= s.size() || s[*i] < '0' || s[*i] > '9') return false;
    v = v * 10 + static_cast<unsigned>(s[*i] - '0');
  }
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* i, char c) {
  if (*i >= s.size() || s[*i] != c) return false;
  ++*i;
  return true;
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

std::optional<int64_t> ParseIso8601(std::string_view s) {
  size_t i = 0;
  unsigned y, mo, d, h, mi, sec;
  if (!Digits(s, &i, 4, &y) || !Expect(s, &i, '-') || !Digits(s, &i, 2, &mo) ||
      !Expect(s, &i, '-') || !Digits(s, &i, 2, &d) || !Expect(s, &i, 'T') ||
      !Digits(s, &i, 2, &h) || !Expect(s, &i, ':') || !Digits(s, &i, 2, &mi) ||
      !Expect(s, &i, ':') || !Digits(s, &i, 2, &sec))
    return std::nullopt;
  static constexpr unsigned kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y == 0 || mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
      h > 23 || mi > 59 || sec > 59)
    return std::nullopt;
  int64_t ms = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int n = 0;
    int64_t scale = 100;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      ms += (s[i] - '0') * scale;  // digits past the third count for nothing
      scale /= 10;
      ++i;
      ++n;
    }
    if (n == 0) return std::nullopt;
  }
  int64_t offset_min = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i] == '-' ? -1 : 1;
    ++i;
    unsigned oh, om;
    if (!Digits(s, &i, 2, &oh) || !Expect(s, &i, ':') || !Digits(s, &i, 2, &om) || oh > 23 ||
        om > 59)
      return std::nullopt;
    offset_min = sign * static_cast<int64_t>(oh * 60 + om);
  }
  if (i != s.size()) return std::nullopt;
  const int64_t days = DaysFromCivil(y, mo, d);
  return ((days * 24 + h) * 60 + mi - offset_min) * 60000 + static_cast<int64_t>(sec) * 1000 + ms;
}

}  // namespace parley
