// ConnectionsPerAddress: open connections counted by client address, for
// --max-connections-per-ip. A connection takes a slot when accepted and
// gives it back when its socket closes, wherever it went in between (an
// HTTP connection upgraded to the gateway, a gateway connection moved to
// another loop): the slot number travels with it (4 bytes).
//
// Some addresses are never capped (Exempt): where a reverse proxy on the
// same host or a --trusted-proxy connects from, all its clients share it.
//
// Thread-safe: one mutex, taken once per accept and once per close.
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "util/mutex.h"

namespace parley::net {

class ConnectionsPerAddress {
 public:
  // A slot that counts nothing (no cap, or an exempt address).
  static constexpr uint32_t kUncounted = 0;

  // limit 0: no cap (Acquire always succeeds and counts nothing).
  // Connections from `exempt` addresses are not capped either.
  ConnectionsPerAddress(int limit, std::vector<boost::asio::ip::address> exempt);

  // Counts one more connection from `addr` and returns its slot, or nullopt
  // (counting nothing) when `limit` connections from it are open already.
  std::optional<uint32_t> Acquire(const boost::asio::ip::address& addr) EXCLUDES(mu_);

  // REQUIRES: `slot` came from Acquire and was not released yet.
  void Release(uint32_t slot) EXCLUDES(mu_);

  // Addresses with at least one counted connection.
  size_t addresses() const EXCLUDES(mu_);
  int limit() const { return limit_; }

 private:
  using Key = std::array<uint8_t, 16>;  // IPv4 as v4-mapped IPv6
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Entry {
    Key key{};
    uint32_t count = 0;  // 0: free (on free_)
  };
  static Key KeyOf(const boost::asio::ip::address& addr);

  const int limit_;
  std::vector<Key> exempt_;
  mutable Mutex mu_;
  std::unordered_map<Key, uint32_t, KeyHash> slot_of_ GUARDED_BY(mu_);  // key -> slot
  std::vector<Entry> entries_ GUARDED_BY(mu_);                          // slot s at entries_[s - 1]
  std::vector<uint32_t> free_ GUARDED_BY(mu_);
};

}  // namespace parley::net
