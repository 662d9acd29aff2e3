// How the stores write the parts of a record that are not plain columns:
// one encoding shared by every backend, so that a row copied from one store
// to another means the same thing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/types.h"

namespace parley::store_encoding {

// The username key that makes usernames unique ignoring ASCII case.
std::string AsciiLower(std::string_view s);

// Member roles as ",id1,id2," ("" for none), so that a role id is found by
// searching for ",id,".
std::string EncodeRoles(const std::vector<Snowflake>& roles);
// False if `s` is not such a list (then *out is unspecified).
bool DecodeRoles(std::string_view s, std::vector<Snowflake>* out);

// Channel permission overwrites as "id:type:allow:deny" entries joined by
// ';' ("" for none).
std::string EncodeOverwrites(const std::vector<Overwrite>& ows);
bool DecodeOverwrites(std::string_view s, std::vector<Overwrite>* out);

}  // namespace parley::store_encoding
