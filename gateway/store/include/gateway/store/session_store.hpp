#pragma once
// The session store (persistence.path): CleanSession=false sessions on disk, in SQLite (WAL), one
// row per client id holding its core::SessionRecord. Written in one transaction per loop
// iteration (write()), read once at start-up (load()). Loop thread only.

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "gateway/core/core.hpp"

namespace gateway::store {

// The store cannot be used: what() is "<path>: <reason>".
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// When a commit is on disk: `normal` survives the process being killed (SQLite WAL with
// synchronous=NORMAL); `full` also survives a power cut (an fsync per transaction).
enum class Durability : std::uint8_t { normal, full };

class SessionStore {
 public:
  // Opens the store at `path`, creating it (not its directory) when missing, and checks it:
  // throws StoreError naming the path and the reason when it cannot be opened or written, is not
  // a session store, or fails SQLite's integrity check.
  SessionStore(std::string path, Durability durability);
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // Every stored session. Throws StoreError naming the client id of a record it cannot read.
  std::vector<core::SessionRecord> load();
  // Writes the changes in one transaction: removed sessions are deleted, saved ones replaced
  // unless identical to what this store last wrote or read for them, messages that left a queue
  // deleted and new ones inserted (SessionRecord::queue_seqs, ::queue). Throws StoreError (the
  // transaction rolled back; the same changes can be written again, in order).
  void write(const core::SessionChanges& changes);
  // Session rows written (inserted or replaced) and deleted by write() since the store was
  // opened (message rows not counted).
  std::uint64_t rows_written() const;
  std::uint64_t rows_deleted() const;
  const std::string& path() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A record as stored (a plain binary layout, without its queue: each queued message is a row of its own), and
// back; the decoders throw std::runtime_error when the bytes are not what they should be.
std::vector<std::uint8_t> encode_record(const core::SessionRecord& record);
core::SessionRecord decode_record(std::span<const std::uint8_t> bytes);
std::vector<std::uint8_t> encode_message(const core::QueuedMessage& message);
core::QueuedMessage decode_message(std::span<const std::uint8_t> bytes, std::uint64_t seq);

}  // namespace gateway::store
