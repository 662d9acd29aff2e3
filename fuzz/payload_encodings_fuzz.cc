// libFuzzer target for the gateway's binary payload decoders
// (src/encoding/etf.h, src/encoding/msgpack.h) and what the gateway does
// with their output (DecodeClientPayload, src/gateway/payload.h).
//
// Input: one byte choosing the encoding (even: ETF, odd: MessagePack), then
// the bytes of one client message. The fuzzer aborts unless the result obeys
// the contract: a refusal carries a reason; an accepted payload becomes one
// JSON document (valid UTF-8, nesting within the limit) that the gateway's
// decoder takes or refuses with a close code it documents, and that the
// encoder writes back into a payload decoding to the same JSON value.
// Decoding twice must give the same text.
#include <boost/json.hpp>
// Boost.JSON compiled here, header-only style, so that it carries the
// fuzzer's coverage instrumentation too (and no parley_boost is needed).
#include <boost/json/src.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "encoding/etf.h"
#include "encoding/msgpack.h"
#include "fuzz_check.h"
#include "gateway/payload.h"

namespace {

namespace enc = parley::encoding;
namespace gw = parley::gateway;
namespace json = boost::json;

json::value Parse(const std::string& text) {
  json::parse_options options;
  options.max_depth = 64;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, options);
  FUZZ_CHECK(!ec);
  return v;
}

// a == b, but doubles within a few ulps: Boost.JSON 1.81 does not round
// every decimal to the nearest double (its precise mode came in 1.83), so a
// float read back from the JSON text may differ in its last bit.
// (A double one ulp from an integer may come back as that integer, whose
// text then reads as an integer.)
bool Same(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number() && (a.is_double() || b.is_double())) {
    const double x = a.to_number<double>(), y = b.to_number<double>();
    double t = x;  // at most 4 representable steps apart (subnormals too)
    for (int i = 0; i < 4 && t != y; ++i) t = std::nextafter(t, y);
    return t == y;
  }
  if (a.kind() != b.kind()) return a == b;  // int64 / uint64 compare by value
  if (a.is_array()) {
    const json::array &p = a.get_array(), &q = b.get_array();
    if (p.size() != q.size()) return false;
    for (size_t i = 0; i < p.size(); ++i) {
      if (!Same(p[i], q[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const json::object &p = a.get_object(), &q = b.get_object();
    if (p.size() != q.size()) return false;
    for (const auto& kv : p) {
      const json::value* other = q.if_contains(kv.key());
      if (other == nullptr || !Same(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool etf = (data[0] & 1) == 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto to_json = [&](std::string_view bytes, std::string* out) {
    return etf ? enc::etf::ToJson(bytes, out) : enc::msgpack::ToJson(bytes, out);
  };
  std::string text;
  const parley::Status s = to_json(in, &text);
  if (!s.ok()) {
    FUZZ_CHECK(!s.message().empty());
    return 0;
  }
  std::string again;
  FUZZ_CHECK(to_json(in, &again).ok() && again == text);
  // One JSON document (Boost.JSON checks UTF-8 too).
  const json::value v = Parse(text);

  // The gateway's decoder takes it or closes with a documented code.
  gw::ClientPayload p;
  gw::DecodeError err;
  if (!gw::DecodeClientPayload(text, &p, &err, SIZE_MAX)) {
    FUZZ_CHECK(err.close_code == gw::close_code::kDecodeError ||
               err.close_code == gw::close_code::kUnknownOpcode ||
               err.close_code == gw::close_code::kInvalidShard ||
               err.close_code == gw::close_code::kInvalidIntents);
    FUZZ_CHECK(!err.reason.empty() && err.reason.size() <= 100);
  }

  // Written back as a client would (binary keys), it reads as the same value.
  std::string packed;
  FUZZ_CHECK((etf ? enc::etf::FromJson(text, &packed, enc::etf::Keys::kBinaries)
                  : enc::msgpack::FromJson(text, &packed))
                 .ok());
  std::string round;
  FUZZ_CHECK(to_json(packed, &round).ok());
  FUZZ_CHECK(Same(Parse(round), v));
  return 0;
}
