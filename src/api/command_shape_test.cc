#include "api/command_shape.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace parley {
namespace {

namespace bj = boost::json;

// ReadCommand of `json`: "<type> <name> <body>", or the errors as JSON text.
std::string Read(std::string_view json, bool guild = false) {
  CommandInput in;
  FormErrors errs;
  bool ok = ReadCommand(bj::parse(json).as_object(), guild, "", &in, &errs);
  EXPECT_EQ(ok, errs.empty());
  if (!ok) return "errors " + bj::serialize(errs.ToError().errors);
  return std::to_string(in.type) + " " + in.name + " " + bj::serialize(in.body);
}

TEST(CommandShape, NormalizesAChatInputCommandWithDiscordsDefaults) {
  EXPECT_EQ(Read(R"({"name":"ping","description":"Replies pong","junk":1})"),
            R"(1 ping {"description":"Replies pong","default_member_permissions":null,)"
            R"("dm_permission":true,"default_permission":true,"nsfw":false,)"
            R"("integration_types":[0],"contexts":null})");
  // Guild commands have no dm_permission; permissions as a number become a
  // string.
  EXPECT_EQ(Read(R"({"name":"ban","description":"d","default_member_permissions":4,)"
                 R"("contexts":[0,0,1],"nsfw":true})",
                 true),
            R"(1 ban {"description":"d","default_member_permissions":"4",)"
            R"("default_permission":true,"nsfw":true,"integration_types":[0],"contexts":[0,1]})");
}

TEST(CommandShape, OptionsKeepTheirFieldsAndOrder) {
  EXPECT_EQ(
      Read(R"({"name":"roll","description":"Dice","options":[
        {"type":4,"name":"sides","description":"How many","required":true,"min_value":2,
         "max_value":100},
        {"type":3,"name":"colour","description":"c","choices":[{"name":"Red","value":"r"}]},
        {"type":7,"name":"where","description":"w","channel_types":[0,5],"required":false},
        {"type":3,"name":"q","description":"q","autocomplete":true,"min_length":0,
         "max_length":50}]})"),
      R"(1 roll {"description":"Dice","options":[)"
      R"({"type":4,"name":"sides","description":"How many","required":true,"min_value":2,"max_value":100},)"
      R"({"type":3,"name":"colour","description":"c","choices":[{"name":"Red","value":"r"}]},)"
      R"({"type":7,"name":"where","description":"w","channel_types":[0,5]},)"
      R"({"type":3,"name":"q","description":"q","autocomplete":true,"min_length":0,"max_length":50}],)"
      R"("default_member_permissions":null,"dm_permission":true,"default_permission":true,)"
      R"("nsfw":false,"integration_types":[0],"contexts":null})");
}

TEST(CommandShape, SubcommandsNestTwoLevelsAndNoDeeper) {
  EXPECT_EQ(Read(R"({"name":"cfg","description":"d","options":[{"type":2,"name":"g",
      "description":"d","options":[{"type":1,"name":"s","description":"d","options":[
      {"type":5,"name":"on","description":"d"}]}]}]})")
                .substr(0, 6),
            "1 cfg ");
  EXPECT_EQ(
      Read(R"({"name":"cfg","description":"d","options":[{"type":1,"name":"s",
      "description":"d","options":[{"type":1,"name":"t","description":"d"}]}]})"),
      R"(errors {"options":{"0":{"options":{"0":{"type":{"_errors":[{"code":)"
      R"("APPLICATION_COMMAND_OPTION_TYPE_INVALID","message":"Invalid option type here"}]}}}}}})");
  // Subcommands and plain options do not mix at one level.
  EXPECT_NE(Read(R"({"name":"x","description":"d","options":[{"type":1,"name":"s",
      "description":"d"},{"type":3,"name":"t","description":"d"}]})")
                .find("APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"),
            std::string::npos);
}

TEST(CommandShape, NamesFollowDiscordsRulesPerType) {
  EXPECT_NE(Read(R"({"name":"Ping","description":"d"})").find("APPLICATION_COMMAND_INVALID_NAME"),
            std::string::npos);
  EXPECT_NE(Read(R"({"name":"a b","description":"d"})").find("APPLICATION_COMMAND_INVALID_NAME"),
            std::string::npos);
  EXPECT_NE(Read("{\"name\":\"\xF0\x9F\x98\x80\",\"description\":\"d\"}")
                .find("APPLICATION_COMMAND_INVALID_NAME"),
            std::string::npos);
  // Letters of other scripts, digits, - _ ' are names.
  EXPECT_EQ(Read("{\"name\":\"\xC3\xA9t\xC3\xA9-2_it's\",\"description\":\"d\"}").substr(0, 2),
            "1 ");
  EXPECT_EQ(Read("{\"name\":\"\xD0\xBF\xD1\x80\xD0\xB8\",\"description\":\"d\"}").substr(0, 2),
            "1 ");
  EXPECT_NE(Read("{\"name\":\"\xD0\x9F\",\"description\":\"d\"}")  // uppercase Cyrillic
                .find("APPLICATION_COMMAND_INVALID_NAME"),
            std::string::npos);
  // User and message commands: any case, spaces, and no description.
  EXPECT_EQ(Read(R"({"type":3,"name":"Quote This"})"),
            R"(3 Quote This {"description":"","default_member_permissions":null,)"
            R"("dm_permission":true,"default_permission":true,"nsfw":false,)"
            R"("integration_types":[0],"contexts":null})");
  EXPECT_NE(Read(R"({"type":2,"name":"Hug","description":"no"})")
                .find("APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION"),
            std::string::npos);
  EXPECT_EQ(Read(R"({"name":"abcdefghijabcdefghijabcdefghijabc","description":"d"})"),
            R"(errors {"name":{"_errors":[{"code":"BASE_TYPE_BAD_LENGTH",)"
            R"("message":"Must be between 1 and 32 in length."}]}})");
}

