#include "encoding/msgpack.h"

#include <boost/json/monotonic_resource.hpp>
#include <cstring>

#include "encoding/json_text.h"

namespace parley::encoding::msgpack {

namespace json = boost::json;

namespace {

void PutBig(std::string* out, uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
    out->push_back(static_cast<char>(v >> shift));
}

void Header(std::string* out, uint32_t n, uint8_t fix, uint32_t fix_max, uint8_t tag16,
            uint8_t tag32) {
  if (n <= fix_max) {
    out->push_back(static_cast<char>(fix | n));
  } else if (n <= 0xFFFF) {
    out->push_back(static_cast<char>(tag16));
    PutBig(out, n, 2);
  } else {
    out->push_back(static_cast<char>(tag32));
    PutBig(out, n, 4);
  }
}

}  // namespace

void AppendUnsigned(std::string* out, uint64_t v) {
  if (v <= 0x7F) {
    out->push_back(static_cast<char>(v));  // positive fixint
  } else if (v <= 0xFF) {
    out->push_back('\xcc');
    PutBig(out, v, 1);
  } else if (v <= 0xFFFF) {
    out->push_back('\xcd');
    PutBig(out, v, 2);
  } else if (v <= 0xFFFFFFFF) {
    out->push_back('\xce');
    PutBig(out, v, 4);
  } else {
    out->push_back('\xcf');
    PutBig(out, v, 8);
  }
}

void AppendInteger(std::string* out, int64_t v) {
  if (v >= 0) return AppendUnsigned(out, static_cast<uint64_t>(v));
  const auto u = static_cast<uint64_t>(v);
  if (v >= -32) {
    out->push_back(static_cast<char>(v));  // negative fixint
  } else if (v >= INT8_MIN) {
    out->push_back('\xd0');
    PutBig(out, u, 1);
  } else if (v >= INT16_MIN) {
    out->push_back('\xd1');
    PutBig(out, u, 2);
  } else if (v >= INT32_MIN) {
    out->push_back('\xd2');
    PutBig(out, u, 4);
  } else {
    out->push_back('\xd3');
    PutBig(out, u, 8);
  }
}

void AppendString(std::string* out, std::string_view s) {
  const auto n = static_cast<uint32_t>(s.size());
  if (n <= 31) {
    out->push_back(static_cast<char>(0xA0 | n));
  } else if (n <= 0xFF) {
    out->push_back('\xd9');
    PutBig(out, n, 1);
  } else {
    Header(out, n, 0, 0, 0xDA, 0xDB);  // never a fixstr here
  }
  out->append(s);
}

void AppendMapHeader(std::string* out, uint32_t n) {
  Header(out, n, 0x80, 15, 0xDE, 0xDF);
}

void AppendArrayHeader(std::string* out, uint32_t n) {
  Header(out, n, 0x90, 15, 0xDC, 0xDD);
}

void AppendValue(std::string* out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out->push_back('\xc0');
      return;
    case json::kind::bool_:
      out->push_back(v.get_bool() ? '\xc3' : '\xc2');
      return;
    case json::kind::int64:
      return AppendInteger(out, v.get_int64());
    case json::kind::uint64:
      return AppendUnsigned(out, v.get_uint64());
    case json::kind::double_: {
      uint64_t bits;
      const double d = v.get_double();
      std::memcpy(&bits, &d, sizeof bits);
      out->push_back('\xcb');
      PutBig(out, bits, 8);
      return;
    }
    case json::kind::string: {
      const json::string& s = v.get_string();
      return AppendString(out, std::string_view(s.data(), s.size()));
    }
    case json::kind::array: {
      const json::array& a = v.get_array();
      AppendArrayHeader(out, static_cast<uint32_t>(a.size()));
      for (const json::value& item : a) AppendValue(out, item);
      return;
    }
    case json::kind::object: {
      const json::object& o = v.get_object();
      AppendMapHeader(out, static_cast<uint32_t>(o.size()));
      for (const auto& [key, value] : o) {
        AppendString(out, std::string_view(key.data(), key.size()));
        AppendValue(out, value);
      }
      return;
    }
  }
}

Status FromJson(std::string_view json_text, std::string* out) {
  unsigned char buffer[4096];
  json::monotonic_resource arena(buffer, sizeof buffer);
  json::value v(&arena);
  if (Status s = ParseJson(json_text, &v); !s.ok()) return s;
  AppendValue(out, v);
  return Status::OK();
}

namespace {

// ToJson's reader: one value at a time, bounds-checked, depth-limited.
class Reader {
 public:
  explicit Reader(std::string_view in)
      : p_(reinterpret_cast<const uint8_t*>(in.data())), end_(p_ + in.size()) {}

  Status Run(std::string* out) {
    if (!Value(out, 0)) return Status::InvalidArgument(error_);
    if (p_ != end_) return Status::InvalidArgument("bytes after the value");
    return Status::OK();
  }

