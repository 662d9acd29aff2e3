#include "api/command_shape.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include "api/embeds.h"
#include "wire/serialize.h"

namespace parley {

namespace bj = boost::json;

int MaxCommandsOfType(int type) {
  switch (type) {
    case 1:
      return kMaxChatInputCommands;
    case 2:
      return kMaxUserCommands;
    case 3:
      return kMaxMessageCommands;
    case 4:
      return kMaxEntryPointCommands;
    default:
      return 0;
  }
}

namespace {

// Option types (Discord's Application Command Option Type).
enum OptionType {
  kSubCommand = 1,
  kSubCommandGroup = 2,
  kString = 3,
  kInteger = 4,
  kBoolean = 5,
  kUser = 6,
  kChannel = 7,
  kRole = 8,
  kMentionable = 9,
  kNumber = 10,
  kAttachment = 11,
};

// INTEGER and NUMBER values lie within ±2^53.
constexpr double kMaxSafe = 9007199254740992.0;

// The locales Discord accepts as localization keys.
const std::set<std::string>& Locales() {
  static const std::set<std::string> k = {
      "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr",    "hr",    "it", "lt",
      "hu", "nl", "no", "pl",    "pt-BR", "ro",    "fi",     "sv-SE", "vi",    "tr", "cs",
      "el", "bg", "ru", "uk",    "hi",    "th",    "zh-CN",  "ja",    "zh-TW", "ko"};
  return k;
}

// The next code point of UTF-8 `s` at *i, or -1 if the bytes are not UTF-8.
int32_t NextCodePoint(std::string_view s, size_t* i) {
  auto c = static_cast<unsigned char>(s[(*i)++]);
  if (c < 0x80) return c;
  int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
  if (n < 0 || *i + n > s.size()) return -1;
  int32_t cp = c & (0x3F >> n);
  for (int k = 0; k < n; ++k) {
    auto d = static_cast<unsigned char>(s[(*i)++]);
    if ((d & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (d & 0x3F);
  }
  return cp;
}

// Whether code point `cp` may appear in a CHAT_INPUT command or option name:
// Discord's ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$, lowercase where
// a lowercase form exists. Outside ASCII this approximates the Unicode
// classes by ranges: punctuation, symbols, emoji, combining marks of other
// scripts and the uppercase letters of Latin-1, Greek and Cyrillic are
// refused; every other letter or digit is taken.
bool NameCodePoint(int32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || cp == '-' || cp == '_' ||
           cp == '\'';
  }
  if (cp < 0xC0) {  // Latin-1 punctuation, but for its letters and digits
    return cp == 0xAA || cp == 0xB2 || cp == 0xB3 || cp == 0xB5 || cp == 0xB9 || cp == 0xBA ||
           (cp >= 0xBC && cp <= 0xBE);
  }
  if (cp <= 0xDE || cp == 0xF7) return false;      // uppercase Latin-1, × and ÷
  if (cp >= 0x0300 && cp <= 0x036F) return false;  // combining diacritics
  if (cp >= 0x0391 && cp <= 0x03A9) return false;  // uppercase Greek
  if (cp >= 0x0400 && cp <= 0x042F) return false;  // uppercase Cyrillic
  if (cp >= 0x2000 && cp <= 0x206F) return false;  // general punctuation, spaces
  if (cp >= 0x20A0 && cp <= 0x20FF) return false;  // currency, combining marks
  if (cp >= 0x2190 && cp <= 0x2BFF) return false;  // arrows, math, shapes, dingbats
  if ((cp >= 0x3000 && cp <= 0x3004) || (cp >= 0x3008 && cp <= 0x303F)) return false;
  if (cp >= 0xFE00 && cp <= 0xFE0F) return false;  // variation selectors
  if (cp == 0xFEFF || (cp >= 0xFFF0 && cp <= 0xFFFF)) return false;
  if (cp >= 0x1F000 && cp <= 0x1FAFF) return false;  // emoji and pictographs
  if (cp >= 0xE0000) return false;                   // tags, private use
  return true;
}

// Reads one command (or option) into a normalized object.
class CommandReader {
 public:
  CommandReader(FormErrors* errs, std::string path) : errs_(errs), path_(std::move(path)) {}

  size_t chars() const { return chars_; }

  void Add(const std::string& field, const std::string& code, const std::string& message) {
    std::string p = path_;
    if (!field.empty()) p = p.empty() ? field : p + "." + field;
    errs_->Add(p, code, message);
  }

  // A path one level down, for the duration of the scope.
  class Scope {
   public:
    Scope(CommandReader* r, const std::string& field) : r_(r), saved_(r->path_) {
      r->path_ = saved_.empty() ? field : saved_ + "." + field;
    }
    ~Scope() { r_->path_ = saved_; }

   private:
    CommandReader* r_;
    std::string saved_;
  };

  // A text field of 1..max characters, CHAT_INPUT name rules when
  // `strict`. Returns "" after adding an error.
  std::string Text(const bj::value* v, const std::string& field, size_t max, bool strict) {
    if (!v || v->is_null()) {
      Add(field, "BASE_TYPE_REQUIRED", "This field is required");
      return "";
    }
    if (!v->is_string()) {
      Add(field, "STRING_TYPE_CONVERT", "Could not interpret value as string.");
      return "";
    }
    std::string s(v->as_string());
    size_t n = CodePoints(s);
    if (n < 1 || n > max) {
      Add(field, "BASE_TYPE_BAD_LENGTH",
          "Must be between 1 and " + std::to_string(max) + " in length.");
      return "";
    }
    if (strict && !StrictName(s)) {
      Add(field, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid");
      return "";
    }
    return s;
  }
  // A command or option name.
  std::string Name(const bj::value* v, const std::string& field, bool strict) {
    return Text(v, field, 32, strict);
  }

  // A description of 1..100 characters (or "" where `empty_only`).
  std::string Description(const bj::value* v, const std::string& field, bool empty_only) {
    if (empty_only) {
      if (v && !v->is_null() && !(v->is_string() && v->as_string().empty()))
        Add(field, "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
            "Context menu commands cannot have description");
      return "";
    }
    return Text(v, field, 100, false);
  }

  // A localization dictionary (locale -> text of 1..max characters, strict
  // as for Text) for a field whose default is `base`; copied to out[field]
  // unless null or absent. The size counts the longest of base and its
  // localizations.
  void Localizations(const bj::object& in, const char* field, const std::string& base, size_t max,
                     bool strict, bj::object* out) {
    size_t longest = CodePoints(base);
    auto* v = in.if_contains(field);
    if (v && !v->is_null()) {
      if (!v->is_object()) {
        Add(field, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType");
      } else {
        bj::object dict;
        Scope scope(this, field);
        for (const auto& [k, text] : v->as_object()) {
          std::string locale(k);
          if (!Locales().count(locale)) {
            Add(locale, "ENUM_TYPE_COERCE", "Value \"" + locale + "\" is not a valid enum value.");
            continue;
          }
          std::string t = Text(&text, locale, max, strict);
          if (t.empty()) continue;
          longest = std::max(longest, CodePoints(t));
          dict[locale] = t;
        }
        (*out)[field] = std::move(dict);
      }
    }
    chars_ += longest;
  }

  // A bool field, copied when present.
  void Bool(const bj::object& in, const char* field, bj::object* out) {
    auto* v = in.if_contains(field);
    if (!v || v->is_null()) return;
    if (!v->is_bool()) return Add(field, "BOOLEAN_TYPE_CONVERT", "Must be either true or false.");
    (*out)[field] = v->as_bool();
  }

  // An array of small enum values from `allowed`, copied (null when null).
  void EnumArray(const bj::object& in, const char* field, const std::set<int64_t>& allowed,
                 bj::object* out) {
    auto* v = in.if_contains(field);
    if (!v) return;
    if (v->is_null()) {
      (*out)[field] = nullptr;
      return;
    }
    if (!v->is_array()) return Add(field, "LIST_TYPE_CONVERT", "Must be an array.");
    bj::array a;
    std::set<int64_t> seen;
    Scope scope(this, field);
    for (size_t i = 0; i < v->as_array().size(); ++i) {
      const bj::value& e = v->as_array()[i];
      if (!e.is_int64() || !allowed.count(e.as_int64())) {
        Add(std::to_string(i), "ENUM_TYPE_COERCE",
            "Value \"" + bj::serialize(e) + "\" is not a valid enum value.");
        continue;
      }
      if (seen.insert(e.as_int64()).second) a.push_back(e.as_int64());
    }
    (*out)[field] = std::move(a);
  }

  // options: an array of option objects, at `depth` 0 (a command's own),
  // 1 (a subcommand group's or subcommand's) or 2 (a grouped subcommand's).
  void Options(const bj::value* v, int depth, bool in_group, bj::object* out) {
    if (!v || v->is_null()) return;
    if (!v->is_array()) return Add("options", "LIST_TYPE_CONVERT", "Must be an array.");
    const bj::array& in = v->as_array();
    if (in.size() > 25)
      return Add("options", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
    bj::array opts;
    std::set<std::string> names;
    bool optional_seen = false, subs = false, plain = false;
    Scope scope(this, "options");
    for (size_t i = 0; i < in.size(); ++i) {
      Scope item(this, std::to_string(i));
      if (!in[i].is_object()) {
        Add("", "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType");
        continue;
      }
      bj::object o = Option(in[i].as_object(), depth, in_group);
      if (o.empty()) continue;
      int64_t type = o["type"].as_int64();
      bool is_sub = type == kSubCommand || type == kSubCommandGroup;
      (is_sub ? subs : plain) = true;
      const std::string name(o["name"].as_string());
      if (!names.insert(name).second)
        Add("name", "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
            "Option names must be unique");
      bool required = o.contains("required");
      if (!is_sub && required && optional_seen)
        Add("required", "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
            "Required options must be placed before non-required options");
      if (!is_sub && !required) optional_seen = true;
      opts.push_back(std::move(o));
    }
    if (subs && plain)
      Add("", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
          "Sub-command and sub-command group option types are mutually exclusive to all other "
          "types");
    if (!opts.empty()) (*out)["options"] = std::move(opts);
  }

 private:
  static bool StrictName(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      int32_t cp = NextCodePoint(s, &i);
      if (cp < 0 || !NameCodePoint(cp)) return false;
    }
    return true;
  }

  // One option; empty after an error that leaves nothing to check.
  bj::object Option(const bj::object& in, int depth, bool in_group) {
    bj::object o;
    auto* tv = in.if_contains("type");
    if (!tv || !tv->is_int64() || tv->as_int64() < kSubCommand || tv->as_int64() > kAttachment) {
      if (!tv || tv->is_null())
        Add("type", "BASE_TYPE_REQUIRED", "This field is required");
      else
        Add("type", "ENUM_TYPE_COERCE",
            "Value \"" + bj::serialize(*tv) + "\" is not a valid enum value.");
      return {};
    }
    const int64_t type = tv->as_int64();
    // A group holds subcommands only; a subcommand holds no subcommands;
    // nothing nests deeper than group -> subcommand -> option.
    if ((type == kSubCommandGroup && (depth > 0)) ||
        (type == kSubCommand && depth > 0 && !in_group) || (type == kSubCommand && depth > 1) ||
        (in_group && depth == 1 && type != kSubCommand)) {
      Add("type", "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Invalid option type here");
      return {};
    }
    o["type"] = type;
    std::string name = Name(in.if_contains("name"), "name", true);
    if (name.empty()) return {};
    o["name"] = name;
    Localizations(in, "name_localizations", name, 32, true, &o);
    std::string description = Description(in.if_contains("description"), "description", false);
    o["description"] = description;
    Localizations(in, "description_localizations", description, 100, false, &o);
    const bool sub = type == kSubCommand || type == kSubCommandGroup;
    if (sub) {
      Options(in.if_contains("options"), depth + 1, type == kSubCommandGroup, &o);
      return o;
    }
    if (auto* v = in.if_contains("options"); v && v->is_array() && !v->as_array().empty())
      Add("options", "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Only sub-commands have options");
    if (auto* v = in.if_contains("required"); v && !v->is_null()) {
      if (!v->is_bool())
        Add("required", "BOOLEAN_TYPE_CONVERT", "Must be either true or false.");
      else if (v->as_bool())
        o["required"] = true;
    }
    const bool valued = type == kString || type == kInteger || type == kNumber;
    bool has_choices = false;
    if (auto* v = in.if_contains("choices"); v && !v->is_null()) {
      if (!valued) {
        Add("choices", "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
            "Choices are only allowed for string, integer and number options");
      } else if (!v->is_array()) {
        Add("choices", "LIST_TYPE_CONVERT", "Must be an array.");
      } else if (v->as_array().size() > 25) {
        Add("choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
      } else {
        bj::array choices;
        Scope scope(this, "choices");
        for (size_t i = 0; i < v->as_array().size(); ++i) {
          Scope item(this, std::to_string(i));
          const bj::value& c = v->as_array()[i];
          if (!c.is_object()) {
            Add("", "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType");
            continue;
          }
          if (auto ch = Choice(c.as_object(), type); !ch.empty()) choices.push_back(std::move(ch));
        }
        has_choices = !choices.empty();
        if (has_choices) o["choices"] = std::move(choices);
      }
    }
    if (auto* v = in.if_contains("autocomplete"); v && !v->is_null()) {
      if (!v->is_bool()) {
        Add("autocomplete", "BOOLEAN_TYPE_CONVERT", "Must be either true or false.");
      } else if (v->as_bool()) {
        if (!valued)
          Add("autocomplete", "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
              "Autocomplete is only allowed for string, integer and number options");
        else if (has_choices)
          Add("autocomplete", "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES",
              "Autocomplete cannot be set with choices");
        else
          o["autocomplete"] = true;
      }
    }
    if (type == kChannel) {
      static const std::set<int64_t> kChannelTypes = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16};
      EnumArray(in, "channel_types", kChannelTypes, &o);
      if (o.contains("channel_types") && o["channel_types"].is_null()) o.erase("channel_types");
    }
    if (type == kInteger || type == kNumber) {
      for (const char* f : {"min_value", "max_value"}) {
        auto* v = in.if_contains(f);
        if (!v || v->is_null()) continue;
        bool num = v->is_int64() || v->is_uint64() || v->is_double();
        double d = num ? v->to_number<double>() : 0;
        if (!num || (type == kInteger && v->is_double() && d != std::floor(d)))
          Add(f, "NUMBER_TYPE_COERCE",
              type == kInteger ? "Value is not int." : "Value is not a number.");
        else if (std::fabs(d) > kMaxSafe)
          Add(f, "NUMBER_TYPE_MAX", "Must be between -2^53 and 2^53.");
        else if (type == kInteger)
          o[f] = static_cast<int64_t>(d);
        else
          o[f] = *v;
      }
      if (o.contains("min_value") && o.contains("max_value") &&
          o["min_value"].to_number<double>() > o["max_value"].to_number<double>())
        Add("max_value", "NUMBER_TYPE_MIN", "Must be greater than or equal to min_value.");
    }
    if (type == kString) {
      const std::pair<const char*, int64_t> lims[] = {{"min_length", 0}, {"max_length", 1}};
      for (auto [f, lo] : lims) {
        auto* v = in.if_contains(f);
        if (!v || v->is_null()) continue;
        if (!v->is_int64() || v->as_int64() < lo || v->as_int64() > 6000)
          Add(f, "NUMBER_TYPE_MAX", "Must be between " + std::to_string(lo) + " and 6000.");
        else
          o[f] = v->as_int64();
      }
    }
    return o;
  }

  bj::object Choice(const bj::object& in, int64_t type) {
    bj::object c;
    // Choice names may use any characters.
    std::string name = Text(in.if_contains("name"), "name", 100, false);
    if (name.empty()) return {};
    c["name"] = name;
    Localizations(in, "name_localizations", name, 100, false, &c);
    auto* v = in.if_contains("value");
    if (!v || v->is_null()) {
      Add("value", "BASE_TYPE_REQUIRED", "This field is required");
      return {};
    }
    if (type == kString) {
      if (!v->is_string() || CodePoints(v->as_string()) < 1 || CodePoints(v->as_string()) > 100) {
        Add("value", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.");
        return {};
      }
      chars_ += CodePoints(v->as_string());
      c["value"] = *v;
    } else {
      bool num = v->is_int64() || v->is_uint64() || v->is_double();
      double d = num ? v->to_number<double>() : 0;
      if (!num || (type == kInteger && v->is_double() && d != std::floor(d)) ||
          std::fabs(d) > kMaxSafe) {
        Add("value", "NUMBER_TYPE_COERCE",
            type == kInteger ? "Value is not int." : "Value is not a number.");
        return {};
      }
      c["value"] = type == kInteger ? bj::value(static_cast<int64_t>(d)) : *v;
    }
    return c;
  }

  FormErrors* errs_;
  std::string path_;
  size_t chars_ = 0;
};

}  // namespace

bool ReadCommand(const bj::object& in, bool guild, const std::string& path, CommandInput* out,
                 FormErrors* errs) {
  const size_t errors_before = errs->count();
  CommandReader r(errs, path);
  *out = CommandInput();
  bj::object& body = out->body;
  if (auto* v = in.if_contains("type"); v && !v->is_null()) {
    if (!v->is_int64() || MaxCommandsOfType(static_cast<int>(v->as_int64())) == 0) {
      r.Add("type", "ENUM_TYPE_COERCE",
            "Value \"" + bj::serialize(*v) + "\" is not a valid enum value.");
    } else {
      out->type = static_cast<int>(v->as_int64());
    }
  }
  const bool chat = out->type == 1;
  out->name = r.Name(in.if_contains("name"), "name", chat);
  r.Localizations(in, "name_localizations", out->name, 32, chat, &body);
  std::string description = r.Description(in.if_contains("description"), "description", !chat);
  body["description"] = description;
  if (chat) r.Localizations(in, "description_localizations", description, 100, false, &body);
  if (chat) {
    r.Options(in.if_contains("options"), 0, false, &body);
  } else if (auto* v = in.if_contains("options"); v && v->is_array() && !v->as_array().empty()) {
    r.Add("options", "APPLICATION_COMMAND_OPTIONS_INVALID",
          "Only chat input commands can have options");
  }
  // default_member_permissions: a bit set as a decimal string (Discord also
  // takes a number), or null for everyone.
  body["default_member_permissions"] = nullptr;
  if (auto* v = in.if_contains("default_member_permissions"); v && !v->is_null()) {
    std::optional<uint64_t> bits;
    if (v->is_string()) {
      const auto& s = v->as_string();
      if (!s.empty() && s.size() <= 20 && s.find_first_not_of("0123456789") == bj::string::npos) {
        errno = 0;
        unsigned long long n = std::strtoull(s.c_str(), nullptr, 10);
        if (errno == 0) bits = n;
      }
    } else if (v->is_int64() && v->as_int64() >= 0) {
      bits = static_cast<uint64_t>(v->as_int64());
    } else if (v->is_uint64()) {
      bits = v->as_uint64();
    }
    if (bits)
      body["default_member_permissions"] = std::to_string(*bits);
    else
      r.Add("default_member_permissions", "NUMBER_TYPE_COERCE", "Value is not int.");
  }
  if (!guild) {
    body["dm_permission"] = true;
    r.Bool(in, "dm_permission", &body);
  }
  body["default_permission"] = true;
  r.Bool(in, "default_permission", &body);
  body["nsfw"] = false;
  r.Bool(in, "nsfw", &body);
  body["integration_types"] = bj::array{0};
  r.EnumArray(in, "integration_types", {0, 1}, &body);
  if (body["integration_types"].is_null()) body["integration_types"] = bj::array{0};
  body["contexts"] = nullptr;
  r.EnumArray(in, "contexts", {0, 1, 2}, &body);
  if (out->type == 4) {
    body["handler"] = 1;
    if (auto* v = in.if_contains("handler"); v && !v->is_null()) {
      if (v->is_int64() && (v->as_int64() == 1 || v->as_int64() == 2))
        body["handler"] = v->as_int64();
      else
        r.Add("handler", "ENUM_TYPE_COERCE",
              "Value \"" + bj::serialize(*v) + "\" is not a valid enum value.");
    }
  }
  if (errs->count() == errors_before && r.chars() > kMaxCommandChars)
    r.Add("", "APPLICATION_COMMAND_TOO_LARGE",
          "Command exceeds maximum size (" + std::to_string(kMaxCommandChars) + ")");
  return errs->count() == errors_before;
}

bool ReadCommandEdit(const ApplicationCommand& cur, const bj::object& patch, CommandInput* out,
                     FormErrors* errs) {
  bj::object merged = CommandObject(cur, /*with_localizations=*/true);
  for (const auto& [k, v] : patch) {
    if (k == "type" || k == "id" || k == "application_id" || k == "guild_id" || k == "version")
      continue;
    merged[k] = v;
  }
  return ReadCommand(merged, cur.guild_id != 0, "", out, errs);
}

bj::object CommandObject(const ApplicationCommand& c, bool with_localizations) {
  bj::object o;
  o["id"] = json::Id(c.id);
  o["application_id"] = json::Id(c.application_id);
  o["version"] = json::Id(c.version);
  o["type"] = c.type;
  o["name"] = c.name;
  if (c.guild_id) o["guild_id"] = json::Id(c.guild_id);
  boost::system::error_code ec;
  bj::value body = bj::parse(c.body, ec);
  if (!ec && body.is_object()) {
    for (auto& [k, v] : body.as_object()) {
      if (!with_localizations && (k == "name_localizations" || k == "description_localizations"))
        continue;
      o[k] = std::move(v);
    }
  }
  if (with_localizations) {
    if (!o.contains("name_localizations")) o["name_localizations"] = nullptr;
    if (!o.contains("description_localizations")) o["description_localizations"] = nullptr;
  }
  if (!o.contains("description")) o["description"] = "";
  return o;
}

}  // namespace parley
