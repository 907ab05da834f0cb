// stimrank._core: the pybind11 layer over the public C++ API. It only converts;
// the Python package (stimrank/__init__.py) adds the friendly API and exceptions.
// Nothing here throws but MemoryError: the C++ API reports problems as data.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <type_traits>
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

// Text for Python: invalid UTF-8 (which the JSON writer replaces) becomes U+FFFD,
// never a UnicodeDecodeError.
py::str text(const std::string& value) {
  PyObject* out =
      PyUnicode_DecodeUTF8(value.data(), static_cast<Py_ssize_t>(value.size()), "replace");
  if (out == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(out);
}

py::list texts(const std::vector<std::string>& values) {
  py::list out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = text(values[i]);
  return out;
}

// A result as Python holds it: the whole explained Result, or, from a batch, only
// what a ranking needs (the id, each option's status, rank and score, the warnings)
// with the profile's text, from which the whole Result is made again on first use.
// Evaluation is deterministic and the rule set immutable, so that Result is the one
// the batch made; a batch then holds about a kilobyte a profile, not tens, and frees
// it in one go.
class PyResult {
 public:
  struct Line {
    std::uint32_t option;  // index into the rule set's option ids
    std::int32_t rank;     // 0: not ranked
    double score;
    stimrank::Status status;
  };
  struct Brief {
    std::string profile;
    std::vector<Line> lines;  // in the Result's order: ranked first
    std::vector<std::string> warnings;
    bool incomplete = false;  // an option the rule set does not list: use the whole Result
  };

  PyResult(std::shared_ptr<const stimrank::RuleSet> ruleset, stimrank::Result&& whole)
      : ruleset_(std::move(ruleset)), whole_(std::move(whole)) {}
  PyResult(std::shared_ptr<const stimrank::RuleSet> ruleset,
           std::shared_ptr<const std::vector<std::string>> option_ids, std::string profile_json,
           Brief&& brief)
      : ruleset_(std::move(ruleset)),
        option_ids_(std::move(option_ids)),
        profile_json_(std::move(profile_json)),
        brief_(std::move(brief)) {}

  const std::string& profile() const { return whole_ ? whole_->profile : brief_.profile; }

  py::list ranking() {
    if (brief_.incomplete) whole();
    py::list out;
    if (whole_) {
      for (const auto& o : whole_->options)
        if (o.rank) out.append(text(o.option));
    } else {
      for (const Line& line : brief_.lines)
        if (line.rank > 0) out.append(text((*option_ids_)[line.option]));
    }
    return out;
  }

  // (option, status, rank or None, score or None) for every option, in result order.
  py::list statuses() {
    if (brief_.incomplete) whole();
    py::list out;
    auto add = [&out](const std::string& option, stimrank::Status status, int rank, double score) {
      out.append(py::make_tuple(text(option), stimrank::to_string(status),
                                rank > 0 ? py::object(py::int_(rank)) : py::object(py::none()),
                                rank > 0 ? py::object(py::float_(score)) : py::object(py::none())));
    };
    if (whole_) {
      for (const auto& o : whole_->options) add(o.option, o.status, o.rank.value_or(0), o.score);
    } else {
      for (const Line& line : brief_.lines)
        add((*option_ids_)[line.option], line.status, line.rank, line.score);
    }
    return out;
  }

  py::list warnings() {
    if (brief_.incomplete) whole();
    return texts(whole_ ? whole_->warnings : brief_.warnings);
  }

  // The whole Result, made again from the profile's text the first time it is asked for.
  const stimrank::Result& whole() {
    if (!whole_) {
      stimrank::Evaluation again = ruleset_->evaluate_json(profile_json_);
      if (!again.result) throw std::runtime_error("the profile no longer evaluates");
      whole_ = std::move(*again.result);
      profile_json_ = std::string();
      brief_ = Brief();
    }
    return *whole_;
  }

  static Brief brief_of(const stimrank::Result& r,
                        const std::unordered_map<std::string, std::uint32_t>& option_index) {
    Brief out;
    out.profile = r.profile;
    out.warnings = r.warnings;
    out.lines.reserve(r.options.size());
    for (const auto& o : r.options) {
      const auto it = option_index.find(o.option);
      if (it == option_index.end()) {
        out.incomplete = true;
        continue;
      }
      out.lines.push_back({it->second, o.rank.value_or(0), o.score, o.status});
    }
    return out;
  }

 private:
  std::shared_ptr<const stimrank::RuleSet> ruleset_;
  std::shared_ptr<const std::vector<std::string>> option_ids_;
  std::string profile_json_;
  Brief brief_;
  std::optional<stimrank::Result> whole_;
};

// stimrank.to_dataframe's columns for whole results, one row per profile and option:
// strings and numbers only, so that a large frame makes no dict per option.
py::tuple tidy_columns(const py::list& results) {
  static const char* const fixed[] = {"rule",   "scheme", "weight", "condition",
                                      "source", "doi",    "tags",   "unverified"};
  py::list profile, option, title, family, invasiveness, status, rank, score, grade, summary,
      reasons, missing;
  std::string line;
  for (const py::handle item : results) {
    PyResult& result = item.cast<PyResult&>();
    const stimrank::Result& r = result.whole();
    const py::str id = text(r.profile);
    for (const stimrank::OptionResult& o : r.options) {
      profile.append(id);
      option.append(text(o.option));
      title.append(text(o.title));
      family.append(text(o.family));
      invasiveness.append(text(o.invasiveness));
      status.append(stimrank::to_string(o.status));
      rank.append(o.rank ? py::object(py::int_(*o.rank)) : py::object(py::none()));
      score.append(py::float_(o.rank ? o.score : std::nan("")));
      line.clear();  // scheme(dimension value, …); … as the evidence reads
      for (const stimrank::Evidence& e : o.evidence) {
        if (!line.empty()) line += "; ";
        line += e.scheme + "(";
        bool first = true;
        for (std::size_t i = 0; i < e.grade.size(); ++i) {
          const std::string& name = e.grade[i].name;
          bool shown = std::none_of(std::begin(fixed), std::end(fixed),
                                    [&](const char* key) { return name == key; });
          for (std::size_t k = 0; k < i && shown; ++k) shown = e.grade[k].name != name;
          if (!shown) continue;
          std::string value = e.grade[i].value;  // a repeated dimension: its last value
          for (std::size_t k = i + 1; k < e.grade.size(); ++k)
            if (e.grade[k].name == name) value = e.grade[k].value;
          line.append(first ? "" : ", ").append(name).append(" ").append(value);
          first = false;
        }
        line += ")";
      }
      grade.append(text(line));
      summary.append(text(o.summary));
      line.clear();
      for (const stimrank::Reason& reason : o.reasons)
        line.append(line.empty() ? "" : "; ")
            .append(reason.kind)
            .append(": ")
            .append(reason.text)
            .append(" [")
            .append(reason.source)
            .append("]");
      reasons.append(text(line));
      line.clear();
      for (const std::string& m : o.missing) line += (line.empty() ? "" : ", ") + m;
      missing.append(text(line));
    }
  }
  return py::make_tuple(profile, option, title, family, invasiveness, status, rank, score, grade,
                        summary, reasons, missing);
}

struct Evaluation {
  std::optional<PyResult> result;
  std::vector<std::pair<std::string, std::string>> errors;  // (JSON path, message)
};

Evaluation convert(const std::shared_ptr<const stimrank::RuleSet>& ruleset,
                   stimrank::Evaluation&& e) {
  Evaluation out;
  if (e.result) out.result.emplace(ruleset, std::move(*e.result));
  for (auto& error : e.errors) out.errors.emplace_back(error.path, error.message);
  return out;
}

// Evaluates texts[begin, end) with one Evaluator and one Result reused from profile
// to profile (next to no allocation), calling on_result(i, result) or
// on_errors(i, problems).
template <typename Texts, typename OnResult, typename OnErrors>
void evaluate_range(const std::shared_ptr<const stimrank::RuleSet>& ruleset, const Texts& texts,
                    std::size_t begin, std::size_t end, OnResult&& on_result,
                    OnErrors&& on_errors) {
  stimrank::Evaluator evaluator(ruleset);
  stimrank::Result r;
  std::vector<stimrank::ProfileError> problems;
  for (std::size_t i = begin; i < end; ++i) {
    problems.clear();
    if (evaluator.evaluate(texts[i], r, problems))
      on_result(i, r);
    else
      on_errors(i, problems);
  }
}

// Splits the texts among `threads` threads (0: one per core; few profiles, fewer
// threads), the caller's among them, without the GIL; each fills its own Part
// (first given to `prepare`) through part.add(ruleset, texts, begin, end). The parts
// come back in order.
template <typename Part, typename Texts, typename Prepare>
std::vector<Part> evaluate_in_parts(const std::shared_ptr<const stimrank::RuleSet>& shared,
                                    const Texts& texts, unsigned threads, Prepare&& prepare) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(
      std::min<std::size_t>(threads, std::max<std::size_t>(1, texts.size() / 256)));
  std::vector<Part> parts(threads);
  for (Part& part : parts) prepare(part);
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
  return parts;
}

