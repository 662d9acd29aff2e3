// Status: the result of an operation that may fail, LevelDB style. Cheap to
// return on hot paths: an OK status holds no allocation.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace parley {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,
    kCorruption,
    kInvalidArgument,
    kIOError,
    kConflict,
    kBusy,
    kUnavailable
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  // A uniqueness constraint was violated (e.g. a username already taken).
  static Status Conflict(std::string_view msg) { return Status(Code::kConflict, msg); }
  static Status Busy(std::string_view msg) { return Status(Code::kBusy, msg); }
  // A service the operation needs (e.g. the database server) cannot be
  // reached now; the operation did not happen and may be retried later.
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  Code code() const { return code_; }
  const std::string& message() const {
    static const std::string kEmpty;
    return msg_ ? *msg_ : kEmpty;
  }
  std::string ToString() const;

 private:
  Status(Code code, std::string_view msg) : code_(code), msg_(std::make_shared<std::string>(msg)) {}
  Code code_ = Code::kOk;
  std::shared_ptr<const std::string> msg_;
};

}  // namespace parley
