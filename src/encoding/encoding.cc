#include "encoding/encoding.h"

#include "encoding/etf.h"
#include "encoding/msgpack.h"

namespace parley::encoding {

bool ParseEncoding(std::string_view name, Encoding* out) {
  if (name == "json") {
    *out = Encoding::kJson;
  } else if (name == "etf") {
    *out = Encoding::kEtf;
  } else if (name == "msgpack") {
    *out = Encoding::kMsgpack;
  } else {
    return false;
  }
  return true;
}

std::string_view EncodingName(Encoding e) {
  switch (e) {
    case Encoding::kJson:
      return "json";
    case Encoding::kEtf:
      return "etf";
    case Encoding::kMsgpack:
      return "msgpack";
  }
  return "json";
}

Status FromJson(Encoding e, std::string_view json, std::string* out) {
  switch (e) {
    case Encoding::kEtf:
      return etf::FromJson(json, out);
    case Encoding::kMsgpack:
      return msgpack::FromJson(json, out);
    case Encoding::kJson:
      break;
  }
  out->append(json);
  return Status::OK();
}

Status ToJson(Encoding e, std::string_view payload, std::string* out) {
  switch (e) {
    case Encoding::kEtf:
      return etf::ToJson(payload, out);
    case Encoding::kMsgpack:
      return msgpack::ToJson(payload, out);
    case Encoding::kJson:
      break;
  }
  out->append(payload);
  return Status::OK();
}

}  // namespace parley::encoding