// A batch's part for RuleSet.evaluate_many: a brief per valid profile, the errors of
// the others.
struct Briefs {
  const std::unordered_map<std::string, std::uint32_t>* option_index = nullptr;
  std::vector<std::pair<std::size_t, PyResult::Brief>> valid;
  std::vector<std::pair<std::size_t, std::vector<stimrank::ProfileError>>> invalid;

  void add(const std::shared_ptr<const stimrank::RuleSet>& ruleset,
           const std::vector<std::string>& texts, std::size_t begin, std::size_t end) {
    valid.reserve(end - begin);
    evaluate_range(
        ruleset, texts, begin, end,
        [&](std::size_t i, const stimrank::Result& r) {
          valid.emplace_back(i, PyResult::brief_of(r, *option_index));
        },
        [&](std::size_t i, const std::vector<stimrank::ProfileError>& problems) {
          invalid.emplace_back(i, problems);
        });
  }
};

// Strings interned as codes: a column of a long frame repeats few values, and pandas
// takes (codes, categories) as a Categorical without a Python string per row.
class Interned {
 public:
  std::int32_t code(const std::string& value) {
    // Looked up before inserting: emplace would make (and allocate) a node every time.
    if (const auto it = index_.find(value); it != index_.end()) return it->second;
    const auto code = static_cast<std::int32_t>(values_.size());
    index_.emplace(value, code);
    values_.push_back(value);
    return code;
  }
  const std::vector<std::string>& values() const { return values_; }

