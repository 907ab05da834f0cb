// stimrank_bench: stimrank as a peer of ../shared/bench (README §5). Loads a
// translated rule set, evaluates the first LIMIT profiles in process, writes the
// canonical result file and the stats JSON.
//
//   stimrank_bench --rules R.rules --profiles P.jsonl --limit N --out OUT.tsv --stats S.json
//                  [--threads T] [--preloaded]
//
// By default the timed loop is the harness's: for every profile, parse its JSON line
// (public Evaluator API), evaluate, collect the fired rules, rank, format the line.
// --preloaded reads every profile into facts before the clock starts, so the loop
// is evaluation, ranking and formatting only ("profiles already loaded").
// --threads T splits the profiles into T contiguous ranges, one thread each; the
// output is the same file.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stimrank/stimrank.hpp>
#include <stimrank/version.hpp>
#include <string>
#include <thread>
#include <vector>

#include "compiled.hpp"
#include "decision.hpp"
#include "explanation.hpp"
#include "profile.hpp"
#include "spread.hpp"

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

int main(int argc, char** argv) {
  std::string rules, profiles, out, stats;
  long long limit = -1;
  unsigned threads = 1;
  bool preloaded = false;
  for (int i = 1; i < argc; ++i) {
    std::string key = argv[i];
    if (key == "--preloaded") {
      preloaded = true;
      continue;
    }
    if (i + 1 >= argc) break;
    std::string value = argv[++i];
    if (key == "--rules")
      rules = value;
    else if (key == "--profiles")
      profiles = value;
    else if (key == "--out")
      out = value;
    else if (key == "--stats")
      stats = value;
    else if (key == "--limit")
      limit = std::stoll(value);
    else if (key == "--threads")
      threads = static_cast<unsigned>(std::max(1, std::stoi(value)));
  }
  if (rules.empty() || profiles.empty() || out.empty() || stats.empty()) {
    std::cerr << "usage: stimrank_bench --rules R.rules --profiles P.jsonl --limit N --out OUT.tsv "
                 "--stats S.json [--threads T] [--preloaded]\n";
    return 2;
  }
  auto load_start = Clock::now();
  stimrank::LoadResult loaded = stimrank::load_rules(rules);
  double load_s = std::chrono::duration<double>(Clock::now() - load_start).count();
  if (!loaded.ok()) {
    std::cerr << stimrank::format_all(loaded.diagnostics);
    return 1;
  }
  const stimrank::detail::CompiledRuleSet& impl = stimrank::detail::compiled(*loaded.ruleset);

  std::ifstream in(profiles);
  std::vector<std::string> lines;
  for (std::string line;
       (limit < 0 || static_cast<long long>(lines.size()) < limit) && std::getline(in, line);)
    lines.push_back(std::move(line));

  std::vector<stimrank::engine::Facts> facts;
  if (preloaded) {
    facts.resize(lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      std::vector<stimrank::ProfileError> errors;
      if (!stimrank::engine::load_profile_any(impl.model, impl.plan, lines[i], impl.limits,
                                              facts[i], errors)) {
        std::cerr << "profile " << i + 1 << ": " << errors[0].format() << "\n";
        return 1;
      }
    }
  }

  // Profiles are shared out in chunks, claimed in order by whichever thread is
  // free, so a slower core does not hold the others up. Each thread appends its
  // chunks' lines to a buffer of its own and writes it to a file of its own when it
  // holds kWriteBytes (as the harness's peers write in blocks); the result file is
  // put together in order after the clock stops. Chunks of 8 to 2048 profiles,
  // about 512 a batch: small enough that the last ones, shared out at the end,
  // leave no thread idle for long, and, as a chunk is not a write(2), their
  // number costs nothing.
  const std::size_t kChunk = std::clamp<std::size_t>(lines.size() / 512, 8, 2048);
  constexpr std::size_t kWriteBytes = 256u << 10;
  threads =
      static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(1, lines.size())));
  const std::size_t chunks = (lines.size() + kChunk - 1) / kChunk;
  const std::size_t steady_chunk = chunks / 10;
  struct Written {
    unsigned thread = 0;
    long offset = 0, length = 0;
  };
  std::vector<Written> written(chunks);
  std::vector<std::string> parts(threads);
  std::vector<std::FILE*> files(threads);
  std::vector<std::string> errors_of(threads);
  for (unsigned t = 0; t < threads; ++t) {
    parts[t] = out + ".part" + std::to_string(t);
    files[t] = std::fopen(parts[t].c_str(), "wb");
    if (!files[t]) {
      std::cerr << "cannot write " << parts[t] << "\n";
      return 1;
    }
  }
  std::atomic<std::size_t> next{0};
  std::atomic<unsigned> ready{0};
  Clock::time_point steady_start{};
  std::atomic<bool> steady_seen{false};
  auto run = [&](unsigned t) {
    stimrank::Evaluator evaluator(loaded.ruleset);
    stimrank::engine::Assessment assessment;
    std::vector<stimrank::ProfileError> errors;
    std::string output;
    output.reserve(kWriteBytes + kChunk * 512);
    long flushed = 0;  // bytes of this thread's file already written
    auto flush = [&] {
      std::fwrite(output.data(), 1, output.size(), files[t]);
      flushed += static_cast<long>(output.size());
      output.clear();
    };
    ready.fetch_add(1);
    while (ready.load() < threads) {
    }  // start together
    for (std::size_t c; (c = next.fetch_add(1)) < chunks;) {
      if (c == steady_chunk) {
        steady_start = Clock::now();
        steady_seen = true;
      }
      const std::size_t chunk_start = output.size();
      std::size_t last = std::min(lines.size(), (c + 1) * kChunk);
      for (std::size_t i = c * kChunk; i < last; ++i) {
        if (preloaded) {
          stimrank::engine::assess(impl.model, impl.plan, facts[i], assessment);
          stimrank::engine::append_tsv(impl.model, impl.plan, facts[i], assessment, output);
        } else if (!evaluator.append(lines[i], stimrank::OutputFormat::tsv, output, errors)) {
          errors_of[t] = "profile " + std::to_string(i + 1) + ": " + errors[0].format();
          return;
        }
        output += '\n';
      }
      written[c] = {t, flushed + static_cast<long>(chunk_start),
                    static_cast<long>(output.size() - chunk_start)};
      if (output.size() >= kWriteBytes) flush();
    }
    flush();
    std::fflush(files[t]);
  };
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t)
    pool.push_back(stimrank::engine::worker_thread(t - 1, [&run, t] { run(t); }));
  run(0);
  for (auto& t : pool) t.join();
  auto end = Clock::now();
  for (const std::string& error : errors_of)
    if (!error.empty()) {
      std::cerr << error << "\n";
      return 1;
    }
  if (!steady_seen) steady_start = start;
  std::size_t steady_profiles = lines.size() - std::min(lines.size(), steady_chunk * kChunk);

  std::vector<std::string> contents(threads);
  for (unsigned t = 0; t < threads; ++t) {
    std::fclose(files[t]);
    std::ifstream part(parts[t], std::ios::binary);
    contents[t].assign(std::istreambuf_iterator<char>(part), std::istreambuf_iterator<char>());
    std::remove(parts[t].c_str());
  }
  std::ofstream result(out, std::ios::binary);
  for (const Written& w : written)
    result.write(contents[w.thread].data() + w.offset, static_cast<std::streamsize>(w.length));
  result.close();
  double eval_s = std::chrono::duration<double>(end - start).count();
  double steady_s = std::chrono::duration<double>(end - steady_start).count();
  std::string engine = std::string("stimrank") + (preloaded ? " (facts preloaded)" : "") +
                       (threads > 1 ? ", " + std::to_string(threads) + " threads" : "");
  std::ofstream(stats) << "{\"engine\": \"" << engine << "\", \"version\": \"" << STIMRANK_VERSION
                       << "\", \"clock\": \"wall\", \"profiles\": " << lines.size()
                       << ", \"threads\": " << threads
                       << ", \"preloaded\": " << (preloaded ? "true" : "false")
                       << ", \"load_s\": " << load_s << ", \"eval_s\": " << eval_s
                       << ", \"steady_profiles\": " << steady_profiles
                       << ", \"steady_s\": " << steady_s << "}\n";
  return 0;
}
