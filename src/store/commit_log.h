// CommitLog: the log of commits that the nodes of a cluster follow
// (docs/cluster.md). Each entry holds the batches of one transaction under
// its position, written in that transaction, so that a commit exists if and
// only if its entry does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/store.h"

namespace parley {

struct LogEntry {
  CommitPosition position = 0;
  int node = 0;              // the node id of the process that committed it
  int64_t committed_ms = 0;  // that process's clock, just before COMMIT
  std::vector<WriteBatch> batches;
};

class CommitLog {
 public:
  virtual ~CommitLog() = default;

  // Stores in *out (replacing what it held) the entries after position
  // `after`, oldest first, at most `limit` (1..10000). An entry is visible
  // only once every earlier position has committed, so where every
  // committer writes the log the positions returned are dense: a hole means
  // a commit was made without its entry. A malformed entry is
  // Status::Corruption; an engine that cannot be reached now,
  // Status::Unavailable. Thread-safe.
  virtual Status ReadLog(CommitPosition after, int limit, std::vector<LogEntry>* out) = 0;

  // Retention: deletes the entries before position `before` (a position
  // every node has applied long ago) and stores how many in *deleted.
  // Where several processes trim at once, one does it (the others delete
  // nothing). Thread-safe; blocks on the engine.
  virtual Status TrimLog(CommitPosition before, uint64_t* deleted) = 0;

  // The encoded batches (store/batch_codec.h) of the last commit this
  // process made, as written to the log, and its committed_ms; taken (a
  // second call returns ""). For a node to publish its own entry without
  // encoding it again. REQUIRES: the committing thread, right after the
  // commit.
  virtual std::string TakeLastEntry(int64_t* committed_ms) = 0;
};

}  // namespace parley