 private:
  bool Error(const char* why) {
    error_ = why;
    return false;
  }
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  bool Big(int bytes, uint64_t* v) {
    if (left() < static_cast<size_t>(bytes)) return Error("truncated value");
    uint64_t r = 0;
    for (int i = 0; i < bytes; ++i) r = r << 8 | p_[i];
    p_ += bytes;
    *v = r;
    return true;
  }
  bool Str(std::string* out, uint64_t n) {
    if (left() < n) return Error("truncated value");
    std::string_view s(reinterpret_cast<const char*>(p_), static_cast<size_t>(n));
    p_ += n;
    return AppendJsonText(out, s) || Error("a string that is not UTF-8");
  }
  bool Signed(std::string* out, int bytes) {
    uint64_t u;
    if (!Big(bytes, &u)) return false;
    // Sign-extend the big-endian two's complement of `bytes` bytes.
    const int shift = 64 - 8 * bytes;
    const int64_t v = static_cast<int64_t>(u << shift) >> shift;
    AppendJsonUnsigned(out, v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : uint64_t(v), v < 0);
    return true;
  }
  bool Array(std::string* out, uint64_t n, int depth) {
    if (n > left()) return Error("truncated value");  // a byte per element at least
    out->push_back('[');
    for (uint64_t i = 0; i < n; ++i) {
      if (i) out->push_back(',');
      if (!Value(out, depth + 1)) return false;
    }
    out->push_back(']');
    return true;
  }
  bool Map(std::string* out, uint64_t n, int depth) {
    if (n > left()) return Error("truncated value");
    out->push_back('{');
    for (uint64_t i = 0; i < n; ++i) {
      if (i) out->push_back(',');
      if (left() == 0) return Error("truncated value");
      const uint8_t t = *p_;
      uint64_t length;
      ++p_;
      if ((t & 0xE0) == 0xA0) {
        length = t & 0x1F;
      } else if (t == 0xD9 || t == 0xDA || t == 0xDB) {
        if (!Big(1 << (t - 0xD9), &length)) return false;
      } else {
        return Error("a map key that is not a string");
      }
      if (!Str(out, length)) return false;
      out->push_back(':');
      if (!Value(out, depth + 1)) return false;
    }
    out->push_back('}');
    return true;
  }

  bool Value(std::string* out, int depth) {
    if (depth >= kMaxDepth) return Error("nested too deep");
    if (left() == 0) return Error("truncated value");
    const uint8_t t = *p_++;
    uint64_t n;
    if (t <= 0x7F) {
      AppendJsonUnsigned(out, t);
      return true;
    }
    if (t >= 0xE0) {
      AppendJsonUnsigned(out, uint64_t{0x100} - t, true);
      return true;
    }
    if ((t & 0xF0) == 0x80) return Map(out, t & 0x0F, depth);
    if ((t & 0xF0) == 0x90) return Array(out, t & 0x0F, depth);
    if ((t & 0xE0) == 0xA0) return Str(out, t & 0x1F);
    switch (t) {
      case 0xC0:
        out->append("null");
        return true;
      case 0xC2:
        out->append("false");
        return true;
      case 0xC3:
        out->append("true");
        return true;
      case 0xCC:
      case 0xCD:
      case 0xCE:
      case 0xCF:
        if (!Big(1 << (t - 0xCC), &n)) return false;
        AppendJsonUnsigned(out, n);
        return true;
      case 0xD0:
      case 0xD1:
      case 0xD2:
      case 0xD3:
        return Signed(out, 1 << (t - 0xD0));
      case 0xCA: {
        if (!Big(4, &n)) return false;
        const auto bits = static_cast<uint32_t>(n);
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return AppendJsonDouble(out, f) || Error("a float that is not finite");
      }
      case 0xCB: {
        if (!Big(8, &n)) return false;
        double d;
        std::memcpy(&d, &n, sizeof d);
        return AppendJsonDouble(out, d) || Error("a float that is not finite");
      }
      case 0xD9:
      case 0xDA:
      case 0xDB:
        return Big(1 << (t - 0xD9), &n) && Str(out, n);
      case 0xDC:
      case 0xDD:
        return Big(t == 0xDC ? 2 : 4, &n) && Array(out, n, depth);
      case 0xDE:
      case 0xDF:
        return Big(t == 0xDE ? 2 : 4, &n) && Map(out, n, depth);
      case 0xC4:
      case 0xC5:
      case 0xC6:
        return Error("bin values are not accepted");
      case 0xC1:
        return Error("the unused byte 0xc1");
      default:  // fixext, ext 8/16/32
        return Error("ext values are not accepted");
    }
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const char* error_ = "";
};

}  // namespace

Status ToJson(std::string_view packed, std::string* out) {
  return Reader(packed).Run(out);
}

}  // namespace parley::encoding::msgpack
