// Micro-benchmarks (Google Benchmark): compiling rule sets, single-profile latency
// on the shipped knowledge base (p50/p99), and reading profile JSON.
//   build/stimrank_micro [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stimrank/stimrank.hpp>
#include <string>
#include <vector>

#include "compiled.hpp"
#include "explanation.hpp"
#include "profile.hpp"

namespace {

namespace fs = std::filesystem;
const std::string kSource = STIMRANK_SOURCE_DIR;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The shipped example profiles and every vignette's profile, compact.
const std::vector<std::string>& knowledge_profiles() {
  static const std::vector<std::string> profiles = [] {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(kSource + "/examples/profiles"))
      out.push_back(nlohmann::json::parse(read_file(entry.path())).dump());
    for (const auto& c :
         nlohmann::json::parse(read_file(kSource + "/knowledge/tests/vignettes.json")))
      out.push_back(c["profile"].dump());
    return out;
  }();
  return profiles;
}

std::shared_ptr<const stimrank::RuleSet> knowledge_base() {
  static const auto loaded = stimrank::load_rules(kSource + "/knowledge");
  return loaded.ruleset;
}

// A rule set shaped like ../shared/bench's workload: `options` options of 8 rules
// (1-4 conditions over diagnoses, numbers, flags and enums), from a fixed seed.
std::string synthetic_rules(int options) {
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&](std::uint64_t bound) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state % bound;
  };
  std::string codes,
      text = "ruleset \"synthetic\" version \"1\";\nsource s \"synthetic\";\nfacts {\n";
  for (int c = 0; c < 60; ++c) codes += (c ? ", \"C" : "\"C") + std::to_string(c) + "\"";
  text += "  age: int 18..95;\n  nrs: int 0..10;\n  region: enum {a, b, c, d, e, f, g, h, i, j};\n";
  text += "  diagnoses: set of enum {" + codes + "};\n";
  for (int f = 0; f < 14; ++f) text += "  flag" + std::to_string(f) + ": bool;\n";
  text += "}\npolicy { combine sum; unverified_evidence accept; rank by score desc, id; }\n";
  static const char* kinds[] = {"absolute_contraindication",
                                "relative_contraindication",
                                "indication",
                                "indication",
                                "indication",
                                "indication",
                                "indication",
                                "indication"};
  int rule = 0;
  for (int o = 0; o < options; ++o) {
    text += "option o" + std::to_string(o) + " \"Option " + std::to_string(o) +
            "\" {\n  invasiveness invasive;\n";
    for (int r = 0; r < 8; ++r) {
      std::string when;
      int conditions = 1 + static_cast<int>(next(4));
      for (int c = 0; c < conditions; ++c) {
        if (c) when += " and ";
        switch ((c + r) % 4) {
          case 0:
            when += "diagnoses has any {\"C" + std::to_string(next(60)) + "\", \"C" +
                    std::to_string(next(60)) + "\"}";
            break;
          case 1: when += "age >= " + std::to_string(18 + next(70)); break;
          case 2: when += "flag" + std::to_string(next(14)) + " == true"; break;
          default: when += "region == " + std::string(1, static_cast<char>('a' + next(10))); break;
        }
      }
      std::string kind = kinds[r];
      std::string amount = kind == "indication" ? " weight " + std::to_string(1 + next(9))
                           : kind == "relative_contraindication"
                               ? " penalty " + std::to_string(1 + next(4))
                               : "";
      text += "  " + kind + " r" + std::to_string(rule++) + " when " + when + amount +
              " source s because \"r\";\n";
    }
    text += "}\n";
  }
  return text;
}

void BM_CompileKnowledgeBase(benchmark::State& state) {
  for (auto _ : state) {
    auto loaded = stimrank::load_rules(kSource + "/knowledge");
    if (!loaded.ok()) state.SkipWithError("the knowledge base does not load");
    benchmark::DoNotOptimize(loaded.ruleset);
  }
}
BENCHMARK(BM_CompileKnowledgeBase)->Unit(benchmark::kMillisecond);

void BM_CompileSynthetic(benchmark::State& state) {
  std::string text = synthetic_rules(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto loaded = stimrank::compile_rules({{"synthetic.rules", text}});
    if (!loaded.ok()) {
      state.SkipWithError(stimrank::format_all(loaded.diagnostics).c_str());
      break;
    }
    benchmark::DoNotOptimize(loaded.ruleset);
  }
  state.counters["rules"] = static_cast<double>(state.range(0) * 8);
}
BENCHMARK(BM_CompileSynthetic)->Arg(40)->Arg(400)->Unit(benchmark::kMillisecond);

// Latency of one profile, every call timed on its own: p50 and p99 as counters.
template <typename Call>
void latency(benchmark::State& state, Call call) {
  const auto& profiles = knowledge_profiles();
  std::vector<double> micros;
  micros.reserve(1u << 20);
  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& profile = profiles[i++ % profiles.size()];
    auto start = std::chrono::steady_clock::now();
    call(profile);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) { return micros[static_cast<std::size_t>(q * (micros.size() - 1))]; };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["max_us"] = micros.back();
  state.counters["profiles"] = static_cast<double>(profiles.size());
}

