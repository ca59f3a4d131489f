#include "gateway/store/session_store.hpp"

#include <sqlite3.h>

#include <functional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "sn_protocol/codec.hpp"

namespace gateway::store {
namespace {

// The format row of the meta table: a file of another kind, or of a later layout, is refused.
constexpr std::string_view kFormat = "mqttsn-gateway sessions 1";
// First octet of every record and message: the layout below.
constexpr std::uint8_t kLayout = 1;

// Records are written on every change of a session, so their encoding is a plain one of our
// own: fixed-width integers (little endian), lengths before strings and octet strings.
class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { le(v, 2); }
  void u32(std::uint32_t v) { le(v, 4); }
  void bytes(std::span<const std::uint8_t> b) {
    u32(static_cast<std::uint32_t>(b.size()));
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void str(const std::string& text) {
    bytes(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  }
  std::vector<std::uint8_t> take() { return std::move(out_); }

 private:
  void le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  std::vector<std::uint8_t> out_;
};

// Reads what Writer wrote; throws std::runtime_error past the end or on a bad value.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(le(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(le(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(le(4)); }
  bool flag() {
    const auto v = u8();
    if (v > 1) throw std::runtime_error("bad flag " + std::to_string(v));
    return v == 1;
  }
  std::vector<std::uint8_t> bytes() {
    const std::size_t n = u32();
    need(n);
    std::vector<std::uint8_t> out(in_.begin() + static_cast<std::ptrdiff_t>(at_),
                                  in_.begin() + static_cast<std::ptrdiff_t>(at_ + n));
    at_ += n;
    return out;
  }
  std::string str() {
    const auto b = bytes();
    return {b.begin(), b.end()};
  }
  // A count of items that each take at least `min_size` octets (a corrupt count cannot make
  // us reserve gigabytes).
  std::size_t count(std::size_t min_size) {
    const std::size_t n = u32();
    if (n > (in_.size() - at_) / min_size) throw std::runtime_error("count beyond the record");
    return n;
  }
  void end() const {
    if (at_ != in_.size()) throw std::runtime_error("trailing octets");
  }

 private:
  void need(std::size_t n) const {
    if (in_.size() - at_ < n) throw std::runtime_error("truncated");
  }
  std::uint64_t le(int n) {
    need(static_cast<std::size_t>(n));
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(in_[at_ + static_cast<std::size_t>(i)]) << (8 * i);
    at_ += static_cast<std::size_t>(n);
    return v;
  }
  std::span<const std::uint8_t> in_;
  std::size_t at_ = 0;
};

std::uint8_t qos_of(Reader& in) {
  const auto qos = in.u8();
  if (qos > 2) throw std::runtime_error("bad QoS " + std::to_string(qos));
  return qos;
}

std::string sqlite_error(sqlite3* db) { return db != nullptr ? sqlite3_errmsg(db) : "out of memory"; }

// One prepared statement, reset after each use.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sqlite_error(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  sqlite3_stmt* get() { return stmt_; }
  // Runs a statement that returns no rows.
  void run() {
    const int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    if (rc != SQLITE_DONE) throw std::runtime_error(sqlite_error(db_));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

std::vector<std::uint8_t> encode_record(const core::SessionRecord& r) {
  Writer out;
  out.u8(kLayout);
  out.str(r.client_id);
  out.u16(r.peer.transport_id);
  out.u8(static_cast<std::uint8_t>(r.peer.kind));
  out.bytes(r.peer.address_bytes());
  out.bytes(r.peer.node_id_bytes());
  out.u8(static_cast<std::uint8_t>(r.status));
  out.u16(r.keep_alive_s);
  out.u16(r.sleep_s);
  out.u8(r.will ? 1 : 0);
  if (r.will) {
    out.str(r.will->topic);
    out.bytes(r.will->payload);
    out.u8(r.will->qos);
    out.u8(r.will->retain ? 1 : 0);
  }
  out.u32(static_cast<std::uint32_t>(r.topics.size()));
  for (const auto& [id, name] : r.topics) {
    out.u16(id);
    out.str(name);
  }
  out.u16(r.next_topic_id);
  out.u32(static_cast<std::uint32_t>(r.subscriptions.size()));
  for (const auto& [filter, qos] : r.subscriptions) {
    out.str(filter);
    out.u8(qos);
  }
  for (const auto* ids : {&r.qos2_received, &r.qos2_released}) {
    out.u32(static_cast<std::uint32_t>(ids->size()));
    for (const auto& [id, digest] : *ids) {
      out.u16(id);
      out.u32(digest);
    }
  }
  out.u8(r.inflight ? 1 : 0);
  if (r.inflight) {
    out.u8(static_cast<std::uint8_t>(r.inflight->kind));
    out.u16(r.inflight->msg_id);
    out.bytes(sn::encode(r.inflight->frame));
  }
  out.u16(r.next_msg_id);
  out.u32(static_cast<std::uint32_t>(r.rejected_topics.size()));
  for (const auto& topic : r.rejected_topics) out.str(topic);
  return out.take();
}

core::SessionRecord decode_record(std::span<const std::uint8_t> bytes) {
  Reader in(bytes);
  if (const auto layout = in.u8(); layout != kLayout) {
    throw std::runtime_error("unknown layout " + std::to_string(layout));
  }
  core::SessionRecord r;
  r.client_id = in.str();
  const auto transport = in.u16();
  const auto kind = in.u8();
  if (kind > static_cast<std::uint8_t>(sn::PeerKind::bluetooth)) {
    throw std::runtime_error("unknown peer kind " + std::to_string(kind));
  }
  const auto address = in.bytes();
  if (address.size() > sn::Peer::kMaxAddress) throw std::runtime_error("peer address too long");
  r.peer = sn::Peer::make(transport, static_cast<sn::PeerKind>(kind), address);
  if (const auto node = in.bytes(); !node.empty() && !r.peer.set_node_id(node)) {
    throw std::runtime_error("bad wireless node id");
  }
  const auto status = in.u8();
  if (status > static_cast<std::uint8_t>(core::SessionRecord::Status::asleep)) {
    throw std::runtime_error("unknown status " + std::to_string(status));
  }
  r.status = static_cast<core::SessionRecord::Status>(status);
  r.keep_alive_s = in.u16();
  r.sleep_s = in.u16();
  if (in.flag()) {
    core::Will will;
    will.topic = in.str();
    will.payload = in.bytes();
    will.qos = qos_of(in);
    will.retain = in.flag();
    r.will = std::move(will);
  }
  for (std::size_t n = in.count(6); n > 0; --n) {
    const auto id = in.u16();
    r.topics.emplace_back(id, in.str());
  }
  r.next_topic_id = in.u16();
  for (std::size_t n = in.count(5); n > 0; --n) {
    auto filter = in.str();
    r.subscriptions.emplace_back(std::move(filter), qos_of(in));
  }
  for (auto* ids : {&r.qos2_received, &r.qos2_released}) {
    for (std::size_t n = in.count(6); n > 0; --n) {
      const auto id = in.u16();
      ids->emplace_back(id, in.u32());
    }
  }
  if (in.flag()) {
    const auto flight = in.u8();
    if (flight > static_cast<std::uint8_t>(core::InFlight::Kind::pubrel)) {
      throw std::runtime_error("unknown exchange in flight " + std::to_string(flight));
    }
    const auto msg_id = in.u16();
    auto frame = sn::decode_message(in.bytes());
    if (!frame) throw std::runtime_error("the frame in flight does not decode");
    r.inflight = core::InFlight{static_cast<core::InFlight::Kind>(flight), msg_id, 0,
                                std::move(frame).value()};
  }
  r.next_msg_id = in.u16();
  for (std::size_t n = in.count(4); n > 0; --n) r.rejected_topics.push_back(in.str());
  in.end();
  return r;
}

std::vector<std::uint8_t> encode_message(const core::QueuedMessage& m) {
  Writer out;
  out.u8(kLayout);
  out.str(m.topic);
  out.bytes(m.payload);
  out.u8(m.qos);
  out.u8(m.retain ? 1 : 0);
  out.u8(m.reregistered ? 1 : 0);
  return out.take();
}

core::QueuedMessage decode_message(std::span<const std::uint8_t> bytes, std::uint64_t seq) {
  Reader in(bytes);
  if (const auto layout = in.u8(); layout != kLayout) {
    throw std::runtime_error("unknown layout " + std::to_string(layout));
  }
  core::QueuedMessage m;
  m.topic = in.str();
  m.payload = in.bytes();
  m.qos = qos_of(in);
  m.retain = in.flag();
  m.reregistered = in.flag();
  m.seq = seq;
  in.end();
  return m;
}

class SessionStore::Impl {
 public:
  Impl(std::string path, Durability durability) : path_(std::move(path)) {
    try {
      // FULLMUTEX not needed: the loop thread only.
      if (sqlite3_open_v2(path_.c_str(), &db_,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                          nullptr) != SQLITE_OK) {
        throw std::runtime_error(sqlite_error(db_));
      }
      sqlite3_extended_result_codes(db_, 1);
      // One gateway per store: the lock is taken by the first transaction below and held until
      // the store closes, so a second gateway on the same file stops at its start ("database is
      // locked"). With it, WAL needs no shared-memory file either.
      exec("PRAGMA locking_mode=EXCLUSIVE");
      exec("PRAGMA journal_mode=WAL");
      exec(durability == Durability::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
      check_integrity();
      exec("BEGIN IMMEDIATE");
      exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
      exec("CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY, record BLOB NOT NULL)"
           " WITHOUT ROWID");
      // A session's queued messages, one row each: a message is written once, when queued, and
      // deleted once, when it leaves the queue, however often the session changes meanwhile.
      exec("CREATE TABLE IF NOT EXISTS messages (client_id TEXT NOT NULL, seq INTEGER NOT NULL,"
           " message BLOB NOT NULL, PRIMARY KEY (client_id, seq)) WITHOUT ROWID");
      exec(("INSERT OR IGNORE INTO meta (key, value) VALUES ('format', '" + std::string(kFormat) +
            "')").c_str());
      exec("COMMIT");
      check_format();
      upsert_ = std::make_unique<Statement>(
          db_, "INSERT OR REPLACE INTO sessions (client_id, record) VALUES (?1, ?2)");
      remove_ = std::make_unique<Statement>(db_, "DELETE FROM sessions WHERE client_id = ?1");
      remove_messages_ =
          std::make_unique<Statement>(db_, "DELETE FROM messages WHERE client_id = ?1");
      insert_message_ = std::make_unique<Statement>(
          db_, "INSERT OR REPLACE INTO messages (client_id, seq, message) VALUES (?1, ?2, ?3)");
      delete_message_ =
          std::make_unique<Statement>(db_, "DELETE FROM messages WHERE client_id = ?1 AND seq = ?2");
    } catch (const std::runtime_error& e) {
      close();
      throw StoreError(path_ + ": " + e.what());
    }
  }
  ~Impl() { close(); }

  std::vector<core::SessionRecord> load() {
    std::vector<core::SessionRecord> records;
    Statement select(db_, "SELECT client_id, record FROM sessions ORDER BY client_id");
    for (;;) {
      const int rc = sqlite3_step(select.get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) throw StoreError(path_ + ": " + sqlite_error(db_));
      const auto* id = reinterpret_cast<const char*>(sqlite3_column_text(select.get(), 0));
      const std::string client_id = id != nullptr ? id : "";
      const auto* blob = static_cast<const std::uint8_t*>(sqlite3_column_blob(select.get(), 1));
      const auto size = static_cast<std::size_t>(sqlite3_column_bytes(select.get(), 1));
      const std::span<const std::uint8_t> bytes(blob, blob != nullptr ? size : 0);
      try {
        records.push_back(decode_record(bytes));
      } catch (const std::runtime_error& e) {
        throw StoreError(path_ + ": the session of client '" + client_id + "' is unreadable: " +
                         e.what());
      }
      if (records.back().client_id != client_id) {
        throw StoreError(path_ + ": the session stored as client '" + client_id +
                         "' names client '" + records.back().client_id + "'");
      }
      written_[client_id].digest = digest(bytes);
    }
    load_messages(records);
    return records;
  }

  void write(const core::SessionChanges& changes) {
    // What is on disk after this transaction, if it commits; written_ is replaced only then.
    std::unordered_map<std::string, Known> after;
    auto known = [&](const std::string& client_id) -> Known& {
      if (const auto it = after.find(client_id); it != after.end()) return it->second;
      const auto it = written_.find(client_id);
      return after.emplace(client_id, it != written_.end() ? it->second : Known{}).first->second;
    };
    bool begun = false;
    auto begin = [&] {
      if (!begun) exec("BEGIN");
      begun = true;
    };
    std::uint64_t written = 0;
    std::uint64_t deleted = 0;
    try {
      for (const auto& client_id : changes.removed) {
        Known& k = known(client_id);
        if (!k.stored) continue;
        begin();
        bind_text(*remove_, 1, client_id);
        remove_->run();
        bind_text(*remove_messages_, 1, client_id);
        remove_messages_->run();
        k = Known{};
        ++deleted;
      }
      for (const auto& record : changes.saved) {
        Known& k = known(record.client_id);
        const auto bytes = encode_record(record);
        const std::size_t d = digest(bytes);
        if (!k.stored || k.digest != d) {
          begin();
          bind_text(*upsert_, 1, record.client_id);
          bind_blob(*upsert_, 2, bytes);
          upsert_->run();
          k.stored = true;
          k.digest = d;
          ++written;
        }
        // Messages that left the queue (both lists ascend), then the new ones.
        std::size_t at = 0;
        for (const std::uint64_t seq : k.seqs) {
          while (at < record.queue_seqs.size() && record.queue_seqs[at] < seq) ++at;
          if (at < record.queue_seqs.size() && record.queue_seqs[at] == seq) continue;
          begin();
          bind_text(*delete_message_, 1, record.client_id);
          sqlite3_bind_int64(delete_message_->get(), 2, static_cast<sqlite3_int64>(seq));
          delete_message_->run();
        }
        for (const auto& m : record.queue) {
          begin();
          bind_text(*insert_message_, 1, record.client_id);
          sqlite3_bind_int64(insert_message_->get(), 2, static_cast<sqlite3_int64>(m.seq));
          const auto message = encode_message(m);
          bind_blob(*insert_message_, 3, message);
          insert_message_->run();
        }
        k.seqs = record.queue_seqs;
      }
      if (begun) exec("COMMIT");
    } catch (const std::runtime_error& e) {
      if (begun) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw StoreError(path_ + ": " + e.what());
    }
    for (auto& [client_id, k] : after) {
      if (k.stored) {
        written_[client_id] = std::move(k);
      } else {
        written_.erase(client_id);
      }
    }
    rows_written_ += written;
    rows_deleted_ += deleted;
  }

  std::string path_;
  std::uint64_t rows_written_ = 0;
  std::uint64_t rows_deleted_ = 0;

 private:
  static std::size_t digest(std::span<const std::uint8_t> bytes) {
    return std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }

  void exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      std::string what = error != nullptr ? error : sqlite_error(db_);
      sqlite3_free(error);
      throw std::runtime_error(what);
    }
  }

  void bind_blob(Statement& s, int index, const std::vector<std::uint8_t>& bytes) {
    if (sqlite3_bind_blob(s.get(), index, bytes.data(), static_cast<int>(bytes.size()),
                          SQLITE_STATIC) != SQLITE_OK) {
      throw std::runtime_error(sqlite_error(db_));
    }
  }

  // Every session's queued messages, in order; the store knows them from here on.
  void load_messages(std::vector<core::SessionRecord>& records) {
    Statement select(db_, "SELECT seq, message FROM messages WHERE client_id = ?1 ORDER BY seq");
    for (auto& record : records) {
      bind_text(select, 1, record.client_id);
      for (;;) {
        const int rc = sqlite3_step(select.get());
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) throw StoreError(path_ + ": " + sqlite_error(db_));
        const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(select.get(), 0));
        const auto* blob = static_cast<const std::uint8_t*>(sqlite3_column_blob(select.get(), 1));
        const auto size = static_cast<std::size_t>(sqlite3_column_bytes(select.get(), 1));
        try {
          record.queue.push_back(decode_message(std::span(blob, blob != nullptr ? size : 0), seq));
        } catch (const std::runtime_error& e) {
          throw StoreError(path_ + ": message " + std::to_string(seq) + " of client '" +
                           record.client_id + "' is unreadable: " + e.what());
        }
        record.queue_seqs.push_back(seq);
      }
      sqlite3_reset(select.get());
      written_[record.client_id].seqs = record.queue_seqs;
      written_[record.client_id].stored = true;
    }
  }

