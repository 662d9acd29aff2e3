// ReplayRing: the dispatches a session sent that its client may not have
// received yet, for Resume. Holds shared references to frames (serialized
// once per event), never copies; its storage is allocated on demand, grows
// by doubling up to a bound and is freed when empty, so an idle session
// whose client acknowledged everything costs 24 bytes here.
#pragma once

#include <cstdint>
#include <memory>

#include "gateway/event.h"

namespace parley::gateway {

class ReplayRing {
 public:
  // Appends the frame sent with sequence `seq`. REQUIRES: seq == last_seq() + 1
  // (or the ring is empty). Drops the oldest entry when `bound` are held.
  void Push(uint64_t seq, FramePtr f, uint32_t bound) {
    if (size_ == cap_) {
      if (cap_ >= bound) {
        Drop(1);
      } else {
        Grow(cap_ ? std::min<uint32_t>(cap_ * 2, bound) : 4);
      }
    }
    if (size_ == 0) first_seq_ = seq;
    buf_[(head_ + size_) % cap_] = std::move(f);
    ++size_;
  }
  // Drops every entry with sequence <= seq (the client has them).
  void TrimThrough(uint64_t seq) {
    if (size_ == 0 || seq < first_seq_) return;
    uint64_t n = seq - first_seq_ + 1;
    Drop(n >= size_ ? size_ : static_cast<uint32_t>(n));
  }
  // True if every dispatch after `seq` is still held (or none was sent).
  // REQUIRES: seq <= last sequence sent.
  bool CanReplayAfter(uint64_t seq, uint64_t last_sent) const {
    if (seq >= last_sent) return true;
    return size_ > 0 && first_seq_ <= seq + 1;
  }
  // Calls fn(seq, frame) for every entry after `seq`, oldest first.
  template <class Fn>
  void ForEachAfter(uint64_t seq, Fn&& fn) const {
    for (uint32_t i = 0; i < size_; ++i) {
      uint64_t s = first_seq_ + i;
      if (s > seq) fn(s, *buf_[(head_ + i) % cap_]);
    }
  }
  uint32_t size() const { return size_; }
  size_t capacity_bytes() const { return cap_ * sizeof(FramePtr); }

 private:
  void Drop(uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) buf_[(head_ + i) % cap_].reset();
    head_ = (head_ + n) % cap_;
    size_ -= n;
    first_seq_ += n;
    if (size_ == 0) {
      buf_.reset();
      cap_ = head_ = 0;
    }
  }
  void Grow(uint32_t cap) {
    auto nb = std::make_unique<FramePtr[]>(cap);
    for (uint32_t i = 0; i < size_; ++i) nb[i] = std::move(buf_[(head_ + i) % cap_]);
    buf_ = std::move(nb);
    cap_ = cap;
    head_ = 0;
  }

  std::unique_ptr<FramePtr[]> buf_;
  uint64_t first_seq_ = 0;  // sequence of the oldest entry
  uint32_t cap_ = 0, head_ = 0, size_ = 0;
};

}  // namespace parley::gateway
