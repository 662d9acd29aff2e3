// FieldWriter / FieldReader: a compact binary encoding of records, shared
// by the commit log (store/batch_codec.cc) and the cluster's bus
// (cluster/bus_codec.cc). Integers are varints (signed ones zigzagged),
// bools one byte (0 or 1), strings and vectors a varint count and their
// items, TokenHash its 32 bytes; any other type is a record whose fields
// Schema::Visit(archive, record) hands to the archive, in one order for
// both directions, so that writer and reader can never disagree:
//   struct Schema {
//     template <class A, class T> static void Visit(A& a, T& x) { Fields(a, x); }
//   };
//   template <class A> void Fields(A& a, User& x) { a(x.id, x.username, ...); }
// The reader never reads past its input and never allocates more than the
// input could hold; after a failure ok() is false and every value read is
// zero or empty.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "model/types.h"

namespace parley {

namespace field_codec_internal {
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};
}  // namespace field_codec_internal

template <class Schema>
class FieldWriter {
 public:
  using schema = Schema;
  explicit FieldWriter(std::string* out) : out_(out) {}

  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_->push_back(static_cast<char>(v));
  }

  template <class... T>
  void operator()(const T&... fields) {
    (Put(fields), ...);
  }

 private:
  template <class T>
  void Put(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      out_->push_back(v ? 1 : 0);
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      const int64_t s = v;
      Varint((static_cast<uint64_t>(s) << 1) ^ static_cast<uint64_t>(s >> 63));  // zigzag
    } else if constexpr (std::is_integral_v<T>) {
      Varint(v);
    } else if constexpr (std::is_same_v<T, std::string>) {
      Varint(v.size());
      out_->append(v);
    } else if constexpr (std::is_same_v<T, TokenHash>) {
      out_->append(reinterpret_cast<const char*>(v.data()), v.size());
    } else if constexpr (field_codec_internal::IsVector<T>::value) {
      Varint(v.size());
      for (const auto& item : v) Put(item);
    } else {
      // Schema::Visit takes non-const references (it serves the reader
      // too); the writer only reads through them.
      Schema::Visit(*this, const_cast<T&>(v));
    }
  }

  std::string* out_;
};

template <class Schema>
class FieldReader {
 public:
  using schema = Schema;
  explicit FieldReader(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}

  bool ok() const { return ok_; }
  bool at_end() const { return p_ == end_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return Fail();
      const auto b = static_cast<uint8_t>(*p_++);
      if (shift == 63 && b > 1) return Fail();  // more than 64 bits
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Fail();
  }
  // A count of items that each take at least one byte: never more than the
  // bytes left (so no allocation outgrows the input).
  size_t Count() {
    const uint64_t n = Varint();
    if (n > remaining()) return static_cast<size_t>(Fail());
    return static_cast<size_t>(n);
  }
  uint64_t Fail() {
    ok_ = false;
    p_ = end_;
    return 0;
  }

  template <class... T>
  void operator()(T&... fields) {
    (Get(fields), ...);
  }

 private:
  template <class T>
  void Get(T& v) {
    if (!ok_) return;
    if constexpr (std::is_same_v<T, bool>) {
      if (p_ == end_ || static_cast<uint8_t>(*p_) > 1) {
        Fail();
        return;
      }
      v = *p_++ == 1;
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      const uint64_t z = Varint();
      const int64_t s = static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
      if (s < std::numeric_limits<T>::min() || s > std::numeric_limits<T>::max()) {
        Fail();
        return;
      }
      v = static_cast<T>(s);
    } else if constexpr (std::is_integral_v<T>) {
      const uint64_t u = Varint();
      if (u > std::numeric_limits<T>::max()) {
        Fail();
        return;
      }
      v = static_cast<T>(u);
    } else if constexpr (std::is_same_v<T, std::string>) {
      const uint64_t n = Varint();
      if (n > remaining()) {
        Fail();
        return;
      }
      v.assign(p_, n);
      p_ += n;
    } else if constexpr (std::is_same_v<T, TokenHash>) {
      if (remaining() < v.size()) {
        Fail();
        return;
      }
      std::memcpy(v.data(), p_, v.size());
      p_ += v.size();
    } else if constexpr (field_codec_internal::IsVector<T>::value) {
      const size_t n = Count();
      v.clear();
      v.reserve(n);
      for (size_t i = 0; i < n && ok_; ++i) Get(v.emplace_back());
    } else {
      Schema::Visit(*this, v);
    }
  }

  const char* p_;
  const char* end_;
  bool ok_ = true;
};

}  // namespace parley
