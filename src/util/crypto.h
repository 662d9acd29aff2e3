// Tokens and passwords (libsodium).
#pragma once

#include <string>
#include <string_view>

#include "model/types.h"
#include "util/status.h"

namespace parley {

// REQUIRES: called once before any other function here (sodium_init).
Status InitCrypto();

// A new auth token in the three-part shape of Discord's:
// "<base64url(user id)>.<base64url(4-byte big-endian Unix seconds)>.
// <base64url(24 random bytes)>": 192 random bits. Libraries read the first
// part as the bot's id and some (seyfert) mask the third in their logs.
std::string NewToken(Snowflake user_id);
TokenHash HashToken(std::string_view token);

// A random string of `n` characters from [A-Za-z0-9] (invite codes).
std::string RandomCode(size_t n);

enum class PasswordCost { kMin, kInteractive, kModerate };
// argon2id; slow by design (tens of ms at kInteractive): call off the event loops.
Status HashPassword(std::string_view password, PasswordCost cost, std::string* out);
bool VerifyPassword(const std::string& hash, std::string_view password);

}  // namespace parley
