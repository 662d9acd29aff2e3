// What HttpServer checks of a request before it reaches a handler, as pure
// functions (shared with fuzz/http_request_fuzz.cc, tested beside them).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>

namespace parley::net {

namespace http = boost::beast::http;

// A request the server refuses after its header: the status and Discord's
// JSON body. The connection closes after the reply.
struct Refusal {
  unsigned status;
  const char* body;
};

// RFC 9112 6.3: a request whose Transfer-Encoding does not end in "chunked"
// cannot be framed (400); codings other than chunked are not implemented
// (501); Transfer-Encoding together with Content-Length is a smuggling
// attempt (400). nullopt when the framing is sound.
std::optional<Refusal> FramingRefusal(const http::request_header<>& req);

// RFC 9112 3.2.2: a server accepts the absolute form of a target
// ("GET http://host/api/v10/gateway"); routing sees its path and query.
// Origin-form targets are left as they are; a target that is neither is
// left for routing to answer 404.
void NormalizeAbsoluteTarget(http::request<http::string_body>* req);

// A Host header fit to be echoed into a URL (the gateway's): a name or
// address and an optional port, at most 253 + ":65535" bytes, of letters,
// digits and "-._:[]" only (RFC 1035 names, IPv6 literals in brackets).
// Anything else (a 15 KB header, bytes that are not ASCII) is not used.
bool IsUsableHost(std::string_view host);

}  // namespace parley::net
