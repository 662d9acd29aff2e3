// StaticFiles: the browser client (web/) served by the binary. The files
// are read into memory at start-up (the client is small), so event loops
// never touch the disk; each gets its MIME type, an ETag (304 on
// If-None-Match) and caching headers. Paths that name no file are client
// routes (/channels/..., /invite/CODE, /login) and get index.html.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "net/http_server.h"
#include "util/status.h"

namespace parley::web {

class StaticFiles {
 public:
  // Loads every regular file under `root` (recursively; at most 64 MiB in
  // all). Missing `root`: OK with no files (then every path answers 404
  // with a hint).
  Status Load(const std::string& root);

  // Answers a GET or HEAD for a path outside /api. REQUIRES: req is GET or
  // HEAD.
  net::Response Serve(const net::Request& req) const;

  size_t file_count() const { return files_.size(); }

  // The MIME type for a file name ("application/octet-stream" if unknown).
  static std::string_view MimeType(std::string_view name);

  // The Content-Security-Policy sent with index.html.
  static constexpr std::string_view kContentSecurityPolicy =
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

 private:
  struct File {
    std::string body;
    std::string etag;  // quoted
    std::string_view mime;
  };
  std::map<std::string, File, std::less<>> files_;  // by URL path ("/app.js")
};

}  // namespace parley::web
