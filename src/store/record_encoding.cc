#include "store/record_encoding.h"

#include <charconv>
#include <system_error>

namespace parley::store_encoding {

namespace {

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// ",1,2," (or "" for none); see the schema comment.
std::string EncodeRoles(const std::vector<Snowflake>& roles) {
  if (roles.empty()) return std::string();
  std::string out = ",";
  for (Snowflake id : roles) {
    out += std::to_string(id);
    out += ',';
  }
  return out;
}

bool DecodeRoles(std::string_view s, std::vector<Snowflake>* out) {
  out->clear();
  while (!s.empty()) {
    size_t comma = s.find(',');
    std::string_view tok = s.substr(0, comma);
    if (!tok.empty()) {
      Snowflake id;
      if (!ParseNumber(tok, &id)) return false;
      out->push_back(id);
    }
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return true;
}

// "id:type:allow:deny;..." (or "" for none).
std::string EncodeOverwrites(const std::vector<Overwrite>& ows) {
  std::string out;
  for (const Overwrite& o : ows) {
    if (!out.empty()) out += ';';
    out += std::to_string(o.id);
    out += ':';
    out += std::to_string(o.type);
    out += ':';
    out += std::to_string(o.allow);
    out += ':';
    out += std::to_string(o.deny);
  }
  return out;
}

bool DecodeOverwrites(std::string_view s, std::vector<Overwrite>* out) {
  out->clear();
  while (!s.empty()) {
    size_t semi = s.find(';');
    std::string_view entry = s.substr(0, semi);
    std::string_view f[4];
    for (int i = 0; i < 4; ++i) {
      size_t colon = entry.find(':');
      if ((i < 3) != (colon != std::string_view::npos)) return false;
      f[i] = entry.substr(0, colon);
      if (i < 3) entry.remove_prefix(colon + 1);
    }
    Overwrite o;
    if (!ParseNumber(f[0], &o.id) || !ParseNumber(f[1], &o.type) || !ParseNumber(f[2], &o.allow) ||
        !ParseNumber(f[3], &o.deny)) {
      return false;
    }
    out->push_back(o);
    if (semi == std::string_view::npos) break;
    s.remove_prefix(semi + 1);
  }
  return true;
}

}  // namespace parley::store_encoding
