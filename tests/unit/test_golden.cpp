// End-to-end golden tests: profile → result JSON, byte for byte.
#include "helpers.hpp"

namespace fs = std::filesystem;

namespace {
void run_goldens(const fs::path& rules_path, const fs::path& profiles_dir,
                 const fs::path& expected_dir) {
  stimrank::LoadResult loaded = stimrank::load_rules(rules_path.string());
  INFO(stimrank::format_all(loaded.diagnostics));
  REQUIRE(loaded.ok());
  int files = 0;
  for (const auto& entry : fs::directory_iterator(profiles_dir)) {
    if (entry.path().extension() != ".json" || entry.path().stem().extension() == ".expected")
      continue;
    ++files;
    SECTION(entry.path().filename().string()) {
      stimrank::Evaluation evaluation =
          loaded.ruleset->evaluate_json(testing::read_file(entry.path()));
      std::string actual;
      if (evaluation.ok()) {
        actual = evaluation.result->to_json(2) + "\n";
      } else {
        for (const auto& e : evaluation.errors) actual += e.format() + "\n";
      }
      testing::check_golden(expected_dir / (entry.path().stem().string() + ".expected.json"),
                            actual);
    }
  }
  CHECK(files >= 3);
}
}  // namespace

TEST_CASE("golden: engine semantics on the test rule set", "[golden]") {
  fs::path dir = fs::path(STIMRANK_TEST_DIR) / "golden" / "eval";
  run_goldens(dir / "rules", dir, dir);
}

TEST_CASE("golden: example profiles on the shipped knowledge base", "[golden]") {
  run_goldens(STIMRANK_KNOWLEDGE_DIR, fs::path(STIMRANK_EXAMPLES_DIR) / "profiles",
              fs::path(STIMRANK_TEST_DIR) / "golden" / "examples");
}
