#include "net/http_request_rules.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/url/parse.hpp>
#include <string>

namespace parley::net {

namespace beast = boost::beast;

std::optional<Refusal> FramingRefusal(const http::request_header<>& req) {
  auto te = req.find(http::field::transfer_encoding);
  if (te == req.end()) return std::nullopt;
  if (req.find(http::field::content_length) != req.end())
    return Refusal{
        400,
        R"json({"code":0,"message":"400: Bad Request (Transfer-Encoding with Content-Length)"})json"};
  size_t count = 0;
  bool other = false;
  std::string_view last;
  for (std::string_view coding : http::token_list(te->value())) {
    ++count;
    last = coding;
    other = other || !beast::iequals(coding, "chunked");
  }
  if (count == 0 || !beast::iequals(last, "chunked"))
    return Refusal{
        400,
        R"json({"code":0,"message":"400: Bad Request (Transfer-Encoding must end in chunked)"})json"};
  if (other)
    return Refusal{501, R"json({"code":0,"message":"501: Not Implemented (transfer coding)"})json"};
  if (count > 1)
    return Refusal{400,
                   R"json({"code":0,"message":"400: Bad Request (chunked applied twice)"})json"};
  return std::nullopt;
}

bool IsUsableHost(std::string_view host) {
  constexpr size_t kMaxHost = 253 + 6;
  if (host.empty() || host.size() > kMaxHost) return false;
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

void NormalizeAbsoluteTarget(http::request<http::string_body>* req) {
  std::string_view t = req->target();
  if (t.empty() || t.front() == '/' || t == "*") return;
  auto u = boost::urls::parse_absolute_uri(t);
  if (!u) return;
  std::string_view path = u->encoded_path();
  std::string_view query = u->encoded_query();
  std::string origin;
  origin.reserve(path.size() + query.size() + 2);
  origin.append(path.empty() ? std::string_view("/") : path);
  if (u->has_query()) origin.append("?").append(query);
  req->target(origin);
}

}  // namespace parley::net
