// Application commands: reading a command a bot registers, with Discord's
// rules (docs/protocol.md "Application commands"), and writing the command
// object Discord returns.
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "api/api_error.h"
#include "model/types.h"

namespace parley {

// Discord's limits on one application's commands in one scope (global, or
// one guild), by type.
inline constexpr int kMaxChatInputCommands = 100;
inline constexpr int kMaxUserCommands = 15;
inline constexpr int kMaxMessageCommands = 15;
inline constexpr int kMaxEntryPointCommands = 1;
// Name, description, choice names and string values of a command and all of
// its options, in characters (for each, its longest localization).
inline constexpr size_t kMaxCommandChars = 8000;

// The most commands of `type` one scope may hold (0 for an unknown type).
int MaxCommandsOfType(int type);

// A command as a request describes it: the key fields and the rest of the
// object, normalized (ApplicationCommand::body).
struct CommandInput {
  int type = 1;
  std::string name;
  boost::json::object body;
};

// Reads `in` (a create body, or one entry of a bulk overwrite) into *out.
// `guild`: a guild command (dm_permission is then dropped, as Discord
// does). Adds an error per bad field to *errs, each path prefixed with
// `path` ("" for a body, "3" for the fourth entry of an array). Fields
// Discord does not know are ignored. Returns whether no error was added.
// REQUIRES: out and errs are not null.
bool ReadCommand(const boost::json::object& in, bool guild, const std::string& path,
                 CommandInput* out, FormErrors* errs);

// The body of an edit: the stored command `cur` with the fields of `patch`
// replacing its own (type and id cannot change), read as ReadCommand reads.
// REQUIRES: out and errs are not null.
bool ReadCommandEdit(const ApplicationCommand& cur, const boost::json::object& patch,
                     CommandInput* out, FormErrors* errs);

// Discord's application command object. Without `with_localizations` the
// name_localizations and description_localizations are left out (Discord's
// GET without ?with_localizations=true).
boost::json::object CommandObject(const ApplicationCommand& c, bool with_localizations);

}  // namespace parley
