// Application commands: a bot registers its slash, user and message
// commands, globally or in one guild it is in (Discord's
// /applications/{id}/commands and /applications/{id}/guilds/{id}/commands).
// Every change is decided on the writer thread (CommitBuilt) against the
// commands committed before it: names stay unique per scope and type, and
// the per-type limits hold under concurrent requests.
#include <boost/json/serialize.hpp>
#include <map>

#include "api/command_shape.h"
#include "api/handlers.h"

namespace parley::handlers {

namespace bj = boost::json;

namespace {

// The scope of a command route: the caller's own application (params[0]),
// and for guild routes a guild it is a member of (params[1]). nullopt
// after failing the call.
std::optional<CommandScope> ScopeOf(Api& api, const CallPtr& call, bool guild) {
  if (!OwnApplication(call)) return std::nullopt;
  CommandScope scope{call->user->id, 0};
  if (guild) {
    auto g = MemberGuild(api, call, 1);
    if (!g) return std::nullopt;
    scope.guild_id = g->id;
  }
  return scope;
}

// params index of the command id.
size_t CommandParam(bool guild) {
  return guild ? 2 : 1;
}

const ApiError& UnknownCommand() {
  static const ApiError e{404, 10063, "Unknown application command", {}};
  return e;
}

ApiError TooManyCommands(int type) {
  return {400,
          30032,
          "Maximum number of application commands reached (" +
              std::to_string(MaxCommandsOfType(type)) + ")",
          {}};
}

std::string Body(const CommandInput& in) {
  return bj::serialize(in.body);
}

// The stored command for `in` in `scope`: `existing` kept (its id, and its
// version if nothing changed), or a new one.
ApplicationCommand Make(Api& api, const CommandScope& scope, const CommandInput& in,
                        const ApplicationCommand* existing, bool* changed) {
  ApplicationCommand c;
  if (existing) c = *existing;
  std::string body = Body(in);
  *changed = !existing || existing->name != in.name || existing->body != body;
  if (!existing) {
    c.id = api.ids().Next();
    c.application_id = scope.application_id;
    c.guild_id = scope.guild_id;
    c.type = in.type;
  }
  c.name = in.name;
  c.body = std::move(body);
  if (*changed) c.version = api.ids().Next();
  return c;
}

const ApplicationCommand* FindByName(const std::vector<ApplicationCommand>& cmds, int type,
                                     const std::string& name) {
  for (const auto& c : cmds)
    if (c.type == type && c.name == name) return &c;
  return nullptr;
}

const ApplicationCommand* FindById(const std::vector<ApplicationCommand>& cmds, Snowflake id) {
  for (const auto& c : cmds)
    if (c.id == id) return &c;
  return nullptr;
}

void List(Api& api, const CallPtr& call, bool guild) {
  auto scope = ScopeOf(api, call, guild);
  if (!scope) return;
  const bool loc = call->QueryParam("with_localizations") == "true";
  bj::array out;
  for (const auto& c : api.state().Commands(*scope)) out.push_back(CommandObject(c, loc));
  call->Reply(200, out);
}

void Get(Api& api, const CallPtr& call, bool guild) {
  auto scope = ScopeOf(api, call, guild);
  if (!scope) return;
  auto id = ParamId(call, CommandParam(guild), UnknownCommand());
  if (!id) return;
  auto cmds = api.state().Commands(*scope);
  const ApplicationCommand* c = FindById(cmds, *id);
  if (!c) return call->Fail(UnknownCommand());
  call->Reply(200, CommandObject(*c, true));
}

// POST: creates the command, or replaces the one of the same name and type
// (200 then, 201 for a new one).
void Create(Api& api, const CallPtr& call, bool guild) {
  auto scope = ScopeOf(api, call, guild);
  if (!scope) return;
  bj::object body;
  if (!call->ParseBody(&body)) return;
  CommandInput in;
  FormErrors errs;
  if (!ReadCommand(body, guild, "", &in, &errs)) return call->Fail(errs.ToError());
  api.CommitBuilt(call, [&api, s = *scope, in = std::move(in)]() -> Built {
    auto cmds = api.state().Commands(s);
    const ApplicationCommand* existing = FindByName(cmds, in.type, in.name);
    if (!existing) {
      int of_type = 0;
      for (const auto& c : cmds) of_type += c.type == in.type;
      if (of_type >= MaxCommandsOfType(in.type)) return Built::Fail(TooManyCommands(in.type));
    }
    bool changed = false;
    ApplicationCommand c = Make(api, s, in, existing, &changed);
    Built b;
    if (changed) b.batch.push_back(mut::PutCommand{c});
    b.status = existing ? 200 : 201;
    b.body = bj::serialize(CommandObject(c, true));
    return b;
  });
}

// PUT: the scope's commands become exactly the array's; each entry keeps
// the id of the command it names (by id, else by name and type).
void Overwrite(Api& api, const CallPtr& call, bool guild) {
  auto scope = ScopeOf(api, call, guild);
  if (!scope) return;
  bj::array body;
  if (!call->ParseArrayBody(&body)) return;
  FormErrors errs;
  std::vector<CommandInput> ins(body.size());
  std::vector<std::optional<Snowflake>> ids(body.size());
  std::map<std::pair<int, std::string>, size_t> names;
  std::map<int, int> per_type;
  for (size_t i = 0; i < body.size(); ++i) {
    const std::string path = std::to_string(i);
    if (!body[i].is_object()) {
      errs.Add(path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType");
      continue;
    }
    const bj::object& o = body[i].as_object();
    if (!ReadCommand(o, guild, path, &ins[i], &errs)) continue;
    if (auto* v = o.if_contains("id"); v && !v->is_null())
      if (v->is_string()) ids[i] = ParseSnowflake(v->as_string());
    if (!names.emplace(std::make_pair(ins[i].type, ins[i].name), i).second)
      errs.Add(path + ".name", "APPLICATION_COMMANDS_DUPLICATE_NAME",
               "Application command names must be unique");
    ++per_type[ins[i].type];
  }
  if (!errs.empty()) return call->Fail(errs.ToError());
  for (auto [type, n] : per_type)
    if (n > MaxCommandsOfType(type)) return call->Fail(TooManyCommands(type));
  api.CommitBuilt(call, [&api, s = *scope, ins = std::move(ins), ids = std::move(ids)]() -> Built {
    auto cmds = api.state().Commands(s);
    Built b;
    std::vector<Snowflake> kept;
    bj::array out;
    for (size_t i = 0; i < ins.size(); ++i) {
      const ApplicationCommand* existing = ids[i] ? FindById(cmds, *ids[i]) : nullptr;
      if (existing && existing->type != ins[i].type) existing = nullptr;
      if (!existing) existing = FindByName(cmds, ins[i].type, ins[i].name);
      // One stored command answers one entry at most.
      if (existing && std::find(kept.begin(), kept.end(), existing->id) != kept.end())
        existing = nullptr;
      bool changed = false;
      ApplicationCommand c = Make(api, s, ins[i], existing, &changed);
      kept.push_back(c.id);
      if (changed) b.batch.push_back(mut::PutCommand{c});
      out.push_back(CommandObject(c, true));
    }
    // Deletes first: a renamed entry may take a deleted one's name.
    WriteBatch deletes;
    for (const auto& c : cmds)
      if (std::find(kept.begin(), kept.end(), c.id) == kept.end())
        deletes.push_back(mut::DeleteCommand{s.application_id, s.guild_id, c.id});
    b.batch.insert(b.batch.begin(), deletes.begin(), deletes.end());
    b.status = 200;
    b.body = bj::serialize(out);
    return b;
  });
}

// PATCH: the fields given replace the command's own.
void Edit(Api& api, const CallPtr& call, bool guild) {
  auto scope = ScopeOf(api, call, guild);
  if (!scope) return;
  auto id = ParamId(call, CommandParam(guild), UnknownCommand());
  if (!id) return;
  bj::object patch;
  if (!call->ParseBody(&patch)) return;
  api.CommitBuilt(call, [&api, s = *scope, id = *id, patch = std::move(patch)]() -> Built {
    auto cmds = api.state().Commands(s);
    const ApplicationCommand* cur = FindById(cmds, id);
    if (!cur) return Built::Fail(UnknownCommand());
    CommandInput in;
    FormErrors errs;
    if (!ReadCommandEdit(*cur, patch, &in, &errs)) return Built::Fail(errs.ToError());
    if (const ApplicationCommand* other = FindByName(cmds, in.type, in.name);
        other && other->id != id) {
      errs.Add("name", "APPLICATION_COMMANDS_DUPLICATE_NAME",
               "Application command names must be unique");
      return Built::Fail(errs.ToError());
    }
    bool changed = false;
    ApplicationCommand c = Make(api, s, in, cur, &changed);
    Built b;
    if (changed) b.batch.push_back(mut::PutCommand{c});
    b.status = 200;
    b.body = bj::serialize(CommandObject(c, true));
    return b;
  });
}

void Delete(Api& api, const CallPtr& call, bool guild) {
  auto scope = ScopeOf(api, call, guild);
  if (!scope) return;
  auto id = ParamId(call, CommandParam(guild), UnknownCommand());
  if (!id) return;
  api.CommitBuilt(call, [&api, s = *scope, id = *id]() -> Built {
    if (!FindById(api.state().Commands(s), id)) return Built::Fail(UnknownCommand());
    Built b;
    b.batch.push_back(mut::DeleteCommand{s.application_id, s.guild_id, id});
    return b;  // 204
  });
}

}  // namespace

void ListGlobalCommands(Api& api, const CallPtr& call) {
  List(api, call, false);
}
void CreateGlobalCommand(Api& api, const CallPtr& call) {
  Create(api, call, false);
}
void OverwriteGlobalCommands(Api& api, const CallPtr& call) {
  Overwrite(api, call, false);
}
void GetGlobalCommand(Api& api, const CallPtr& call) {
  Get(api, call, false);
}
void EditGlobalCommand(Api& api, const CallPtr& call) {
  Edit(api, call, false);
}
void DeleteGlobalCommand(Api& api, const CallPtr& call) {
  Delete(api, call, false);
}

void ListGuildCommands(Api& api, const CallPtr& call) {
  List(api, call, true);
}
void CreateGuildCommand(Api& api, const CallPtr& call) {
  Create(api, call, true);
}
void OverwriteGuildCommands(Api& api, const CallPtr& call) {
  Overwrite(api, call, true);
}
void GetGuildCommand(Api& api, const CallPtr& call) {
  Get(api, call, true);
}
void EditGuildCommand(Api& api, const CallPtr& call) {
  Edit(api, call, true);
}
void DeleteGuildCommand(Api& api, const CallPtr& call) {
  Delete(api, call, true);
}

// Command permissions: Parley keeps none, so every command has the
// defaults (default_member_permissions); the list is empty and one
// command's entry is Discord's 10066.
void ListCommandPermissions(Api& api, const CallPtr& call) {
  if (ScopeOf(api, call, true)) call->Reply(200, bj::array());
}

void GetCommandPermissions(Api& api, const CallPtr& call) {
  auto scope = ScopeOf(api, call, true);
  if (!scope) return;
  auto id = ParamId(call, 2, UnknownCommand());
  if (!id) return;
  if (!FindById(api.state().Commands(*scope), *id)) return call->Fail(UnknownCommand());
  call->Fail({404, 10066, "Unknown application command permissions", {}});
}

// Discord takes permission edits only with a Bearer token of a guild
// manager (scope applications.commands.permissions.update), never a bot's.
void EditCommandPermissions(Api& api, const CallPtr& call) {
  if (ScopeOf(api, call, true)) call->Fail(ApiError::MissingAccess());
}

}  // namespace parley::handlers
