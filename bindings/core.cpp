// stimrank._core: the pybind11 layer over the public C++ API. It only converts;
// the Python package (stimrank/__init__.py) adds the friendly API and exceptions.
// Nothing here throws but MemoryError: the C++ API reports problems as data.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <new>

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

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "stimrank native core (use the `stimrank` package instead)";

  py::class_<stimrank::Result>(m, "Result")
      .def_readonly("profile", &stimrank::Result::profile)
      .def("to_json", &stimrank::Result::to_json, py::arg("indent") = -1)
      .def("to_text", &stimrank::Result::to_text);

  py::class_<Evaluation>(m, "Evaluation")
      .def_property_readonly("ok", [](const Evaluation& e) { return e.result.has_value(); })
      .def_property_readonly(
          "result", [](const Evaluation& e) -> std::optional<stimrank::Result> { return e.result; })
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
