#include "api/embeds.h"

#include <boost/json/serialize.hpp>

#include "util/time_format.h"

namespace parley {

namespace bj = boost::json;

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

namespace {

// Reads one embed; its text fields' characters are added to *chars.
class EmbedReader {
 public:
  EmbedReader(std::string path, FormErrors* errs, size_t* chars)
      : path_(std::move(path)), errs_(errs), chars_(chars) {}

  bj::object Read(const bj::object& in) {
    bj::object out;
    out["type"] = "rich";
    if (auto* v = in.if_contains("type"); v && !v->is_null()) {
      if (auto s = Text(*v, "type", 32)) out["type"] = *s;
    }
    CopyText(in, "title", 256, true, &out);
    CopyText(in, "description", 4096, true, &out);
    CopyUrl(in, "url", "url", &out);
    if (auto* v = in.if_contains("timestamp"); v && !v->is_null()) {
      auto ms = v->is_string() ? ParseIso8601(v->as_string()) : std::nullopt;
      if (ms)
        out["timestamp"] = FormatIso8601(*ms);
      else
        Add("timestamp", "DATE_TIME_TYPE_PARSE",
            "Could not parse " + Quote(*v) + ". Should be ISO8601.");
    }
    if (auto* v = in.if_contains("color"); v && !v->is_null()) {
      if (v->is_int64() && v->as_int64() >= 0 && v->as_int64() <= 0xFFFFFF)
        out["color"] = v->as_int64();
      else if (v->is_uint64() || v->is_int64())
        Add("color", "NUMBER_TYPE_MAX", "int value should be less than or equal to 16777215.");
      else
        Add("color", "NUMBER_TYPE_COERCE", "Value is not int.");
    }
    if (auto* f = Object(in, "footer")) {
      bj::object o;
      Scope scope(this, "footer");
      if (!CopyText(*f, "text", 2048, true, &o))
        Add("text", "BASE_TYPE_REQUIRED", "This field is required");
      CopyUrl(*f, "icon_url", "icon_url", &o);
      out["footer"] = std::move(o);
    }
    for (const char* name : {"image", "thumbnail"}) {
      if (auto* f = Object(in, name)) {
        bj::object o;
        Scope scope(this, name);
        if (!CopyUrl(*f, "url", "url", &o))
          Add("url", "BASE_TYPE_REQUIRED", "This field is required");
        out[name] = std::move(o);
      }
    }
    if (auto* f = Object(in, "author")) {
      bj::object o;
      Scope scope(this, "author");
      if (!CopyText(*f, "name", 256, true, &o))
        Add("name", "BASE_TYPE_REQUIRED", "This field is required");
      CopyUrl(*f, "url", "url", &o);
      CopyUrl(*f, "icon_url", "icon_url", &o);
      out["author"] = std::move(o);
    }
    if (auto* v = in.if_contains("fields"); v && !v->is_null()) {
      if (!v->is_array()) {
        Add("fields", "LIST_TYPE_CONVERT", "Must be an array.");
      } else if (v->as_array().size() > 25) {
        Add("fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
      } else {
        bj::array fields;
        const bj::array& arr = v->as_array();
        for (size_t i = 0; i < arr.size(); ++i) {
          Scope scope(this, "fields." + std::to_string(i));
          if (!arr[i].is_object()) {
            Add("", "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType");
            continue;
          }
          const bj::object& f = arr[i].as_object();
          bj::object o;
          if (!CopyText(f, "name", 256, true, &o))
            Add("name", "BASE_TYPE_REQUIRED", "This field is required");
          if (!CopyText(f, "value", 1024, true, &o))
            Add("value", "BASE_TYPE_REQUIRED", "This field is required");
          o["inline"] = false;
          if (auto* b = f.if_contains("inline"); b && !b->is_null()) {
            if (b->is_bool())
              o["inline"] = b->as_bool();
            else
              Add("inline", "BOOLEAN_TYPE_CONVERT", "Must be either true or false.");
          }
          fields.push_back(std::move(o));
        }
        out["fields"] = std::move(fields);
      }
    }
    return out;
  }

 private:
  // Errors inside it go under path_ + "." + name while it lives.
  class Scope {
   public:
    Scope(EmbedReader* r, const std::string& name) : r_(r), saved_(r->path_) {
      r->path_ += "." + name;
    }
    ~Scope() { r_->path_ = saved_; }

   private:
    EmbedReader* r_;
    std::string saved_;
  };

  void Add(const std::string& field, const std::string& code, const std::string& message) {
    errs_->Add(field.empty() ? path_ : path_ + "." + field, code, message);
  }

  static std::string Quote(const bj::value& v) { return bj::serialize(v); }

  // A string of at most `max` characters, else an error and nullopt.
  std::optional<std::string> Text(const bj::value& v, const std::string& field, size_t max) {
    if (!v.is_string()) {
      Add(field, "STRING_TYPE_CONVERT", "Could not interpret value as string.");
      return std::nullopt;
    }
    std::string s(v.as_string());
    if (CodePoints(s) > max) {
      Add(field, "BASE_TYPE_MAX_LENGTH", "Must be " + std::to_string(max) + " or fewer in length.");
      return std::nullopt;
    }
    return s;
  }

  // Copies in[name] (a string, non-empty) to out[name]; true if it was there
  // (valid or not: the error, if any, is already added).
  bool CopyText(const bj::object& in, const char* name, size_t max, bool counts, bj::object* out) {
    auto* v = in.if_contains(name);
    if (!v || v->is_null()) return false;
    if (auto s = Text(*v, name, max)) {
      if (counts) *chars_ += CodePoints(*s);
      if (!s->empty())
        (*out)[name] = std::move(*s);
      else
        return false;
    }
    return true;
  }

  // A URL: http(s), or attachment:// for an uploaded file's name.
  bool CopyUrl(const bj::object& in, const char* name, const char* out_name, bj::object* out) {
    auto* v = in.if_contains(name);
    if (!v || v->is_null()) return false;
    if (auto s = Text(*v, name, 2048)) {
      std::string_view u = *s;
      if (!u.starts_with("http://") && !u.starts_with("https://") &&
          !u.starts_with("attachment://")) {
        Add(name, "URL_TYPE_INVALID_URL", "Not a well formed URL.");
      } else {
        (*out)[out_name] = std::move(*s);
      }
    }
    return true;
  }

  const bj::object* Object(const bj::object& in, const char* name) {
    auto* v = in.if_contains(name);
    if (!v || v->is_null()) return nullptr;
    if (!v->is_object()) {
      Add(name, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType");
      return nullptr;
    }
    return &v->as_object();
  }

  std::string path_;
  FormErrors* errs_;
  size_t* chars_;
};

}  // namespace

void ReadEmbeds(const bj::value& value, std::string* json, FormErrors* errs) {
  json->clear();
  if (value.is_null()) return;
  if (!value.is_array()) return errs->Add("embeds", "LIST_TYPE_CONVERT", "Must be an array.");
  const bj::array& in = value.as_array();
  if (in.size() > kMaxEmbeds)
    return errs->Add("embeds", "BASE_TYPE_MAX_LENGTH",
                     "Must be " + std::to_string(kMaxEmbeds) + " or fewer in length.");
  if (in.empty()) return;
  bj::array out;
  size_t chars = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    std::string path = "embeds." + std::to_string(i);
    if (!in[i].is_object()) {
      errs->Add(path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType");
      continue;
    }
    out.push_back(EmbedReader(path, errs, &chars).Read(in[i].as_object()));
  }
  if (chars > kMaxEmbedChars)
    errs->Add("embeds", "MAX_EMBED_SIZE_EXCEEDED",
              "Embed size exceeds maximum size of " + std::to_string(kMaxEmbedChars));
  if (errs->empty()) *json = bj::serialize(out);
}

}  // namespace parley
