// Vignette test files (`stimrank test`): any text, against the knowledge base.
#include <stimrank/testing.hpp>

#include "fuzz_common.hpp"

int fuzzing::one_testfile(const unsigned char* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  stimrank::TestReport report =
      stimrank::run_test_text(fuzzing::knowledge_base(), "fuzz.json", text);
  if (report.passed + report.failed != static_cast<int>(report.cases.size()))
    fuzzing::property_failed("every case is counted once", text);
  return 0;
}

#ifndef STIMRANK_FUZZ_NO_MAIN
extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  return fuzzing::one_testfile(data, size);
}
#endif
