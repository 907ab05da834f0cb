// stimrank._core: the pybind11 layer over the public C++ API. It only converts;
// the Python package (stimrank/__init__.py) adds the friendly API and exceptions.
// Nothing here throws but MemoryError: the C++ API reports problems as data.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <new>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "stimrank/stimrank.hpp"
#include "stimrank/version.hpp"

namespace py = pybind11;

namespace {

py::dict diagnostic_dict(const stimrank::Diagnostic& d) {
  py::dict out;
  out["severity"] = stimrank::to_string(d.severity);
  out["code"] = d.code;
  out["file"] = d.location.file;
  out["line"] = d.location.line;
  out["column"] = d.location.column;
  out["message"] = d.message;
  out["hint"] = d.hint;
  out["text"] = d.format();
  return out;
}

struct Evaluation {
  std::optional<stimrank::Result> result;
  std::vector<std::pair<std::string, std::string>> errors;  // (JSON path, message)
};

Evaluation convert(stimrank::Evaluation&& e) {
  Evaluation out;
  out.result = std::move(e.result);
  for (auto& error : e.errors) out.errors.emplace_back(error.path, error.message);
  return out;
}

// Strings interned as codes: a column of a long frame repeats few values, and pandas
// takes (codes, categories) as a Categorical without a Python string per row.
class Interned {
 public:
  std::int32_t code(const std::string& value) {
    auto [it, added] = index_.emplace(value, static_cast<std::int32_t>(values_.size()));
    if (added) values_.push_back(value);
    return it->second;
  }
  const std::vector<std::string>& values() const { return values_; }

 private:
  std::unordered_map<std::string, std::int32_t> index_;
  std::vector<std::string> values_;
};

template <typename T>
py::array_t<T> to_array(const std::vector<T>& values) {
  py::array_t<T> out(static_cast<py::ssize_t>(values.size()));
  std::copy(values.begin(), values.end(), out.mutable_data());
  return out;
}

// The long frame's columns for a range of profiles, as one thread builds them: an
// Evaluator and one Result reused from profile to profile (next to no allocation),
// strings interned locally.
struct Columns {
  Interned profiles, options, statuses, schemes, grades, rules, errors;
  std::vector<std::int32_t> profile, option, status, scheme, grade, rule, error, missing, index;
  std::vector<double> rank, score;

  void add(const std::shared_ptr<const stimrank::RuleSet>& ruleset,
           const std::vector<std::string>& texts, std::size_t begin, std::size_t end) {
    stimrank::Evaluator evaluator(ruleset);
    stimrank::Result r;
    std::vector<stimrank::ProfileError> problems;
    const double none = std::nan("");
    std::string text, fired;
    for (std::size_t i = begin; i < end; ++i) {
      problems.clear();
      if (!evaluator.evaluate(texts[i], r, problems)) {
        std::string id;  // the profile's id when its text has one
        const auto parsed = nlohmann::json::parse(texts[i], nullptr, false);
        if (parsed.is_object() && parsed.contains("id") && parsed["id"].is_string())
          id = parsed["id"].get<std::string>();
        std::string message;
        for (const auto& problem : problems)
          message += (message.empty() ? "" : "; ") + problem.format();
        row(profiles.code(id), -1, statuses.code("error"), none, none, -1, -1, 0, -1,
            errors.code(message), i);
        continue;
      }
      const std::int32_t p = profiles.code(r.profile);
      for (const stimrank::OptionResult& o : r.options) {
        std::int32_t scheme_code = -1, grade_code = -1;
        if (!o.evidence.empty()) {
          const stimrank::Evidence& lead = o.evidence.front();
          text.clear();
          for (const auto& d : lead.grade)
            text.append(text.empty() ? "" : ", ").append(d.name).append(" ").append(d.value);
          scheme_code = schemes.code(lead.scheme);
          grade_code = grades.code(text);
        }
        fired.clear();  // the rules behind this option's evidence and reasons
        for (const auto& ev : o.evidence) fired.append(fired.empty() ? "" : ",").append(ev.rule);
        for (const auto& reason : o.reasons)
          if (fired.find(reason.rule) == std::string::npos)
            fired.append(fired.empty() ? "" : ",").append(reason.rule);
        row(p, options.code(o.option), statuses.code(stimrank::to_string(o.status)),
            o.rank ? static_cast<double>(*o.rank) : none, o.score, scheme_code, grade_code,
            static_cast<std::int32_t>(o.missing.size()), rules.code(fired), -1, i);
      }
    }
  }

