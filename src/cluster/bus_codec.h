// The bytes of a bus message (cluster/bus.h). One message per PUBLISH:
//   'L' node:i32 position:u64 committed_ms:i64 batches (store/batch_codec.h)
//   'E' node:i32 count:varint, then per event its fields and frame
//   'P' node:i32 snapshot:bool count, then per user: id, present, presence
//   'H' node incarnation:u64 [sessions:u64 applied:u64 started_ms:i64]
//       (alive, and its NodeReport, absent from older nodes' heartbeats; a
//       process hears its own back: the canary)     'S' node:i32 (asks for presence snapshots)
//   'R' node:i32 to:i32 session:u64 seq:u64 (asks node `to` to let a session go)
//   'D' node:i32 to:i32 session:u64 seq:u64 ok:bool (the answer)
// integers little-endian fixed width, strings as varint length + bytes.
// Decoding checks every length: a malformed message is Status::Corruption.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cluster/bus.h"
#include "events/event.h"
#include "store/batch_codec.h"
#include "store/commit_log.h"

namespace parley::cluster {

struct BusMessage {
  enum class Kind : char {
    kLogEntry = 'L',
    kEvents = 'E',
    kPresences = 'P',
    kHeartbeat = 'H',
    kSnapshotRequest = 'S',
    kHandoffRequest = 'R',
    kHandoffDone = 'D'
  };
  Kind kind = Kind::kLogEntry;
  int node = 0;
  LogEntry entry;                         // kLogEntry (entry.node == node)
  events::EventBatch events;              // kEvents
  std::vector<PresenceChange> presences;  // kPresences
  bool snapshot = false;                  // kPresences
  uint64_t incarnation = 0;               // kHeartbeat: which process of `node`
  NodeReport report;                      // kHeartbeat (zeros if absent)
  int to = 0;                             // kHandoff*: the node addressed
  uint64_t session_id = 0;                // kHandoff*
  uint64_t seq = 0;                       // kHandoff*: the client's
  bool ok = false;                        // kHandoffDone
};

// Appends the message to *out.
void EncodeLogEntryMessage(int node, CommitPosition position, int64_t committed_ms,
                           std::string_view encoded_batches, std::string* out);
void EncodeEventsMessage(int node, const events::EventBatch& events, std::string* out);
void EncodePresencesMessage(int node, const std::vector<PresenceChange>& changes, bool snapshot,
                            std::string* out);
void EncodeHeartbeatMessage(int node, uint64_t incarnation, const NodeReport& report,
                            std::string* out);
void EncodeSnapshotRequestMessage(int node, std::string* out);
void EncodeHandoffMessage(int node, int to, uint64_t session_id, uint64_t seq,
                          std::optional<bool> done,
                          std::string* out);  // 'R' (done: nullopt) or 'D'

Status DecodeBusMessage(std::string_view bytes, BusMessage* out);

}  // namespace parley::cluster
