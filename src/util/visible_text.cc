#include "util/visible_text.h"

#include <cstdint>

namespace parley {

namespace {

bool Hidden(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) return true;  // C0, DEL, C1
  switch (c) {
    case 0x00AD:  // soft hyphen
    case 0x034F:  // combining grapheme joiner
    case 0x061C:  // Arabic letter mark
    case 0x115F:  // Hangul fillers
    case 0x1160:
    case 0x3164:
    case 0xFFA0:
    case 0x180E:  // Mongolian vowel separator
    case 0xFEFF:  // zero-width no-break space (BOM)
      return true;
    default:
      break;
  }
  return (c >= 0x200B && c <= 0x200F) ||  // zero-width space, joiners, LRM, RLM
         (c >= 0x202A && c <= 0x202E) ||  // bidi embeddings and overrides
         (c >= 0x2060 && c <= 0x2064) ||  // word joiner, invisible operators
         (c >= 0x2066 && c <= 0x206F) ||  // bidi isolates, deprecated format
         (c >= 0xFFF0 && c <= 0xFFFB) ||  // specials, interlinear annotation
         (c >= 0xE0000 && c <= 0xE007F);  // tags
}

}  // namespace

bool IsVisibleText(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    char32_t c = 0;
    size_t n = 0;
    if (b < 0x80) {
      c = b;
      n = 1;
    } else if ((b & 0xE0) == 0xC0) {
      c = b & 0x1F;
      n = 2;
    } else if ((b & 0xF0) == 0xE0) {
      c = b & 0x0F;
      n = 3;
    } else if ((b & 0xF8) == 0xF0) {
      c = b & 0x07;
      n = 4;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto cont = static_cast<unsigned char>(s[i + k]);
      if ((cont & 0xC0) != 0x80) return false;
      c = (c << 6) | (cont & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are malformed.
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[n] || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) return false;
    if (Hidden(c)) return false;
    i += n;
  }
  return true;
}

}  // namespace parley
