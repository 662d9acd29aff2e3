#include "net/connections_per_address.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace parley::net {

size_t ConnectionsPerAddress::KeyHash::operator()(const Key& k) const {
  return std::hash<std::string_view>()(
      std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

ConnectionsPerAddress::Key ConnectionsPerAddress::KeyOf(const boost::asio::ip::address& addr) {
  Key k{};
  if (addr.is_v4()) {
    auto b = boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, addr.to_v4()).to_bytes();
    std::memcpy(k.data(), b.data(), k.size());
  } else {
    auto b = addr.to_v6().to_bytes();
    std::memcpy(k.data(), b.data(), k.size());
  }
  return k;
}

ConnectionsPerAddress::ConnectionsPerAddress(int limit,
                                             std::vector<boost::asio::ip::address> exempt)
    : limit_(limit) {
  for (const auto& a : exempt) exempt_.push_back(KeyOf(a));
}

std::optional<uint32_t> ConnectionsPerAddress::Acquire(const boost::asio::ip::address& addr) {
  if (limit_ <= 0) return kUncounted;
  Key k = KeyOf(addr);
  if (std::find(exempt_.begin(), exempt_.end(), k) != exempt_.end()) return kUncounted;
  MutexLock lock(&mu_);
  auto [it, inserted] = slot_of_.try_emplace(k, 0);
  if (inserted) {
    if (free_.empty()) {
      entries_.emplace_back();
      it->second = static_cast<uint32_t>(entries_.size());
    } else {
      it->second = free_.back();
      free_.pop_back();
    }
    entries_[it->second - 1].key = k;
  }
  Entry& e = entries_[it->second - 1];
  if (e.count >= static_cast<uint32_t>(limit_)) return std::nullopt;
  ++e.count;
  return it->second;
}

void ConnectionsPerAddress::Release(uint32_t slot) {
  if (slot == kUncounted) return;
  MutexLock lock(&mu_);
  Entry& e = entries_[slot - 1];
  if (--e.count > 0) return;
  slot_of_.erase(e.key);
  free_.push_back(slot);
}

size_t ConnectionsPerAddress::addresses() const {
  MutexLock lock(&mu_);
  return slot_of_.size();
}

}  // namespace parley::net