 private:
  std::unordered_map<std::string, std::int32_t> index_;
  std::vector<std::string> values_;
};

// The long frame's columns for a range of profiles, as one thread builds them: an
// Evaluator and one Result reused from profile to profile (next to no allocation),
// strings interned locally.
struct Columns {
  Interned profiles, options, statuses, schemes, grades, rules, errors;
  std::vector<std::int32_t> profile, option, status, scheme, grade, rule, error, missing;
  std::vector<std::int64_t> rank;  // 0 where unranked
  std::vector<bool> unranked;
  std::vector<double> score;
  std::size_t option_count = 0;  // rows a valid profile gives, to size the columns once
  // Errors found before the engine (Python could not make the profile's JSON), by
  // profile: "" for none. Such a profile's text is "", which the engine refuses.
  const std::vector<std::string>* preset_errors = nullptr;

  void add(const std::shared_ptr<const stimrank::RuleSet>& ruleset,
           const std::vector<std::string_view>& texts, std::size_t begin, std::size_t end) {
    reserve((end - begin) * option_count);
    const double none = std::nan("");
    std::string text, fired;
    evaluate_range(
        ruleset, texts, begin, end,
        [&](std::size_t i, const stimrank::Result& r) {
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
            for (const auto& ev : o.evidence)
              fired.append(fired.empty() ? "" : ",").append(ev.rule);
            for (const auto& reason : o.reasons)
              if (fired.find(reason.rule) == std::string::npos)
                fired.append(fired.empty() ? "" : ",").append(reason.rule);
            row(p, options.code(o.option), statuses.code(stimrank::to_string(o.status)),
                o.rank.value_or(0), o.score, scheme_code, grade_code,
                static_cast<std::int32_t>(o.missing.size()), rules.code(fired), -1);
          }
        },
        [&](std::size_t i, const std::vector<stimrank::ProfileError>& problems) {
          std::string id;  // the profile's id when its text has one
          const auto parsed = nlohmann::json::parse(texts[i], nullptr, false);
          if (parsed.is_object() && parsed.contains("id") && parsed["id"].is_string())
            id = parsed["id"].get<std::string>();
          std::string message;
          if (preset_errors && i < preset_errors->size()) message = (*preset_errors)[i];
          if (message.empty())
            for (const auto& problem : problems)
              message += (message.empty() ? "" : "; ") + problem.format();
          row(profiles.code(id), -1, statuses.code("error"), 0, none, -1, -1, 0, -1,
              errors.code(message));
        });
  }

  void reserve(std::size_t rows) {
    for (auto* codes : {&profile, &option, &status, &scheme, &grade, &rule, &error, &missing})
      codes->reserve(rows);
    rank.reserve(rows);
    unranked.reserve(rows);
    score.reserve(rows);
  }

  void row(std::int32_t p, std::int32_t o, std::int32_t s, int rk, double sc, std::int32_t sch,
           std::int32_t gr, std::int32_t miss, std::int32_t ru, std::int32_t err) {
    profile.push_back(p);
    option.push_back(o);
    status.push_back(s);
    rank.push_back(rk);
    unranked.push_back(rk == 0);
    score.push_back(sc);
    scheme.push_back(sch);
    grade.push_back(gr);
    missing.push_back(miss);
    rule.push_back(ru);
    error.push_back(err);
  }
};

