// Names people read (usernames, display names, application names) must show
// what they are: no character that hides, reorders or fakes text.
#pragma once

#include <string_view>

namespace parley {

// Whether `s` (UTF-8) holds only characters a name may hold: no controls
// (C0, DEL, C1), no bidirectional controls (U+061C, U+200E/F, U+202A..E,
// U+2066..9: "abc\u202Eexe.txt" shows as "abctxt.exe"), no invisible format
// characters (soft hyphen, combining grapheme joiner, zero-width spaces and
// joiners, word joiner and invisible operators, U+180E, U+FEFF), and no
// malformed UTF-8.
bool IsVisibleText(std::string_view s);

}  // namespace parley
