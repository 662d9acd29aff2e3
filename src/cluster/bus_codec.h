// The bytes of a bus message (cluster/bus.h). One message per PUBLISH:
//   'L' node:i32 position:u64 committed_ms:i64 batches (store/batch_codec.h)
//   'E' node:i32 count:varint, then per event its fields and frame
//   'P' node:i32 snapshot:bool count, then per user: id, present, presence
//   'H' node:i32 incarnation:u64 (alive; a process hears its own back: the
//       canary)     'S' node:i32 (asks for presence snapshots)
// integers little-endian fixed width, strings as varint length + bytes.
// Decoding checks every length: a malformed message is Status::Corruption.
#pragma once

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
    kSnapshotRequest = 'S'
  };
  Kind kind = Kind::kLogEntry;
  int node = 0;
  LogEntry entry;                         // kLogEntry (entry.node == node)
  events::EventBatch events;              // kEvents
  std::vector<PresenceChange> presences;  // kPresences
  bool snapshot = false;                  // kPresences
  uint64_t incarnation = 0;               // kHeartbeat: which process of `node`
};

// Appends the message to *out.
void EncodeLogEntryMessage(int node, CommitPosition position, int64_t committed_ms,
                           std::string_view encoded_batches, std::string* out);
void EncodeEventsMessage(int node, const events::EventBatch& events, std::string* out);
void EncodePresencesMessage(int node, const std::vector<PresenceChange>& changes, bool snapshot,
                            std::string* out);
void EncodeHeartbeatMessage(int node, uint64_t incarnation, std::string* out);
void EncodeSnapshotRequestMessage(int node, std::string* out);

Status DecodeBusMessage(std::string_view bytes, BusMessage* out);

}  // namespace parley::cluster