// The texts of a list of str, read in place (the UTF-8 that Python keeps with each
// str) rather than copied, with a reference held to each so that they outlive a call
// that runs without the GIL. A str that has no UTF-8 (a lone surrogate) is read as
// one invalid byte, so the profile reader reports it like any other invalid text.
struct TextViews {
  std::vector<py::object> owners;
  std::vector<std::string_view> views;
};

TextViews text_views(const py::list& items) {
  TextViews out;
  out.owners.reserve(items.size());
  out.views.reserve(items.size());
  for (const py::handle item : items) {
    if (!PyUnicode_Check(item.ptr())) throw py::type_error("a profile text is a str");
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(item.ptr(), &size);
    if (data == nullptr) {
      PyErr_Clear();
      out.views.emplace_back("\xff", 1);
    } else {
      out.views.emplace_back(data, static_cast<std::size_t>(size));
    }
    out.owners.push_back(py::reinterpret_borrow<py::object>(item));
  }
  return out;
}

// One row per profile and option (docs/python.md's long frame), as columns: codes and
// categories for the strings, arrays for the numbers. An invalid profile is one row
// with no option, status "error" and its errors. Built straight from the results, no
// JSON in between; the profiles are split among `threads` threads (0: one per core).
// Each column goes into its array part by part and the part's copy is freed at once,
// so the peak stays near one copy of the rows.
py::dict evaluation_columns(const std::shared_ptr<const stimrank::RuleSet>& shared,
                            const py::list& items, unsigned threads,
                            const std::vector<std::string>& preset_errors) {
  const TextViews texts = text_views(items);
  const std::size_t option_count = shared->option_ids().size();
  std::vector<Columns> parts =
      evaluate_in_parts<Columns>(shared, texts.views, threads, [&](Columns& part) {
        part.option_count = option_count;
        part.preset_errors = &preset_errors;
      });
  std::size_t rows = 0;
  for (const Columns& part : parts) rows += part.profile.size();

  py::dict out;
  auto categorical = [&](const char* name, std::vector<std::int32_t> Columns::*codes,
                         Interned Columns::*values) {
    Interned all;
    py::array_t<std::int32_t> array(static_cast<py::ssize_t>(rows));
    std::int32_t* at = array.mutable_data();
    for (Columns& part : parts) {
      std::vector<std::int32_t> remap;
      for (const std::string& value : (part.*values).values()) remap.push_back(all.code(value));
      for (std::int32_t c : part.*codes) *at++ = c < 0 ? -1 : remap[static_cast<std::size_t>(c)];
      std::vector<std::int32_t>().swap(part.*codes);
    }
    out[name] = py::make_tuple(array, all.values());
  };
  auto numbers = [&](const char* name, auto Columns::*column) {
    using T = typename std::remove_reference_t<decltype(parts[0].*column)>::value_type;
    py::array_t<T> array(static_cast<py::ssize_t>(rows));
    T* at = array.mutable_data();
    for (Columns& part : parts) {
      at = std::copy((part.*column).begin(), (part.*column).end(), at);
      std::remove_reference_t<decltype(part.*column)>().swap(part.*column);
    }
    return array;
  };
  categorical("profile", &Columns::profile, &Columns::profiles);
  categorical("option", &Columns::option, &Columns::options);
  categorical("status", &Columns::status, &Columns::statuses);
  out["rank"] =
      py::make_tuple(numbers("rank", &Columns::rank), numbers("rank", &Columns::unranked));
  out["score"] = numbers("score", &Columns::score);
  categorical("evidence_scheme", &Columns::scheme, &Columns::schemes);
  categorical("evidence_grade", &Columns::grade, &Columns::grades);
  out["missing"] = numbers("missing", &Columns::missing);
  categorical("rules", &Columns::rule, &Columns::rules);
  categorical("error", &Columns::error, &Columns::errors);
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "stimrank native core (use the `stimrank` package instead)";

  py::class_<PyResult>(m, "Result")
      .def_property_readonly("profile", [](const PyResult& r) { return text(r.profile()); })
      .def("ranking", &PyResult::ranking)
      .def("statuses", &PyResult::statuses)
      .def("warnings", &PyResult::warnings)
      .def(
          "to_json", [](PyResult& r, int indent) { return r.whole().to_json(indent); },
          py::arg("indent") = -1)
      .def("to_text", [](PyResult& r) { return r.whole().to_text(); });

  py::class_<Evaluation>(m, "Evaluation")
      .def_property_readonly("ok", [](const Evaluation& e) { return e.result.has_value(); })
      // The Result in place (kept alive by its Evaluation), never a copy.
      .def_property_readonly(
          "result", [](Evaluation& e) -> PyResult* { return e.result ? &*e.result : nullptr; },
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
           [](const std::shared_ptr<stimrank::RuleSet>& rs, const std::string& json) {
             stimrank::Evaluation e;
             {
               py::gil_scoped_release release;
               e = rs->evaluate_json(json);
             }
             return convert(rs, std::move(e));
           })
      .def("evaluate_fhir",
           [](const std::shared_ptr<stimrank::RuleSet>& rs, const std::string& bundle,
              const std::string& as_of) {
             stimrank::Evaluation e;
             {
               py::gil_scoped_release release;
               e = stimrank::evaluate_fhir(*rs, bundle, {as_of, {}});
             }
             return convert(rs, std::move(e));
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
      // Evaluates many profiles on `threads` threads (0 = every core), without the GIL:
      // for each, in order, a Result (brief; whole on first use) or its errors as a list
      // of (JSON path, message).
      .def(
          "evaluate_many",
          [](const std::shared_ptr<stimrank::RuleSet>& rs, const std::vector<std::string>& profiles,
             unsigned threads) {
            auto ids = std::make_shared<const std::vector<std::string>>(rs->option_ids());
            std::unordered_map<std::string, std::uint32_t> option_index;
            for (std::size_t i = 0; i < ids->size(); ++i)
              option_index.emplace((*ids)[i], static_cast<std::uint32_t>(i));
            std::vector<Briefs> parts;
            parts = evaluate_in_parts<Briefs>(
                rs, profiles, threads, [&](Briefs& part) { part.option_index = &option_index; });
            py::list out(profiles.size());
            for (Briefs& part : parts) {
              for (auto& [index, brief] : part.valid)
                out[index] = py::cast(PyResult(rs, ids, profiles[index], std::move(brief)));
              for (auto& [index, problems] : part.invalid) {
                py::list errors;
                for (const auto& e : problems) errors.append(py::make_tuple(e.path, e.message));
                out[index] = errors;
              }
            }
            return out;
          },
          py::arg("profiles"), py::arg("threads") = 0)
      .def(
          "evaluate_columns",
          [](const std::shared_ptr<stimrank::RuleSet>& rs, const py::list& profiles,
             unsigned threads, const std::vector<std::string>& preset_errors) {
            return evaluation_columns(rs, profiles, threads, preset_errors);
          },
          py::arg("profiles"), py::arg("threads") = 0,
          py::arg("errors") = std::vector<std::string>())
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
      .def("append", [](stimrank::AuditLog& log, PyResult& result, const std::string& profile) {
        std::string error;
        bool ok;
        const stimrank::Result& whole = result.whole();
        {
          py::gil_scoped_release release;
          ok = log.append(whole, profile, error);
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
  m.def("tidy_columns", &tidy_columns);
  m.attr("__version__") = STIMRANK_VERSION;
}
