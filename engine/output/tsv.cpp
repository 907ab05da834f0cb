// The benchmark's canonical line (profile TAB fired rule ids TAB option:score,…):
// from a decision, without building a Result (the batch path), and from a Result.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "explanation.hpp"
#include "json_text.hpp"
#include "stimrank/evaluator.hpp"

namespace stimrank {
namespace engine {

char* append_tsv_text(std::string_view text, char* out) {
  // A tab or line break in a profile id would break one line per profile, one field
  // per tab: they are written as \t, \n, \r, and a backslash as \\.
  for (char c : text) {
    const char* escape = c == '\t'   ? "\\t"
                         : c == '\n' ? "\\n"
                         : c == '\r' ? "\\r"
                         : c == '\\' ? "\\\\"
                                     : nullptr;
    if (escape) {
      *out++ = escape[0];
      *out++ = escape[1];
    } else {
      *out++ = c;
    }
  }
  return out;
}

using namespace rules::model;

void append_tsv(const Model& /*model*/, const Plan& plan, const Facts& facts,
                Assessment& assessment, std::string& out) {
  // Fired rules in byte order of their ids: a bitset over the id order.
  std::uint64_t* bits = assessment.fired_bits.data();
  std::size_t fired = 0;
  for (std::uint32_t rule : assessment.decided)
    if (assessment.truth[rule] == Truth::True && plan.tallies[rule].option_count > 0) {
      std::uint32_t position = plan.tallies[rule].id_order;
      bits[position >> 6] |= std::uint64_t{1} << (position & 63);
      ++fired;
    }
  // The line is written through a pointer into a per-thread buffer with room for
  // the longest it can be, then appended: resizing `out` to that bound would fill
  // it with zeros first, several times the line's length with many options.
  const std::size_t bound = 2 * facts.id.size() + 2 + fired * (plan.longest_rule_id + 1) +
                            assessment.ranked.size() * (plan.longest_option_id + 34) + 16;
  thread_local std::vector<char> line;
  if (line.size() < bound) line.resize(bound);
  char* const start = line.data();
  char* p = start;
  auto put = [&p](std::string_view text) {
    if (!text.empty()) std::memcpy(p, text.data(), text.size());
    p += text.size();
  };
  // Ids of at most 16 bytes are copied 16 bytes at a time (the id text is padded,
  // the line has room): one move instead of a call per id.
  const bool short_ids = plan.longest_rule_id <= 16 && plan.longest_option_id < 16;
  auto put_id = [&p, short_ids, &plan](std::uint32_t begin, std::uint32_t end) {
    const char* text = plan.id_text.data() + begin;
    if (short_ids)
      std::memcpy(p, text, 16);
    else
      std::memcpy(p, text, end - begin);
    p += end - begin;
  };
  p = append_tsv_text(facts.id, p);
  *p++ = '\t';
  bool first = true;
  for (std::size_t word = 0; word < assessment.fired_bits.size(); ++word) {
    for (std::uint64_t w = bits[word]; w; w &= w - 1) {
      if (!first) *p++ = ',';
      first = false;
      std::size_t position = word * 64 + static_cast<std::size_t>(__builtin_ctzll(w));
      put_id(plan.rule_id_at[position], plan.rule_id_at[position + 1]);
    }
    bits[word] = 0;
  }
  *p++ = '\t';
  first = true;
  for (std::uint32_t option : assessment.ranked) {
    if (!first) *p++ = ',';
    first = false;
    put_id(plan.option_id_at[option], plan.option_id_at[option + 1]);
    double score = assessment.options[option].score;
    // A whole score below 10^15 (NaN and infinities fail the first test): the
    // integer cast is exact, and cheaper than std::floor, a library call here.
    if (std::fabs(score) < 1e15 && static_cast<double>(static_cast<long long>(score)) == score) {
      p = std::to_chars(p, p + 24, static_cast<long long>(score)).ptr;
    } else {
      std::string text;
      detail::append_json_number(score, text);
      put(text.substr(0, 32));
    }
  }
  out.append(start, static_cast<std::size_t>(p - start));
}

}  // namespace engine

namespace {
std::string score_text(double score) {
  std::string text;
  detail::append_json_number(score, text);
  return text;
}
}  // namespace

std::string tsv_line(const Result& result) {
  std::vector<std::string> fired;
  for (const OptionResult& o : result.options)
    for (const Reason& r : o.reasons)
      if (r.kind != "missing_data" &&
          !(r.kind == "prerequisite" && r.met != std::optional<bool>(true)))
        fired.push_back(r.rule);
  std::sort(fired.begin(), fired.end());
  fired.erase(std::unique(fired.begin(), fired.end()), fired.end());
  std::string out(2 * result.profile.size(), '\0');
  out.resize(
      static_cast<std::size_t>(engine::append_tsv_text(result.profile, out.data()) - out.data()));
  out += "\t";
  for (std::size_t i = 0; i < fired.size(); ++i) out += (i ? "," : "") + fired[i];
  out += "\t";
  bool first = true;
  for (const OptionResult& o : result.options) {
    if (!o.rank) continue;
    out += (first ? "" : ",") + o.option + ":" + score_text(o.score);
    first = false;
  }
  return out;
}

}  // namespace stimrank
