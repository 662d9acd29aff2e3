#include "encoding/json_text.h"

#include <boost/json/parse.hpp>
#include <charconv>
#include <cmath>

namespace parley::encoding {

namespace {

// The length of the UTF-8 sequence starting at s[i] (RFC 3629: no
// overlongs, no surrogates, nothing past U+10FFFF), or 0 if it is not one.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const uint8_t c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(1) > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) > 0x8F) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

bool AppendJsonText(std::string* out, std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<uint8_t>(bytes[i]);
    if (c >= 0x80) {
      const size_t n = Utf8Length(bytes, i);
      if (n == 0) return false;
      out->append(bytes.substr(i, n));
      i += n;
      continue;
    }
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    } else {
      out->push_back(static_cast<char>(c));
    }
    ++i;
  }
  out->push_back('"');
  return true;
}

void AppendJsonUnsigned(std::string* out, uint64_t v, bool negative) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  if (negative && v != 0) out->push_back('-');
  out->append(buf, r.ptr);
}

bool AppendJsonDouble(std::string* out, double v) {
  if (!std::isfinite(v)) return false;
  if (std::trunc(v) == v && std::fabs(v) < 9007199254740992.0) {
    AppendJsonUnsigned(out, static_cast<uint64_t>(std::fabs(v)), v < 0);
    return true;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
  return true;
}

Status ParseJson(std::string_view json, boost::json::value* v) {
  boost::json::parse_options options;
  options.max_depth = 64;
  options.allow_invalid_utf8 = true;
  boost::system::error_code ec;
  // Parsed into v's storage: the move below is a pointer swap, no copy.
  boost::json::value parsed = boost::json::parse(boost::json::string_view(json.data(), json.size()),
                                                 ec, v->storage(), options);
  if (ec) return Status::InvalidArgument("not JSON: " + ec.message());
  *v = std::move(parsed);
  return Status::OK();
}

void AppendJsonLatin1(std::string* out, std::string_view bytes) {
  std::string utf8;
  utf8.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto c = static_cast<uint8_t>(ch);
    if (c < 0x80) {
      utf8.push_back(ch);
    } else {
      utf8.push_back(static_cast<char>(0xC0 | (c >> 6)));
      utf8.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  AppendJsonText(out, utf8);  // valid by construction
}

}  // namespace parley::encoding