  void row(std::int32_t p, std::int32_t o, std::int32_t s, double rk, double sc, std::int32_t sch,
           std::int32_t gr, std::int32_t miss, std::int32_t ru, std::int32_t err, std::size_t i) {
    profile.push_back(p);
    option.push_back(o);
    status.push_back(s);
    rank.push_back(rk);
    score.push_back(sc);
    scheme.push_back(sch);
    grade.push_back(gr);
    missing.push_back(miss);
    rule.push_back(ru);
    error.push_back(err);
    index.push_back(static_cast<std::int32_t>(i));
  }
};

// Appends `part`'s codes to `codes`, renumbered into `all`'s categories.
void merge_codes(std::vector<std::int32_t>& codes, Interned& all,
                 const std::vector<std::int32_t>& part, const Interned& local) {
  std::vector<std::int32_t> remap;
  remap.reserve(local.values().size());
  for (const std::string& value : local.values()) remap.push_back(all.code(value));
  for (std::int32_t c : part) codes.push_back(c < 0 ? -1 : remap[static_cast<std::size_t>(c)]);
}

// One row per profile and option (docs/python.md's long frame), as columns: codes and
// categories for the strings, arrays for the numbers. An invalid profile is one row
// with no option, status "error" and its errors. Built straight from the results, no
// JSON in between; the profiles are split among `threads` threads (0: one per core).
py::dict evaluation_columns(const stimrank::RuleSet& rs, const std::vector<std::string>& texts,
                            unsigned threads) {
  const std::shared_ptr<const stimrank::RuleSet> shared(std::shared_ptr<const stimrank::RuleSet>{},
                                                        &rs);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(
      std::min<std::size_t>(threads, std::max<std::size_t>(1, texts.size() / 256)));
  std::vector<Columns> parts(threads);
  {
    py::gil_scoped_release release;
    std::vector<std::thread> workers;
    const std::size_t step = (texts.size() + threads - 1) / threads;
    for (unsigned t = 1; t < threads; ++t)
      workers.emplace_back([&, t] {
        parts[t].add(shared, texts, std::min(texts.size(), t * step),
                     std::min(texts.size(), (t + 1) * step));
      });
    parts[0].add(shared, texts, 0, std::min(texts.size(), step));
    for (std::thread& w : workers) w.join();
  }
  Columns all;
  for (const Columns& part : parts) {
    merge_codes(all.profile, all.profiles, part.profile, part.profiles);
    merge_codes(all.option, all.options, part.option, part.options);
    merge_codes(all.status, all.statuses, part.status, part.statuses);
    merge_codes(all.scheme, all.schemes, part.scheme, part.schemes);
    merge_codes(all.grade, all.grades, part.grade, part.grades);
    merge_codes(all.rule, all.rules, part.rule, part.rules);
    merge_codes(all.error, all.errors, part.error, part.errors);
    all.rank.insert(all.rank.end(), part.rank.begin(), part.rank.end());
    all.score.insert(all.score.end(), part.score.begin(), part.score.end());
    all.missing.insert(all.missing.end(), part.missing.begin(), part.missing.end());
    all.index.insert(all.index.end(), part.index.begin(), part.index.end());
  }
  py::dict out;
  auto categorical = [&out](const char* name, const std::vector<std::int32_t>& codes,
                            const Interned& values) {
    out[name] = py::make_tuple(to_array(codes), values.values());
  };
  categorical("profile", all.profile, all.profiles);
  categorical("option", all.option, all.options);
  categorical("status", all.status, all.statuses);
  out["rank"] = to_array(all.rank);
  out["score"] = to_array(all.score);
  categorical("evidence_scheme", all.scheme, all.schemes);
  categorical("evidence_grade", all.grade, all.grades);
  out["missing"] = to_array(all.missing);
  categorical("rules", all.rule, all.rules);
  categorical("error", all.error, all.errors);
  out["index"] = to_array(all.index);
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "stimrank native core (use the `stimrank` package instead)";

  py::class_<stimrank::Result>(m, "Result")
      .def_readonly("profile", &stimrank::Result::profile)
      .def("to_json", &stimrank::Result::to_json, py::arg("indent") = -1)
      .def("to_text", &stimrank::Result::to_text);

  py::class_<Evaluation>(m, "Evaluation")
      .def_property_readonly("ok", [](const Evaluation& e) { return e.result.has_value(); })
      // The Result in place (kept alive by its Evaluation), never a copy: copying a
      // whole explained result per access made evaluate_many slower than a loop.
      .def_property_readonly(
          "result",
          [](const Evaluation& e) -> const stimrank::Result* {
            return e.result ? &*e.result : nullptr;
          },
          py::return_value_policy::reference_internal)
      .def_readonly("errors", &Evaluation::errors);

  py::class_<stimrank::RuleSet, std::shared_ptr<stimrank::RuleSet>>(m, "RuleSet")
      .def_property_readonly("name", &stimrank::RuleSet::name)
      .def_property_readonly("version", &stimrank::RuleSet::version)
      .def_property_readonly("digest", &stimrank::RuleSet::digest)
      .def("option_ids", &stimrank::RuleSet::option_ids)
      .def("warnings",
           [](const stimrank::RuleSet& rs) {
             py::list out;
             for (const auto& d : rs.warnings()) out.append(diagnostic_dict(d));
             return out;
           })
      .def("evaluate",
           [](const stimrank::RuleSet& rs, const std::string& json) {
             std::string copy = json;
             py::gil_scoped_release release;
             return convert(rs.evaluate_json(copy));
           })
      .def("evaluate_fhir",
           [](const stimrank::RuleSet& rs, const std::string& bundle, const std::string& as_of) {
             std::string copy = bundle;
             py::gil_scoped_release release;
             return convert(stimrank::evaluate_fhir(rs, copy, {as_of, {}}));
           })
      // (profile JSON or "", used, ignored, warnings, errors) with notes as (path, resource, what).
      .def("from_fhir",
           [](const stimrank::RuleSet& rs, const std::string& bundle, const std::string& as_of) {
             stimrank::FhirMapping m;
             {
               std::string copy = bundle;
               py::gil_scoped_release release;
               m = stimrank::map_fhir(rs, copy, {as_of, {}});
             }
             auto notes = [](const std::vector<stimrank::FhirNote>& list) {
               py::list out;
               for (const auto& n : list) out.append(py::make_tuple(n.path, n.resource, n.what));
               return out;
             };
             py::list errors;
             for (const auto& e : m.errors) errors.append(py::make_tuple(e.path, e.message));
             return py::make_tuple(m.profile, notes(m.used), notes(m.ignored), m.warnings, errors);
           })
      // Evaluates many profiles on `threads` threads (0 = every core), without the GIL.
      .def(
          "evaluate_many",
          [](const stimrank::RuleSet& rs, const std::vector<std::string>& profiles,
             unsigned threads) {
            std::vector<stimrank::Evaluation> evaluations;
            {
              py::gil_scoped_release release;
              // The rule set outlives the call, so it is not owned here.
              std::shared_ptr<const stimrank::RuleSet> shared(
                  std::shared_ptr<const stimrank::RuleSet>{}, &rs);
              evaluations = stimrank::evaluate_many(shared, profiles, threads);
            }
            if (evaluations.size() != profiles.size()) throw std::bad_alloc();
            std::vector<Evaluation> out;
            out.reserve(evaluations.size());
            for (auto& evaluation : evaluations) out.push_back(convert(std::move(evaluation)));
            return out;
          },
          py::arg("profiles"), py::arg("threads") = 0)
      .def(
          "evaluate_columns",
          [](const stimrank::RuleSet& rs, const std::vector<std::string>& profiles,
             unsigned threads) { return evaluation_columns(rs, profiles, threads); },
          py::arg("profiles"), py::arg("threads") = 0)
      .def(
          "tables",
          [](const stimrank::RuleSet& rs, bool html) {
            return stimrank::render_evidence_tables(
                rs.describe(),
                html ? stimrank::TableFormat::html : stimrank::TableFormat::markdown);
          },
          py::arg("html") = false);

  // ---- storage
  py::class_<stimrank::AuditLog, std::shared_ptr<stimrank::AuditLog>>(m, "AuditLog")
      .def("append",
           [](stimrank::AuditLog& log, const stimrank::Result& result, const std::string& profile) {
             std::string error;
             bool ok;
             {
               py::gil_scoped_release release;
               ok = log.append(result, profile, error);
             }
             return py::make_tuple(ok, error);
           });
  m.def("open_audit", [](const std::string& path, const std::string& key) {
    std::string error;
    auto log = stimrank::AuditLog::open(path, key, error);
    return py::make_tuple(log, error);
  });
  m.def("verify_audit", [](const std::string& path) {
    stimrank::AuditVerification v;
    {
      py::gil_scoped_release release;
      v = stimrank::verify_audit(path);
    }
    py::dict out;
    out["ok"] = v.ok;
    out["records"] = v.records;
    out["first_broken"] =
        v.first_broken ? py::object(py::int_(*v.first_broken)) : py::object(py::none());
    out["message"] = v.message;
    return out;
  });
  m.def("publish", [](const std::string& db, const std::string& rules, const std::string& author,
                      const std::string& note) {
    stimrank::PublishOutcome o;
    {
      py::gil_scoped_release release;
      o = stimrank::publish_rules(db, rules, author, note);
    }
    py::dict out;
    out["ok"] = o.ok;
    out["already_published"] = o.already_published;
    out["name"] = o.name;
    out["version"] = o.version;
    out["digest"] = o.digest;
    out["error"] = o.error;
    return out;
  });
  m.def("versions", [](const std::string& db) {
    std::string error;
    auto entries = stimrank::list_rule_versions(db, error);
    py::list out;
    for (const auto& e : entries) {
      py::dict d;
      d["name"] = e.name;
      d["version"] = e.version;
      d["digest"] = e.digest;
      d["published_at"] = e.published_at;
      d["author"] = e.author;
      d["note"] = e.note;
      d["problem"] = e.problem;
      d["files"] = e.files;
      out.append(d);
    }
    return py::make_tuple(out, error);
  });
  m.def("run_batch", [](const stimrank::RuleSet& rs, const std::string& db, unsigned threads,
                        std::size_t chunk, const std::string& store) {
    stimrank::BatchOptions options;
    options.threads = threads;
    options.chunk = chunk;
    if (store != "summary" && store != "full")
      throw py::value_error("store is \"summary\" or \"full\", not \"" + store + "\"");
    options.store = store == "full" ? stimrank::BatchStore::full : stimrank::BatchStore::summary;
    stimrank::BatchReport r;
    {
      py::gil_scoped_release release;
      r = stimrank::run_batch(rs, db, options);
    }
    py::dict out;
    out["ok"] = r.ok;
    out["total"] = r.total;
    out["already_done"] = r.already_done;
    out["evaluated"] = r.evaluated;
    out["invalid"] = r.invalid;
    out["error"] = r.error;
    return out;
  });

  // Returns (rule set or None, diagnostics as dicts).
  m.def("load", [](const std::string& path) {
    stimrank::LoadResult loaded;
    {
      py::gil_scoped_release release;
      loaded = stimrank::load_rules(path);
    }
    py::list diagnostics;
    for (const auto& d : loaded.diagnostics) diagnostics.append(diagnostic_dict(d));
    std::shared_ptr<stimrank::RuleSet> ruleset =
        loaded.ruleset ? std::const_pointer_cast<stimrank::RuleSet>(loaded.ruleset) : nullptr;
    return py::make_tuple(ruleset, diagnostics);
  });
  m.attr("__version__") = STIMRANK_VERSION;
}
