// ReplayRing: the dispatches a session sent that its client may not have
// received yet, for Resume. Holds shared references to frames (serialized
// once per event), never copies; its storage is allocated on demand, grows
// by doubling up to a bound and is freed when empty, so an idle session
// whose client acknowledged everything costs 16 bytes here. The entries are
// always the newest ones, so the oldest's sequence number is derived from the
// session's last one instead of being stored.
#pragma once

#include <cstdint>
#include <memory>

#include "events/event.h"

namespace parley::gateway {

class ReplayRing {
 public:
  static constexpr uint32_t kMaxBound = 32768;

  // Appends the frame sent with the session's next sequence number (every
  // dispatch of the session goes through here, so the entries are the
  // newest ones). Drops the oldest entry when `bound` are held.
  // REQUIRES: 0 < bound <= kMaxBound.
  void Push(events::FramePtr f, uint32_t bound) {
    if (size_ == cap_) {
      if (cap_ >= bound) {
        Drop(1);
      } else {
        Grow(cap_ ? std::min<uint32_t>(cap_ * 2u, bound) : 4u);
      }
    }
    buf_[(head_ + size_) % cap_] = std::move(f);
    ++size_;
  }
  // Drops every entry with sequence <= seq (the client has them).
  // `last` is the sequence number of the newest entry (the session's last).
  void TrimThrough(uint64_t seq, uint64_t last) {
    if (size_ == 0) return;
    uint64_t first = last - size_ + 1;
    if (seq < first) return;
    uint64_t n = seq - first + 1;
    Drop(n >= size_ ? size_ : static_cast<uint32_t>(n));
  }
  // True if every dispatch after `seq` is still held (or none was sent).
  // REQUIRES: seq <= last.
  bool CanReplayAfter(uint64_t seq, uint64_t last) const {
    if (seq >= last) return true;
    return size_ > 0 && last - size_ + 1 <= seq + 1;
  }
  // Calls fn(seq, frame) for every entry after `seq`, oldest first.
  template <class Fn>
  void ForEachAfter(uint64_t seq, uint64_t last, Fn&& fn) const {
    uint64_t first = last - size_ + 1;
    for (uint32_t i = 0; i < size_; ++i) {
      uint64_t s = first + i;
      if (s > seq) fn(s, *buf_[(head_ + i) % cap_]);
    }
  }
  uint32_t size() const { return size_; }
  size_t capacity_bytes() const { return cap_ * sizeof(events::FramePtr); }

 private:
  void Drop(uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) buf_[(head_ + i) % cap_].reset();
    head_ = static_cast<uint16_t>((head_ + n) % cap_);
    size_ = static_cast<uint16_t>(size_ - n);
    if (size_ == 0) {
      buf_.reset();
      cap_ = head_ = 0;
    }
  }
  void Grow(uint32_t cap) {
    auto nb = std::make_unique<events::FramePtr[]>(cap);
    for (uint32_t i = 0; i < size_; ++i) nb[i] = std::move(buf_[(head_ + i) % cap_]);
    buf_ = std::move(nb);
    cap_ = static_cast<uint16_t>(cap);
    head_ = 0;
  }

  std::unique_ptr<events::FramePtr[]> buf_;
  uint16_t cap_ = 0, head_ = 0, size_ = 0;
};

}  // namespace parley::gateway
