#include "encoding/etf.h"

#include <boost/json/monotonic_resource.hpp>
#include <cstring>

#include "encoding/json_text.h"

namespace parley::encoding::etf {

namespace json = boost::json;

namespace {

void Put32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

void AppendBig(std::string* out, uint64_t magnitude, bool negative) {
  uint8_t digits[8];
  uint8_t n = 0;
  for (; magnitude != 0; magnitude >>= 8) digits[n++] = static_cast<uint8_t>(magnitude);
  out->push_back(static_cast<char>(kSmallBig));
  out->push_back(static_cast<char>(n));
  out->push_back(negative ? 1 : 0);
  out->append(reinterpret_cast<const char*>(digits), n);  // least significant first
}

// Keys go as atoms when erlpack and Erlang read them alike: printable ASCII.
bool IsAtomName(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace

void AppendAtom(std::string* out, std::string_view name) {
  out->push_back(static_cast<char>(kSmallAtom));
  out->push_back(static_cast<char>(name.size()));
  out->append(name);
}

void AppendBinary(std::string* out, std::string_view bytes) {
  out->push_back(static_cast<char>(kBinary));
  Put32(out, static_cast<uint32_t>(bytes.size()));
  out->append(bytes);
}

void AppendInteger(std::string* out, int64_t v) {
  if (v >= 0 && v <= 255) {
    out->push_back(static_cast<char>(kSmallInteger));
    out->push_back(static_cast<char>(v));
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    out->push_back(static_cast<char>(kInteger));
    Put32(out, static_cast<uint32_t>(static_cast<int32_t>(v)));
  } else {
    const uint64_t magnitude = v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : uint64_t(v);
    AppendBig(out, magnitude, v < 0);
  }
}

void AppendUnsigned(std::string* out, uint64_t v) {
  if (v <= uint64_t{INT32_MAX}) return AppendInteger(out, static_cast<int64_t>(v));
  AppendBig(out, v, false);
}

void AppendTerm(std::string* out, const json::value& v, Keys keys) {
  switch (v.kind()) {
    case json::kind::null:
      return AppendAtom(out, "nil");
    case json::kind::bool_:
      return AppendAtom(out, v.get_bool() ? "true" : "false");
    case json::kind::int64:
      return AppendInteger(out, v.get_int64());
    case json::kind::uint64:
      return AppendUnsigned(out, v.get_uint64());
    case json::kind::double_: {
      uint64_t bits;
      const double d = v.get_double();
      std::memcpy(&bits, &d, sizeof bits);
      out->push_back(static_cast<char>(kNewFloat));
      Put32(out, static_cast<uint32_t>(bits >> 32));
      Put32(out, static_cast<uint32_t>(bits));
      return;
    }
    case json::kind::string: {
      const json::string& s = v.get_string();
      return AppendBinary(out, std::string_view(s.data(), s.size()));
    }
    case json::kind::array: {
      const json::array& a = v.get_array();
      if (!a.empty()) {
        out->push_back(static_cast<char>(kList));
        Put32(out, static_cast<uint32_t>(a.size()));
        for (const json::value& item : a) AppendTerm(out, item, keys);
      }
      out->push_back(static_cast<char>(kNil));  // a list's tail, or the empty list
      return;
    }
    case json::kind::object: {
      const json::object& o = v.get_object();
      out->push_back(static_cast<char>(kMap));
      Put32(out, static_cast<uint32_t>(o.size()));
      for (const auto& [key, value] : o) {
        const std::string_view k(key.data(), key.size());
        if (keys == Keys::kAtoms && IsAtomName(k)) {
          AppendAtom(out, k);
        } else {
          AppendBinary(out, k);
        }
        AppendTerm(out, value, keys);
      }
      return;
    }
  }
}

Status FromJson(std::string_view json_text, std::string* out, Keys keys) {
  unsigned char buffer[4096];
  json::monotonic_resource arena(buffer, sizeof buffer);
  json::value v(&arena);
  if (Status s = ParseJson(json_text, &v); !s.ok()) return s;
  out->push_back(static_cast<char>(kVersion));
  AppendTerm(out, v, keys);
  return Status::OK();
}

namespace {

// ToJson's reader: one term at a time, bounds-checked, depth-limited.
class Reader {
 public:
  Reader(std::string_view in, bool atom_keys)
      : p_(reinterpret_cast<const uint8_t*>(in.data())),
        end_(p_ + in.size()),
        atom_keys_(atom_keys) {}

  Status Run(std::string* out) {
    if (p_ == end_ || *p_ != kVersion) return Fail("not ETF (version 131 expected)");
    ++p_;
    if (!Term(out, 0)) return Fail(error_);
    if (p_ != end_) return Fail("bytes after the term");
    return Status::OK();
  }

 private:
  static Status Fail(std::string_view why) { return Status::InvalidArgument(why); }
  bool Error(const char* why) {
    error_ = why;
    return false;
  }
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  bool Take(size_t n, const uint8_t** at) {
    if (left() < n) return Error("truncated term");
    *at = p_;
    p_ += n;
    return true;
  }
  bool U8(uint32_t* v) {
    const uint8_t* b;
    if (!Take(1, &b)) return false;
    *v = b[0];
    return true;
  }
  bool U16(uint32_t* v) {
    const uint8_t* b;
    if (!Take(2, &b)) return false;
    *v = uint32_t{b[0]} << 8 | b[1];
    return true;
  }
  bool U32(uint32_t* v) {
    const uint8_t* b;
    if (!Take(4, &b)) return false;
    *v = uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
    return true;
  }
  bool Bytes(uint32_t n, std::string_view* s) {
    const uint8_t* b;
    if (!Take(n, &b)) return false;
    *s = std::string_view(reinterpret_cast<const char*>(b), n);
    return true;
  }
  bool Text(std::string* out, std::string_view s) {
    return AppendJsonText(out, s) || Error("a string that is not UTF-8");
  }
  // An element count: each element takes a byte at least.
  bool Count(uint32_t n) { return n <= left() || Error("truncated term"); }

  // `latin1`: ATOM_EXT and SMALL_ATOM_EXT (the UTF-8 tags are UTF-8).
  bool Atom(std::string* out, uint32_t length, bool latin1) {
    std::string_view name;
    if (!Bytes(length, &name)) return false;
    if (name == "nil" || name == "null") {
      out->append("null");
    } else if (name == "true" || name == "false") {
      out->append(name);
    } else if (latin1) {
      AppendJsonLatin1(out, name);
    } else {
      return Text(out, name);
    }
    return true;
  }

  bool Big(std::string* out, uint32_t digits) {
    uint32_t sign;
    if (!U8(&sign)) return false;
    if (digits > 8) return Error("an integer past 64 bits");
    const uint8_t* b;
    if (!Take(digits, &b)) return false;
    uint64_t magnitude = 0;
    for (uint32_t i = digits; i-- > 0;) magnitude = magnitude << 8 | b[i];
    if (sign != 0 && magnitude > uint64_t{1} << 63) return Error("an integer past 64 bits");
    AppendJsonUnsigned(out, magnitude, sign != 0);
    return true;
  }

  bool Elements(std::string* out, uint32_t n, int depth) {
    if (!Count(n)) return false;
    out->push_back('[');
    for (uint32_t i = 0; i < n; ++i) {
      if (i) out->push_back(',');
      if (!Term(out, depth + 1)) return false;
    }
    out->push_back(']');
    return true;
  }

  bool Map(std::string* out, int depth) {
    uint32_t n;
    if (!U32(&n) || !Count(n)) return false;
    out->push_back('{');
    for (uint32_t i = 0; i < n; ++i) {
      if (i) out->push_back(',');
      uint32_t tag, length;
      std::string_view key;
      if (!U8(&tag)) return false;
      if (tag == kBinary) {
        if (!U32(&length)) return false;
      } else if (tag == kString) {
        if (!U16(&length)) return false;
      } else if (tag == kAtom || tag == kAtomUtf8) {
        if (!atom_keys_) return Error("atom keys (send string keys)");
        if (!U16(&length)) return false;
      } else if (tag == kSmallAtom || tag == kSmallAtomUtf8) {
        if (!atom_keys_) return Error("atom keys (send string keys)");
        if (!U8(&length)) return false;
      } else {
        return Error("a map key that is not a string");
      }
      if (!Bytes(length, &key)) return false;
      if (tag == kAtom || tag == kSmallAtom) {
        AppendJsonLatin1(out, key);
      } else if (!Text(out, key)) {
        return false;
      }
      out->push_back(':');
      if (!Term(out, depth + 1)) return false;
    }
    out->push_back('}');
    return true;
  }

  bool Term(std::string* out, int depth) {
    if (depth >= kMaxDepth) return Error("nested too deep");
    uint32_t tag, n;
    if (!U8(&tag)) return false;
    switch (tag) {
      case kSmallInteger:
        if (!U8(&n)) return false;
        AppendJsonUnsigned(out, n);
        return true;
      case kInteger: {
        if (!U32(&n)) return false;
        const auto v = static_cast<int32_t>(n);
        AppendJsonUnsigned(out, v < 0 ? uint64_t{0} - static_cast<uint64_t>(int64_t{v}) : n, v < 0);
        return true;
      }
      case kSmallBig:
        return U8(&n) && Big(out, n);
      case kLargeBig:
        return U32(&n) && Big(out, n);
      case kNewFloat: {
        const uint8_t* b;
        if (!Take(8, &b)) return false;
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = bits << 8 | b[i];
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return AppendJsonDouble(out, d) || Error("a float that is not finite");
      }
      case kFloat: {  // 31 bytes of "%.20e" text, NUL-padded
        std::string_view text;
        if (!Bytes(31, &text)) return false;
        char buf[32] = {};
        std::memcpy(buf, text.data(), text.size());
        char* end = nullptr;
        const double d = std::strtod(buf, &end);
        if (end == buf) return Error("a float that is not a number");
        return AppendJsonDouble(out, d) || Error("a float that is not finite");
      }
      case kAtom:
      case kAtomUtf8:
        return U16(&n) && Atom(out, n, tag == kAtom);
      case kSmallAtom:
      case kSmallAtomUtf8:
        return U8(&n) && Atom(out, n, tag == kSmallAtom);
      case kBinary: {
        std::string_view s;
        return U32(&n) && Bytes(n, &s) && Text(out, s);
      }
      case kString: {  // a list of bytes; erlpack reads it as a string too
        std::string_view s;
        return U16(&n) && Bytes(n, &s) && Text(out, s);
      }
      case kNil:
        out->append("[]");
        return true;
      case kList: {
        if (!U32(&n) || !Elements(out, n, depth)) return false;
        uint32_t tail;
        if (!U8(&tail)) return false;
        return tail == kNil || Error("an improper list");
      }
      case kSmallTuple:
        return U8(&n) && Elements(out, n, depth);
      case kLargeTuple:
        return U32(&n) && Elements(out, n, depth);
      case kMap:
        return Map(out, depth);
      case kCompressed:
        return Error("compressed terms are not accepted");
      default:
        return Error("an unsupported term");
    }
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const bool atom_keys_;
  const char* error_ = "";
};

}  // namespace

Status ToJson(std::string_view etf, std::string* out, bool atom_keys) {
  return Reader(etf, atom_keys).Run(out);
}

}  // namespace parley::encoding::etf
