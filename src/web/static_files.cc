#include "web/static_files.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace parley::web {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

namespace {
constexpr size_t kMaxTotalBytes = 64u << 20;

// FNV-1a, 64 bits: an ETag only needs to change when the bytes do.
uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

std::string_view StaticFiles::MimeType(std::string_view name) {
  struct Entry {
    std::string_view ext, mime;
  };
  static constexpr Entry kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  };
  for (const Entry& e : kTypes)
    if (EndsWith(name, e.ext)) return e.mime;
  return "application/octet-stream";
}

Status StaticFiles::Load(const std::string& root) {
  files_.clear();
  std::error_code ec;
  if (root.empty() || !fs::is_directory(root, ec)) return Status::OK();
  size_t total = 0;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string rel = fs::relative(it->path(), root, ec).generic_string();
    if (ec || rel.empty() || rel.starts_with("..")) continue;
    // Dot files (editor droppings, .gitkeep) are not served.
    if (rel.front() == '.' || rel.find("/.") != std::string::npos) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    if (!in && !in.eof()) return Status::IOError("cannot read " + it->path().string());
    File f;
    f.body = buf.str();
    total += f.body.size();
    if (total > kMaxTotalBytes)
      return Status::InvalidArgument("web root holds more than 64 MiB: " + root);
    f.etag = fmt::format("\"{:016x}\"", Fnv1a(f.body));
    f.mime = MimeType(rel);
    files_.emplace("/" + rel, std::move(f));
  }
  if (ec) return Status::IOError("cannot list " + root + ": " + ec.message());
  return Status::OK();
}

net::Response StaticFiles::Serve(const net::Request& req) const {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  auto it = files_.find(path);
  bool is_index = false;
  if (it == files_.end()) {
    // A client route: the app decides what to show.
    it = files_.find(std::string_view("/index.html"));
    is_index = true;
  } else {
    // Every page (not only the app's) gets the page headers below.
    is_index = it->second.mime.starts_with("text/html");
  }
  net::Response res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::server, "parley");
  if (it == files_.end()) {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "Not found. (This Parley has no web client: see --web-root.)\n";
    return res;
  }
  const File& f = it->second;
  res.set(http::field::etag, f.etag);
  res.set(http::field::content_type, f.mime);
  res.set("X-Content-Type-Options", "nosniff");
  if (is_index) {
    // The page itself is revalidated every time (it names the current app);
    // assets too (see below), by ETag.
    res.set(http::field::cache_control, "no-cache");
    res.set("Content-Security-Policy", kContentSecurityPolicy);
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Frame-Options", "DENY");
  } else {
    // Revalidated on every load (304 when unchanged): an upgraded server
    // never pairs a new page with stale cached modules.
    res.set(http::field::cache_control, "no-cache");
  }
  if (req[http::field::if_none_match] == f.etag) {
    res.result(http::status::not_modified);
    return res;
  }
  res.result(http::status::ok);
  if (req.method() == http::verb::head) {
    res.content_length(f.body.size());
  } else {
    res.body() = f.body;
  }
  return res;
}

}  // namespace parley::web