TEST(CommandShape, ReportsEveryBadFieldAtItsPath) {
  std::string e = Read(R"({"type":9,"description":"","default_member_permissions":"x1",
      "contexts":[7],"options":[{"type":3,"name":"a","description":"d"},
      {"type":3,"name":"b","description":"d","required":true,"choices":[{"name":"n","value":1}]},
      {"type":5,"name":"a","description":"d","autocomplete":true,"min_value":1}]})");
  for (const char* want :
       {R"("type":{"_errors":[{"code":"ENUM_TYPE_COERCE")",
        R"("name":{"_errors":[{"code":"BASE_TYPE_REQUIRED")",
        R"("description":{"_errors":[{"code":"BASE_TYPE_BAD_LENGTH")",
        R"("default_member_permissions":{"_errors":[{"code":"NUMBER_TYPE_COERCE")",
        R"("contexts":{"0":{"_errors":[{"code":"ENUM_TYPE_COERCE")",
        R"("required":{"_errors":[{"code":"APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID")",
        R"("choices":{"0":{"value":{"_errors":[{"code":"BASE_TYPE_BAD_LENGTH")",
        R"("name":{"_errors":[{"code":"APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS")",
        R"("autocomplete":{"_errors":[{"code":"APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID")"})
    EXPECT_NE(e.find(want), std::string::npos) << want << "\nin " << e;
}

TEST(CommandShape, LocalizationsAreCheckedAndCountTowardsTheSize) {
  EXPECT_EQ(
      Read(
          R"({"name":"hi","name_localizations":{"fr":"salut","xx":"y","de":"Hallo"},"description":"d"})"),
      R"(errors {"name_localizations":{"xx":{"_errors":[{"code":"ENUM_TYPE_COERCE",)"
      R"("message":"Value \"xx\" is not a valid enum value."}]},"de":{"_errors":[{"code":)"
      R"("APPLICATION_COMMAND_INVALID_NAME","message":"Command name is invalid"}]}}})");
  // 25 options of 25 choices of 100-character values: over 8000 characters.
  bj::array options;
  for (int i = 0; i < 25; ++i) {
    bj::array choices;
    for (int j = 0; j < 25; ++j)
      choices.push_back({{"name", "c" + std::to_string(j)}, {"value", std::string(100, 'v')}});
    options.push_back({{"type", 3},
                       {"name", "o" + std::to_string(i)},
                       {"description", "d"},
                       {"choices", std::move(choices)}});
  }
  bj::object big{{"name", "big"}, {"description", "d"}, {"options", std::move(options)}};
  EXPECT_NE(Read(bj::serialize(big)).find("APPLICATION_COMMAND_TOO_LARGE"), std::string::npos);
}

TEST(CommandShape, AnEditReplacesOnlyTheFieldsGiven) {
  CommandInput first;
  FormErrors errs;
  ASSERT_TRUE(ReadCommand(bj::parse(R"({"name":"a","description":"one","nsfw":true,
      "description_localizations":{"fr":"un"}})")
                              .as_object(),
                          false, "", &first, &errs));
  ApplicationCommand cur{.id = 5,
                         .application_id = 6,
                         .type = 1,
                         .name = first.name,
                         .version = 7,
                         .body = bj::serialize(first.body)};
  CommandInput edited;
  ASSERT_TRUE(ReadCommandEdit(cur, bj::parse(R"({"description":"two","type":3})").as_object(),
                              &edited, &errs));
  EXPECT_EQ(edited.type, 1);
  EXPECT_EQ(edited.name, "a");
  EXPECT_EQ(edited.body.at("description"), "two");
  EXPECT_EQ(edited.body.at("nsfw"), true);
  EXPECT_EQ(bj::serialize(edited.body.at("description_localizations")), R"({"fr":"un"})");
  // The object Discord returns; GET without ?with_localizations leaves the
  // dictionaries out.
  bj::object o = CommandObject(cur, false);
  EXPECT_EQ(o.at("id"), "5");
  EXPECT_EQ(o.at("application_id"), "6");
  EXPECT_EQ(o.at("version"), "7");
  EXPECT_FALSE(o.contains("guild_id"));
  EXPECT_FALSE(o.contains("description_localizations"));
  EXPECT_EQ(CommandObject(cur, true).at("name_localizations"), nullptr);
}

}  // namespace
}  // namespace parley
