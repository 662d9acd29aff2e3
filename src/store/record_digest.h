// RecordDigest: a count and a SHA-256 over records in key order, so that
// two stores can be compared table by table (parley migrate --verify). Each
// record is hashed field by field (numbers as 8 little-endian bytes,
// strings with their length first), so equal digests mean equal tables.
#pragma once

#include <sodium.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "model/types.h"

namespace parley {

class RecordDigest {
 public:
  RecordDigest();

  void Add(const User& u);
  void Add(const Application& a);
  void Add(const Session& s);
  void Add(const Guild& g);
  void Add(const Channel& c);
  void Add(const Role& r);
  void Add(const Member& m);
  void Add(const Invite& i);
  void Add(const ApplicationCommand& c);
  void Add(const Message& m);  // the stored fields (not the nonce)

  uint64_t count() const { return count_; }
  // The SHA-256 so far, as 64 hex digits. Adding more afterwards is fine.
  std::string Hex() const;

 private:
  void Num(uint64_t v);
  void Str(std::string_view s);

  crypto_hash_sha256_state state_;
  uint64_t count_ = 0;
};

}  // namespace parley
