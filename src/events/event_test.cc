#include "events/event.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <thread>

#include "encoding/etf.h"
#include "encoding/msgpack.h"

namespace parley::events {
namespace {

std::string Payload(const Frame& f, uint64_t seq) {
  std::string out;
  AppendPayload(&out, f, seq);
  EXPECT_EQ(out.size(), f.size_with_seq(seq));
  return out;
}

const char kD[] = R"({"id":"1234567890123456789","content":"hi","mentions":[],"tts":false})";

TEST(FrameTest, EncodesADispatchOnceWithTheSequenceLast) {
  FramePtr json = MakeDispatch("MESSAGE_CREATE", kD);
  const Frame& etf = json->In(Encoding::kEtf);
  EXPECT_EQ(&etf, &json->In(Encoding::kEtf));  // built once
  EXPECT_EQ(&json->In(Encoding::kJson), json.get());
  EXPECT_EQ(etf.encoding, Encoding::kEtf);
  EXPECT_TRUE(etf.tail.empty());
  for (uint64_t seq : {uint64_t{0}, uint64_t{255}, uint64_t{256}, uint64_t{2147483647},
                       uint64_t{2147483648}, uint64_t{1} << 40}) {
    std::string text = std::string(R"({"t":"MESSAGE_CREATE","op":0,"d":)") + kD + R"(,"s":)" +
                       std::to_string(seq) + "}";
    std::string out;
    ASSERT_TRUE(encoding::etf::ToJson(Payload(etf, seq), &out, /*atom_keys=*/true).ok());
    EXPECT_EQ(boost::json::parse(out), boost::json::parse(text));
    out.clear();
    ASSERT_TRUE(encoding::msgpack::ToJson(Payload(json->In(Encoding::kMsgpack), seq), &out).ok());
    EXPECT_EQ(boost::json::parse(out), boost::json::parse(text));
    EXPECT_EQ(boost::json::parse(Payload(*json, seq)), boost::json::parse(text));
  }
}

TEST(FrameTest, ManyThreadsGetTheSameEncodedFrame) {
  FramePtr json = MakeDispatch("TYPING_START", R"({"channel_id":"1"})");
  const Frame* seen[4] = {};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] { seen[i] = &json->In(Encoding::kMsgpack); });
  for (auto& t : threads) t.join();
  for (const Frame* f : seen) EXPECT_EQ(f, seen[0]);
}

}  // namespace
}  // namespace parley::events
