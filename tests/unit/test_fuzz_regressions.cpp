// Every input a fuzz target ever failed on, and the hand-picked hard ones, replayed
// through the same checks the fuzz targets make (tests/fuzz/fuzz_*.cpp): a property
// that breaks aborts the test binary with the reason, as it did under libFuzzer.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../fuzz/fuzz_common.hpp"
#include "helpers.hpp"

namespace {

namespace fs = std::filesystem;

int replay(const std::string& target, int (*one)(const unsigned char*, std::size_t)) {
  int count = 0;
  for (const auto& entry :
       fs::directory_iterator(std::string(STIMRANK_TEST_DIR) + "/fuzz/regressions/" + target)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    const std::string input = text.str();
    INFO(entry.path().string());
    one(reinterpret_cast<const unsigned char*>(input.data()), input.size());
    ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("fuzz regressions: the rule language", "[fuzz]") {
  CHECK(replay("rules", fuzzing::one_rules) > 0);
}
TEST_CASE("fuzz regressions: profiles, both readers", "[fuzz]") {
  CHECK(replay("profile", fuzzing::one_profile) > 0);
}
TEST_CASE("fuzz regressions: FHIR records", "[fuzz]") {
  CHECK(replay("fhir", fuzzing::one_fhir) > 0);
}
TEST_CASE("fuzz regressions: vignette test files", "[fuzz]") {
  CHECK(replay("testfile", fuzzing::one_testfile) > 0);
}
TEST_CASE("fuzz regressions: CDS Hooks calls", "[fuzz]") {
  CHECK(replay("cds_hooks", fuzzing::one_cds_hooks) > 0);
}
