#include "load/peer_wire.h"

namespace parley::load::peer {

int64_t IntAfter(std::string_view p, std::string_view key, size_t from, size_t* end) {
  size_t k = p.find(key, from);
  if (k == std::string_view::npos) return -1;
  size_t i = k + key.size();
  if (i >= p.size() || p[i] < '0' || p[i] > '9') return -1;
  int64_t v = 0;
  for (int d = 0; i < p.size() && p[i] >= '0' && p[i] <= '9' && d < 19; ++i, ++d)
    v = v * 10 + (p[i] - '0');
  if (end) *end = i;
  return v;
}

namespace {

bool StartsWith(std::string_view p, std::string_view w) {
  if (p.size() < w.size()) return false;
  for (size_t i = 0; i < w.size(); ++i) {
    char c = p[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != w[i]) return false;
  }
  return true;
}

// The integer at p[i..] up to a non-digit; -1 if none.
int64_t Number(std::string_view p, size_t i, size_t* end) {
  if (i >= p.size() || p[i] < '0' || p[i] > '9') return -1;
  int64_t v = 0;
  for (; i < p.size() && p[i] >= '0' && p[i] <= '9' && v < (int64_t{1} << 40); ++i)
    v = v * 10 + (p[i] - '0');
  *end = i;
  return v;
}

}  // namespace

size_t ParseNats(std::string_view p, NatsEvent* e) {
  size_t eol = p.find("\r\n");
  if (eol == std::string_view::npos) {
    if (p.size() > 64 * 1024) {  // no line is that long
      e->kind = NatsEvent::kBad;
      return p.size();
    }
    return 0;
  }
  std::string_view line = p.substr(0, eol);
  size_t used = eol + 2;
  if (StartsWith(line, "MSG ")) {
    // MSG <subject> <sid> [reply-to] <#bytes>
    size_t sp = line.rfind(' ');
    size_t end = 0;
    int64_t len = Number(line, sp + 1, &end);
    if (len < 0 || end != line.size()) {
      e->kind = NatsEvent::kBad;
      return used;
    }
    if (p.size() < used + static_cast<size_t>(len) + 2) return 0;
    e->kind = NatsEvent::kMsg;
    e->payload = p.substr(used, static_cast<size_t>(len));
    return used + static_cast<size_t>(len) + 2;
  }
  e->payload = {};
  if (StartsWith(line, "PING")) {
    e->kind = NatsEvent::kPing;
  } else if (StartsWith(line, "PONG")) {
    e->kind = NatsEvent::kPong;
  } else if (StartsWith(line, "+OK")) {
    e->kind = NatsEvent::kOk;
  } else if (StartsWith(line, "INFO")) {
    e->kind = NatsEvent::kInfo;
  } else if (StartsWith(line, "-ERR")) {
    e->kind = NatsEvent::kErr;
    e->payload = line.substr(std::min<size_t>(5, line.size()));
  } else {
    e->kind = NatsEvent::kBad;
  }
  return used;
}

size_t ParseResp(std::string_view p, RespReply* r) {
  r->items.clear();
  r->error = r->bad = false;
  size_t pos = 0;
  int64_t count = 1;
  if (!p.empty() && p[0] == '*') {
    size_t eol = p.find("\r\n");
    if (eol == std::string_view::npos) return 0;
    size_t end = 0;
    count = Number(p, 1, &end);
    if (count < 0 || end != eol || count > 64) {
      r->bad = true;
      return eol + 2;
    }
    pos = eol + 2;
  }
  for (int64_t i = 0; i < count; ++i) {
    if (pos >= p.size()) return 0;
    size_t eol = p.find("\r\n", pos);
    if (eol == std::string_view::npos) return 0;
    char type = p[pos];
    if (type == '$') {
      size_t end = 0;
      int64_t len = Number(p, pos + 1, &end);
      if (len < 0 || end != eol) {
        r->bad = true;
        return eol + 2;
      }
      size_t body = eol + 2;
      if (p.size() < body + static_cast<size_t>(len) + 2) return 0;
      r->items.push_back(p.substr(body, static_cast<size_t>(len)));
      pos = body + static_cast<size_t>(len) + 2;
    } else if (type == ':' || type == '+' || type == '-') {
      if (type == '-') r->error = true;
      r->items.push_back(p.substr(pos + 1, eol - pos - 1));
      pos = eol + 2;
    } else {
      r->bad = true;
      return eol + 2;
    }
  }
  return pos;
}

std::string RedisCommand(std::initializer_list<std::string_view> args) {
  std::string out;
  out.push_back('*');
  out.append(std::to_string(args.size())).append("\r\n");
  for (std::string_view a : args) {
    out.push_back('$');
    out.append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
  }
  return out;
}

}  // namespace parley::load::peer
