#include "net/http_request_rules.h"

#include <gtest/gtest.h>

namespace parley::net {
namespace {

unsigned RefusalFor(std::string_view te, bool with_length = false) {
  http::request<http::string_body> req;
  req.set(http::field::transfer_encoding, te);
  if (with_length) req.set(http::field::content_length, "3");
  auto r = FramingRefusal(req);
  return r ? r->status : 0;
}

TEST(HttpRequestRulesTest, TransferEncodingMustEndInChunkedAlone) {
  EXPECT_EQ(RefusalFor("chunked"), 0u);
  EXPECT_EQ(RefusalFor("Chunked"), 0u);
  EXPECT_EQ(RefusalFor("xchunked"), 400u);
  EXPECT_EQ(RefusalFor("identity"), 400u);
  EXPECT_EQ(RefusalFor("chunked, gzip"), 400u);
  EXPECT_EQ(RefusalFor("gzip, chunked"), 501u);
  EXPECT_EQ(RefusalFor("chunked, chunked"), 400u);
  EXPECT_EQ(RefusalFor(""), 400u);
  EXPECT_EQ(RefusalFor("chunked", /*with_length=*/true), 400u);
  http::request<http::string_body> plain;
  EXPECT_FALSE(FramingRefusal(plain));
}

std::string Normalized(std::string_view target) {
  http::request<http::string_body> req;
  req.target(target);
  NormalizeAbsoluteTarget(&req);
  return std::string(req.target());
}

TEST(HttpRequestRulesTest, AbsoluteFormBecomesOriginForm) {
  EXPECT_EQ(Normalized("http://h/api/v10/gateway"), "/api/v10/gateway");
  EXPECT_EQ(Normalized("http://h:8080/api/v10/channels/1/messages?limit=5"),
            "/api/v10/channels/1/messages?limit=5");
  EXPECT_EQ(Normalized("http://h"), "/");
  EXPECT_EQ(Normalized("/already/origin"), "/already/origin");
  EXPECT_EQ(Normalized("*"), "*");
  EXPECT_EQ(Normalized("not a uri"), "not a uri");  // routing answers 404
}

TEST(HttpRequestRulesTest, UsableHostsAreNamesAndPortsOnly) {
  EXPECT_TRUE(IsUsableHost("127.0.0.1:8080"));
  EXPECT_TRUE(IsUsableHost("chat.example.org"));
  EXPECT_TRUE(IsUsableHost("[::1]:8080"));
  EXPECT_FALSE(IsUsableHost(""));
  EXPECT_FALSE(IsUsableHost("\xED\xA0\x80"));  // not ASCII (found by fuzz_http_request)
  EXPECT_FALSE(IsUsableHost("a\"b"));
  EXPECT_FALSE(IsUsableHost("a b"));
  EXPECT_FALSE(IsUsableHost(std::string(300, 'a')));
}

}  // namespace
}  // namespace parley::net
