// stimrank_bench: stimrank as a peer of ../shared/bench (README §5). Loads a
// translated rule set, evaluates the first LIMIT profiles in process, writes the
// canonical result file and the stats JSON.
//   stimrank_bench --rules R.rules --profiles P.jsonl --limit N --out OUT.tsv --stats S.json
#include <stimrank/stimrank.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::string rules, profiles, out, stats;
  long long limit = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i], value = argv[i + 1];
    if (key == "--rules") rules = value;
    else if (key == "--profiles") profiles = value;
    else if (key == "--out") out = value;
    else if (key == "--stats") stats = value;
    else if (key == "--limit") limit = std::stoll(value);
  }
  if (rules.empty() || profiles.empty() || out.empty() || stats.empty()) {
    std::cerr << "usage: stimrank_bench --rules R.rules --profiles P.jsonl --limit N --out OUT.tsv --stats S.json\n";
    return 2;
  }
  using clock = std::chrono::steady_clock;
  auto load_start = clock::now();
  stimrank::LoadResult loaded = stimrank::load_rules(rules);
  double load_s = std::chrono::duration<double>(clock::now() - load_start).count();
  if (!loaded.ok()) {
    std::cerr << stimrank::format_all(loaded.diagnostics);
    return 1;
  }
  std::ifstream in(profiles);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line) && (limit < 0 || static_cast<long long>(lines.size()) < limit);)
    lines.push_back(std::move(line));
  std::string output;
  output.reserve(lines.size() * 256);
  std::size_t steady_from = lines.size() / 10;
  auto start = clock::now(), steady_start = start;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i == steady_from) steady_start = clock::now();
    stimrank::Evaluation e = loaded.ruleset->evaluate_json(lines[i]);
    if (!e.ok()) {
      std::cerr << "profile " << i + 1 << ": " << e.errors[0].format() << "\n";
      return 1;
    }
    output += e.result->to_tsv();
    output += '\n';
  }
  auto end = clock::now();
  std::ofstream(out, std::ios::binary) << output;
  double eval_s = std::chrono::duration<double>(end - start).count();
  double steady_s = std::chrono::duration<double>(end - steady_start).count();
  std::ofstream(stats) << "{\"engine\": \"stimrank\", \"version\": \"" << STIMRANK_VERSION
                       << "\", \"clock\": \"wall\", \"profiles\": " << lines.size() << ", \"load_s\": " << load_s
                       << ", \"eval_s\": " << eval_s << ", \"steady_profiles\": " << lines.size() - steady_from
                       << ", \"steady_s\": " << steady_s << "}\n";
  return 0;
}