// The full explained result as a fresh C++ object (RuleSet::evaluate_json, as the
// Python binding calls it): its ≈ 460 strings and vectors are allocated and freed
// on every call, so this row measures the allocator as much as the engine.
void BM_KnowledgeBaseLatency_Result(benchmark::State& state) {
  auto ruleset = knowledge_base();
  latency(state, [&](const std::string& profile) {
    stimrank::Evaluation e = ruleset->evaluate_json(profile);
    if (!e.ok()) state.SkipWithError("a profile failed");
    benchmark::DoNotOptimize(e);
  });
}
BENCHMARK(BM_KnowledgeBaseLatency_Result);

// The same Result, filled by a reused Evaluator into a reused Result.
void BM_KnowledgeBaseLatency_ResultReused(benchmark::State& state) {
  stimrank::Evaluator evaluator(knowledge_base());
  stimrank::Result result;
  std::vector<stimrank::ProfileError> errors;
  latency(state, [&](const std::string& profile) {
    if (!evaluator.evaluate(profile, result, errors)) state.SkipWithError("a profile failed");
    benchmark::DoNotOptimize(result);
  });
}
BENCHMARK(BM_KnowledgeBaseLatency_ResultReused);

// The same, written out as the contract's JSON with a reused Evaluator: what a
// service answering EHR hooks sends.
void BM_KnowledgeBaseLatency_Json(benchmark::State& state) {
  stimrank::Evaluator evaluator(knowledge_base());
  std::string out;
  std::vector<stimrank::ProfileError> errors;
  latency(state, [&](const std::string& profile) {
    out.clear();
    if (!evaluator.append(profile, stimrank::OutputFormat::json, out, errors))
      state.SkipWithError("a profile failed");
    benchmark::DoNotOptimize(out.data());
  });
}
BENCHMARK(BM_KnowledgeBaseLatency_Json);

// Statuses, scores and ranking only (the TSV line).
void BM_KnowledgeBaseLatency_Ranking(benchmark::State& state) {
  stimrank::Evaluator evaluator(knowledge_base());
  std::string out;
  std::vector<stimrank::ProfileError> errors;
  latency(state, [&](const std::string& profile) {
    out.clear();
    if (!evaluator.append(profile, stimrank::OutputFormat::tsv, out, errors))
      state.SkipWithError("a profile failed");
    benchmark::DoNotOptimize(out.data());
  });
}
BENCHMARK(BM_KnowledgeBaseLatency_Ranking);

// The machine's own pauses, for reading the latencies above: a loop that does
// nothing but read the clock, with every gap over 5 µs between two reads counted.
// On the VMs we measure on, a timer tick every millisecond pauses the guest for
// tens of µs; a call that takes D µs then meets one with a chance of about
// D × stalls_per_s / 10^6, whatever the call does.
void BM_MachineStalls(benchmark::State& state) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> stalls;
  double seconds = 0;
  for (auto _ : state) {
    auto start = Clock::now(), previous = start;
    for (;;) {
      auto now = Clock::now();
      double gap = std::chrono::duration<double, std::micro>(now - previous).count();
      if (gap > 5) stalls.push_back(gap);
      previous = now;
      if (now - start > std::chrono::milliseconds(200)) break;
    }
    seconds += std::chrono::duration<double>(previous - start).count();
  }
  std::sort(stalls.begin(), stalls.end());
  auto at = [&](double q) {
    return stalls.empty() ? 0.0 : stalls[static_cast<std::size_t>(q * (stalls.size() - 1))];
  };
  state.counters["stalls_per_s"] = static_cast<double>(stalls.size()) / seconds;
  state.counters["stall_p50_us"] = at(0.50);
  state.counters["stall_p90_us"] = at(0.90);
  state.counters["stall_max_us"] = stalls.empty() ? 0.0 : stalls.back();
}
BENCHMARK(BM_MachineStalls)->Iterations(5)->Unit(benchmark::kMillisecond);

// Reading a profile into facts: the simdjson path and the validating nlohmann one.
void BM_LoadProfile(benchmark::State& state) {
  auto ruleset = knowledge_base();
  const auto& impl = stimrank::detail::compiled(*ruleset);
  const auto& profiles = knowledge_profiles();
  bool fast = state.range(0) == 1;
  std::size_t i = 0, bytes = 0;
  stimrank::engine::Facts facts;
  std::vector<stimrank::ProfileError> errors;
  // The fast reader takes valid profiles without warnings; time it on those.
  std::vector<std::string> taken;
  for (const std::string& profile : profiles)
    if (!fast ||
        stimrank::engine::fast_load_profile(impl.model, impl.plan, profile, impl.limits, facts))
      taken.push_back(profile);
  for (auto _ : state) {
    const std::string& profile = taken[i++ % taken.size()];
    bytes += profile.size();
    bool ok = fast ? stimrank::engine::fast_load_profile(impl.model, impl.plan, profile,
                                                         impl.limits, facts)
                   : stimrank::engine::load_profile(impl.model, impl.plan, profile, impl.limits,
                                                    facts, errors);
    if (!ok) state.SkipWithError("a profile did not load");
    benchmark::DoNotOptimize(facts);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.SetLabel(fast ? "simdjson (valid profiles)" : "nlohmann, validating");
}
BENCHMARK(BM_LoadProfile)->Arg(1)->Arg(0);

}  // namespace

BENCHMARK_MAIN();