  void bind_text(Statement& s, int index, const std::string& text) {
    if (sqlite3_bind_text(s.get(), index, text.data(), static_cast<int>(text.size()),
                          SQLITE_STATIC) != SQLITE_OK) {
      throw std::runtime_error(sqlite_error(db_));
    }
  }

  void check_integrity() {
    Statement check(db_, "PRAGMA quick_check");
    std::string result;
    while (sqlite3_step(check.get()) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(check.get(), 0));
      if (text != nullptr && std::string_view(text) != "ok") {
        result += (result.empty() ? "" : "; ") + std::string(text);
      }
    }
    if (!result.empty()) throw std::runtime_error("corrupt (integrity check: " + result + ")");
  }

  void check_format() {
    Statement select(db_, "SELECT value FROM meta WHERE key = 'format'");
    std::string format;
    if (sqlite3_step(select.get()) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(select.get(), 0));
      format = text != nullptr ? text : "";
    }
    if (format != kFormat) {
      throw std::runtime_error("not a session store of this gateway (format '" + format +
                               "', expected '" + std::string(kFormat) + "')");
    }
  }

  void close() {
    upsert_.reset();
    remove_.reset();
    remove_messages_.reset();
    insert_message_.reset();
    delete_message_.reset();
    if (db_ != nullptr) sqlite3_close(db_);
    db_ = nullptr;
  }

  sqlite3* db_ = nullptr;
  std::unique_ptr<Statement> upsert_;
  std::unique_ptr<Statement> remove_;
  std::unique_ptr<Statement> remove_messages_;
  std::unique_ptr<Statement> insert_message_;
  std::unique_ptr<Statement> delete_message_;
  // What is on disk for each client id: a digest of its record's bytes and its messages' seqs.
  struct Known {
    bool stored = false;
    std::size_t digest = 0;
    std::vector<std::uint64_t> seqs;  // ascending
  };
  std::unordered_map<std::string, Known> written_;
};

SessionStore::SessionStore(std::string path, Durability durability)
    : impl_(std::make_unique<Impl>(std::move(path), durability)) {}
SessionStore::~SessionStore() = default;
std::vector<core::SessionRecord> SessionStore::load() { return impl_->load(); }
void SessionStore::write(const core::SessionChanges& changes) { impl_->write(changes); }
std::uint64_t SessionStore::rows_written() const { return impl_->rows_written_; }
std::uint64_t SessionStore::rows_deleted() const { return impl_->rows_deleted_; }
const std::string& SessionStore::path() const { return impl_->path_; }

}  // namespace gateway::store
