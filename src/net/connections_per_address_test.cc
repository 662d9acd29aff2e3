#include "net/connections_per_address.h"

#include <gtest/gtest.h>

namespace parley::net {
namespace {

using boost::asio::ip::make_address;

TEST(ConnectionsPerAddressTest, CapsEachAddressAlone) {
  ConnectionsPerAddress c(2, {});
  auto a1 = c.Acquire(make_address("10.0.0.1"));
  auto a2 = c.Acquire(make_address("10.0.0.1"));
  ASSERT_TRUE(a1 && a2);
  EXPECT_EQ(*a1, *a2);  // one slot per address
  EXPECT_FALSE(c.Acquire(make_address("10.0.0.1")));
  auto b = c.Acquire(make_address("10.0.0.2"));
  ASSERT_TRUE(b);
  EXPECT_NE(*b, *a1);
  EXPECT_EQ(c.addresses(), 2u);
  c.Release(*a1);
  EXPECT_TRUE(c.Acquire(make_address("10.0.0.1")));  // room again
  EXPECT_FALSE(c.Acquire(make_address("10.0.0.1")));
}

TEST(ConnectionsPerAddressTest, FreedSlotsAreReusedAndForgotten) {
  ConnectionsPerAddress c(1, {});
  auto a = c.Acquire(make_address("10.0.0.1"));
  ASSERT_TRUE(a);
  c.Release(*a);
  EXPECT_EQ(c.addresses(), 0u);
  auto b = c.Acquire(make_address("2001:db8::1"));
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, *a);  // the slot came back, now for another address
  EXPECT_TRUE(c.Acquire(make_address("10.0.0.1")));
}

TEST(ConnectionsPerAddressTest, V4AndItsMappedV6AreOneAddress) {
  ConnectionsPerAddress c(1, {});
  ASSERT_TRUE(c.Acquire(make_address("192.0.2.7")));
  EXPECT_FALSE(c.Acquire(make_address("::ffff:192.0.2.7")));
}

TEST(ConnectionsPerAddressTest, ExemptAddressesAndNoLimitCountNothing) {
  ConnectionsPerAddress c(1, {make_address("127.0.0.1")});
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(c.Acquire(make_address("127.0.0.1")), ConnectionsPerAddress::kUncounted);
  EXPECT_EQ(c.addresses(), 0u);
  ConnectionsPerAddress none(0, {});
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(none.Acquire(make_address("10.0.0.1")), ConnectionsPerAddress::kUncounted);
  none.Release(ConnectionsPerAddress::kUncounted);
}

}  // namespace
}  // namespace parley::net
