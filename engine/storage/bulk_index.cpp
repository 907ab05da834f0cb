// The bulk-export index: a hash map until its budget, then a temporary SQLite table.
#include "stimrank/bulk_index.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <functional>
#include <unordered_map>

#include "sqlite_statement.hpp"

namespace stimrank {

namespace {

using storage_detail::Statement;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

// What an entry costs in memory, roughly: its place, and for a new patient the key
// and the map's node and vector.
constexpr std::size_t kPlaceBytes = sizeof(BulkIndex::Place);
constexpr std::size_t kPatientBytes = 96;

constexpr const char* kFailed =
    "the temporary index database failed (SQLite's temporary folder: $SQLITE_TMPDIR, else "
    "/var/tmp, /usr/tmp, /tmp)";

}  // namespace

struct BulkIndex::Impl {
  explicit Impl(std::size_t budget) : budget(budget) {}
  ~Impl() {
    insert.reset();
    select.reset();
    sqlite3_close(db);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : sqlite3_errmsg(db);
      sqlite3_free(message);
      throw std::runtime_error(text);
    }
  }

  // Everything in memory moves to a new temporary database; later entries go there.
  void move_to_disk() {
    // "": a private temporary database on disk, deleted when it is closed.
    if (sqlite3_open_v2("", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK)
      throw std::runtime_error(db ? sqlite3_errmsg(db) : "out of memory");
    // Nothing to recover after a crash: no journal, no sync. The page cache stays
    // within the budget (64 KiB to 8 MiB), and the sort that builds the index spills
    // to temporary files.
    exec("PRAGMA journal_mode=OFF");
    exec("PRAGMA synchronous=OFF");
    const std::size_t cache_kib = std::clamp<std::size_t>(budget / 1024, 64, 8192);
    exec(("PRAGMA cache_size=-" + std::to_string(cache_kib)).c_str());
    exec("PRAGMA temp_store=FILE");
    exec(
        "CREATE TABLE place(patient TEXT NOT NULL, file INTEGER NOT NULL, offset INTEGER NOT "
        "NULL)");
    exec("BEGIN");
    insert = std::make_unique<Statement>(db, "INSERT INTO place VALUES (?1, ?2, ?3)");
    for (const auto& [patient, places] : memory)
      for (const Place& place : places) put(patient, place);
    decltype(memory)().swap(memory);
    bytes = 0;
  }

  void put(std::string_view patient, const Place& place) {
    insert->bind(1, patient)
        .bind(2, static_cast<std::int64_t>(place.file))
        .bind(3, static_cast<std::int64_t>(place.offset));
    insert->step();
    insert->reset();
  }

  // The first lookup ends the writing: commit, then index by patient.
  void finish_writing() {
    exec("COMMIT");
    exec("CREATE INDEX place_by_patient ON place(patient)");
    select = std::make_unique<Statement>(
        db, "SELECT file, offset FROM place WHERE patient = ?1 ORDER BY rowid");
  }

  std::size_t budget;
  std::size_t bytes = 0;
  std::unordered_map<std::string, std::vector<Place>, StringHash, std::equal_to<>> memory;
  sqlite3* db = nullptr;
  std::unique_ptr<Statement> insert, select;
  bool any = false;
  std::string error;
};

BulkIndex::BulkIndex(std::size_t memory_bytes) noexcept {
  try {
    impl_ = std::make_unique<Impl>(memory_bytes);
  } catch (...) {
  }
}

BulkIndex::~BulkIndex() = default;

bool BulkIndex::add(std::string_view patient, Place place) noexcept {
  if (!impl_) return false;
  Impl& index = *impl_;
  if (!index.error.empty()) return false;
  try {
    index.any = true;
    if (index.db) {
      if (index.select) {  // added after a lookup: the index is kept up to date
        Statement(index.db, "INSERT INTO place VALUES (?1, ?2, ?3)")
            .bind(1, patient)
            .bind(2, static_cast<std::int64_t>(place.file))
            .bind(3, static_cast<std::int64_t>(place.offset))
            .step();
      } else {
        index.put(patient, place);
      }
      return true;
    }
    auto it = index.memory.find(patient);
    if (it == index.memory.end()) {
      it = index.memory.emplace(std::string(patient), std::vector<Place>()).first;
      index.bytes += patient.size() + kPatientBytes;
    }
    it->second.push_back(place);
    index.bytes += kPlaceBytes;
    if (index.bytes > index.budget) index.move_to_disk();
    return true;
  } catch (const std::exception& e) {
    index.error = kFailed + std::string(": ") + e.what();
  } catch (...) {
    index.error = kFailed;
  }
  return false;
}

bool BulkIndex::find(std::string_view patient, std::vector<Place>& places) noexcept {
  places.clear();
  if (!impl_) return false;
  Impl& index = *impl_;
  if (!index.error.empty()) return false;
  try {
    if (!index.db) {
      if (auto it = index.memory.find(patient); it != index.memory.end()) places = it->second;
      return true;
    }
    if (!index.select) index.finish_writing();
    Statement& select = *index.select;
    select.bind(1, patient);
    while (select.step())
      places.push_back({static_cast<std::uint32_t>(select.integer(0)),
                        static_cast<std::uint64_t>(select.integer(1))});
    select.reset();
    return true;
  } catch (const std::exception& e) {
    index.error = kFailed + std::string(": ") + e.what();
  } catch (...) {
    index.error = kFailed;
  }
  places.clear();
  return false;
}

bool BulkIndex::empty() const noexcept {
  return !impl_ || !impl_->any;
}

bool BulkIndex::on_disk() const noexcept {
  return impl_ && impl_->db;
}

const std::string& BulkIndex::error() const noexcept {
  static const std::string kNoMemory = "out of memory";
  return impl_ ? impl_->error : kNoMemory;
}

}  // namespace stimrank
