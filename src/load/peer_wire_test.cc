#include "load/peer_wire.h"

#include <gtest/gtest.h>

#include <string>

#include "load/ws_client_codec.h"

namespace parley::load::peer {
namespace {

TEST(PeerWire, IntAfterFindsTheNumberAndItsEnd) {
  size_t end = 0;
  EXPECT_EQ(IntAfter("plt:12:345:6:xx", "plt:", 0, &end), 12);
  EXPECT_EQ(end, 6u);
  EXPECT_EQ(IntAfter("plt:12:345:6:xx", ":", end, &end), 345);
  EXPECT_EQ(IntAfter(R"({"op":11})", "\"op\":"), 11);
  EXPECT_EQ(IntAfter(R"({"op":null})", "\"op\":"), -1);
  EXPECT_EQ(IntAfter("abc", "x"), -1);
}

TEST(PeerWire, NatsMessageNeedsItsWholePayload) {
  NatsEvent e;
  std::string m = "MSG bench 1 5\r\nhello\r\nPING\r\n";
  EXPECT_EQ(ParseNats(std::string_view(m).substr(0, 10), &e), 0u);
  EXPECT_EQ(ParseNats(std::string_view(m).substr(0, 20), &e), 0u);
  size_t used = ParseNats(m, &e);
  ASSERT_EQ(used, 22u);
  EXPECT_EQ(e.kind, NatsEvent::kMsg);
  EXPECT_EQ(e.payload, "hello");
  EXPECT_EQ(ParseNats(std::string_view(m).substr(used), &e), 6u);
  EXPECT_EQ(e.kind, NatsEvent::kPing);
}

TEST(PeerWire, NatsOtherOperations) {
  NatsEvent e;
  EXPECT_EQ(ParseNats("INFO {\"server_id\":\"x\"}\r\n", &e), 24u);
  EXPECT_EQ(e.kind, NatsEvent::kInfo);
  ParseNats("+OK\r\n", &e);
  EXPECT_EQ(e.kind, NatsEvent::kOk);
  ParseNats("pong\r\n", &e);
  EXPECT_EQ(e.kind, NatsEvent::kPong);
  ParseNats("-ERR 'Slow Consumer'\r\n", &e);
  EXPECT_EQ(e.kind, NatsEvent::kErr);
  EXPECT_EQ(e.payload, "'Slow Consumer'");
  ParseNats("MSG bench 1 x\r\n", &e);
  EXPECT_EQ(e.kind, NatsEvent::kBad);
  ParseNats("HELLO\r\n", &e);
  EXPECT_EQ(e.kind, NatsEvent::kBad);
}

TEST(PeerWire, RespArraysIntegersAndErrors) {
  RespReply r;
  std::string sub = "*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n";
  EXPECT_EQ(ParseResp(std::string_view(sub).substr(0, sub.size() - 1), &r), 0u);
  ASSERT_EQ(ParseResp(sub, &r), sub.size());
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.items[0], "subscribe");
  EXPECT_EQ(r.items[2], "1");
  std::string msg = "*3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$4\r\na\r\nb\r\n";
  ASSERT_EQ(ParseResp(msg, &r), msg.size());
  EXPECT_EQ(r.items[2], "a\r\nb");  // binary-safe bulk string
  EXPECT_EQ(ParseResp(":1000\r\n", &r), 7u);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(ParseResp("-ERR wrong\r\n", &r), 12u);
  EXPECT_TRUE(r.error);
  ParseResp("?\r\n", &r);
  EXPECT_TRUE(r.bad);
}

TEST(PeerWire, RedisCommandIsARespArray) {
  EXPECT_EQ(RedisCommand({"PUBLISH", "bench", "hi"}),
            "*3\r\n$7\r\nPUBLISH\r\n$5\r\nbench\r\n$2\r\nhi\r\n");
}

TEST(WsClientCodec, MaskedFrameRoundTripsThroughTheParserAfterUnmasking) {
  std::string out;
  std::string payload(300, 'p');
  ws::AppendFrame(&out, 1, payload, 0x11223344u);
  ASSERT_EQ(out.size(), 4 + 4 + payload.size());
  EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x81);
  EXPECT_EQ(static_cast<uint8_t>(out[1]), 0x80 | 126);
  // A server frame is unmasked: the parser refuses masked ones.
  ws::Frame f;
  std::string err;
  EXPECT_EQ(ws::ParseFrame(out.data(), out.size(), 1 << 20, &f, &err), ws::FrameResult::kError);
  std::string server = "\x81\x05hello";
  EXPECT_EQ(ws::ParseFrame(server.data(), 4, 1 << 20, &f, &err), ws::FrameResult::kNeedMore);
  ASSERT_EQ(ws::ParseFrame(server.data(), server.size(), 1 << 20, &f, &err), ws::FrameResult::kOk);
  EXPECT_EQ(f.payload, "hello");
  EXPECT_EQ(f.size, 7u);
  std::string fragment = "\x01\x02hi";
  EXPECT_EQ(ws::ParseFrame(fragment.data(), fragment.size(), 1 << 20, &f, &err),
            ws::FrameResult::kError);
}

TEST(WsClientCodec, HandshakeChecksTheAcceptKey) {
  const unsigned char key[16] = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p',
                                 'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};
  // RFC 6455 section 1.3's example key and accept value.
  std::string ok =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nrest";
  size_t used = 0;
  std::string err;
  EXPECT_EQ(ws::ParseHandshake(ok.data(), ok.size(), key, &used, &err), ws::HandshakeResult::kOk);
  EXPECT_EQ(ok.substr(used), "rest");
  std::string bad = ok;
  bad.replace(bad.find("s3pP"), 4, "AAAA");
  EXPECT_EQ(ws::ParseHandshake(bad.data(), bad.size(), key, &used, &err),
            ws::HandshakeResult::kError);
  EXPECT_EQ(err, "bad-sec-websocket-accept");
  std::string refused = "HTTP/1.1 400 Bad Request\r\n\r\n";
  EXPECT_EQ(ws::ParseHandshake(refused.data(), refused.size(), key, &used, &err),
            ws::HandshakeResult::kError);
  EXPECT_EQ(err, "http-400");
  EXPECT_EQ(ws::ParseHandshake(ok.data(), 20, key, &used, &err), ws::HandshakeResult::kNeedMore);
}

}  // namespace
}  // namespace parley::load::peer
