// Embeds: validation and normalization of a message's `embeds`, with
// Discord's limits (docs/protocol.md "Embeds").
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "api/api_error.h"

namespace parley {

// Limits of Discord's Embed Limits table.
inline constexpr size_t kMaxEmbeds = 10;
inline constexpr size_t kMaxEmbedChars = 6000;  // all text fields of all embeds

// Reads `value` (a request's "embeds": an array of embed objects, or null)
// into *json: the array as JSON text with only the fields Discord keeps
// (title, type, description, url, timestamp, color, footer, image,
// thumbnail, author, fields), "type" defaulting to "rich"; "" for null or
// an empty array. Adds an error per bad field to *errs ("embeds.0.title").
// REQUIRES: json and errs are not null.
void ReadEmbeds(const boost::json::value& value, std::string* json, FormErrors* errs);

// The characters of `s` as Discord counts them (Unicode code points).
size_t CodePoints(std::string_view s);

}  // namespace parley
