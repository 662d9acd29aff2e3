#include "util/visible_text.h"

#include <gtest/gtest.h>

#include <string>

namespace parley {
namespace {

TEST(VisibleText, OrdinaryNamesInAnyScript) {
  for (const char* s : {"alice", "Bob_42", "renée", "Zoë.", "Дмитрий", "李小龍", "ゆき", "😀 cat"})
    EXPECT_TRUE(IsVisibleText(s)) << s;
}

TEST(VisibleText, ControlsBidiAndInvisibleCharactersAreRefused) {
  for (const std::string& s :
       {std::string("a\0b", 3), std::string("a\x7f"), std::string("a\xc2\x85"),
        std::string("abc\xe2\x80\xaetxt.exe"),  // U+202E right-to-left override
        std::string("ad\xe2\x80\x8bmin"),       // U+200B zero-width space
        std::string("a\xe2\x80\x8d"),           // U+200D zero-width joiner
        std::string("\xef\xbb\xbf"
                    "admin"),  // U+FEFF
        std::string("a\xe2\x81\xa6"
                    "b"),  // U+2066 isolate
        std::string("a\xc2\xad"
                    "b"),                   // soft hyphen
        std::string("\xe3\x85\xa4"),        // U+3164 Hangul filler
        std::string("a\xf3\xa0\x80\x81")})  // U+E0001 tag
    EXPECT_FALSE(IsVisibleText(s)) << s;
}

TEST(VisibleText, MalformedUtf8IsRefused) {
  for (const std::string& s : {std::string("\xc0\xaf"), std::string("\xe0\x80\xaf"),  // overlong
                               std::string("\xed\xa0\x80"),                           // surrogate
                               std::string("\xf4\x90\x80\x80"),                       // > U+10FFFF
                               std::string("a\xe2\x82"), std::string("\xff")})
    EXPECT_FALSE(IsVisibleText(s));
}

}  // namespace
}  // namespace parley
