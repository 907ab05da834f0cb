// Where each patient's lines are in a FHIR bulk-export folder, for
// `stimrank evaluate --fhir-bulk`: the folder is read once to build the index, then
// each Patient's resources are read back from the places it lists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stimrank {

// The index is kept in memory up to a budget of bytes, then moved to a private
// temporary SQLite database on disk (SQLite's temporary folder: $SQLITE_TMPDIR, else
// /var/tmp, /usr/tmp, /tmp), deleted when the index is: memory does not grow with
// the folder. A patient's places come back in the order they were added. Nothing
// throws; a failure of the temporary database is an error() and a false return.
class BulkIndex {
 public:
  struct Place {
    std::uint32_t file = 0;    // the caller's number of the file
    std::uint64_t offset = 0;  // where the line starts (or the caller's line number)
  };
  static constexpr std::size_t kDefaultMemoryBytes = std::size_t{64} << 20;

  explicit BulkIndex(std::size_t memory_bytes = kDefaultMemoryBytes) noexcept;
  ~BulkIndex();
  BulkIndex(const BulkIndex&) = delete;
  BulkIndex& operator=(const BulkIndex&) = delete;

  // false: the temporary database failed (error() says why); the index is incomplete.
  bool add(std::string_view patient, Place place) noexcept;
  // The places of `patient` into `places` (replaced); false on a failure of the database.
  bool find(std::string_view patient, std::vector<Place>& places) noexcept;
  [[nodiscard]] bool empty() const noexcept;
  [[nodiscard]] bool on_disk() const noexcept;  // moved to the temporary database
  [[nodiscard]] const std::string& error() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stimrank
