// Loading a rule set: its files and includes, parsed, then checked. AST → model.
#include <algorithm>
#include <functional>
#include <set>

#include "check.hpp"
#include "checker.hpp"
#include "utf8.hpp"

namespace stimrank::rules {

namespace {

void sort_diagnostics(std::vector<Diagnostic>& diagnostics) {
  std::stable_sort(diagnostics.begin(), diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.location.file != b.location.file)
                       return a.location.file < b.location.file;
                     if (a.location.line != b.location.line)
                       return a.location.line < b.location.line;
                     return a.location.column < b.location.column;
                   });
}

}  // namespace

CheckOutput load_and_check(const std::vector<std::string>& roots, const FileReader& reader,
                           const Limits& limits) {
  CheckOutput out;
  try {
    std::vector<std::unique_ptr<SourceFile>> files;
    std::set<std::string> loaded;
    std::vector<std::string> stack;  // the include chain, for cycle detection
    bool syntax_ok = true;
    bool too_many_files = false;
    std::function<void(const std::string&, const std::string&, const SourceFile*, const ast::Node*)>
        load = [&](const std::string& including, const std::string& name, const SourceFile* from,
                   const ast::Node* at) {
          std::string canonical, problem;
          // An include names a rule file: any other file (/etc/passwd) would be read
          // and its first line quoted back in a syntax error.
          if (from && at && (name.size() < 6 || name.compare(name.size() - 6, 6, ".rules") != 0)) {
            out.diagnostics.push_back(
                from->make(Severity::error, "E105", at->begin, at->end,
                           "`include` names `" + name + "`, which is not a rule file (`.rules`)"));
            return;
          }
          std::optional<std::string> text = reader(including, name, canonical, problem);
          auto fail = [&](std::string code, std::string message) {
            if (from && at)
              out.diagnostics.push_back(from->make(Severity::error, std::move(code), at->begin,
                                                   at->end, std::move(message)));
            else {
              Diagnostic d;
              d.code = std::move(code);
              d.message = std::move(message);
              d.location.file = name;
              out.diagnostics.push_back(std::move(d));
            }
          };
          if (!text) {
            fail("E105",
                 "cannot read rule file `" + name + "`" + (problem.empty() ? "" : ": " + problem));
            return;
          }
          if (std::find(stack.begin(), stack.end(), canonical) != stack.end()) {
            std::string chain;
            for (const std::string& s : stack) chain += "`" + s + "` → ";
            fail("E112", "cyclic include: " + chain + "`" + canonical + "`");
            return;
          }
          if (loaded.count(canonical)) return;  // included twice: loaded once
          if (text->size() > limits.max_file_bytes) {
            fail("E113", "rule file `" + canonical + "` is larger than the limit of " +
                             std::to_string(limits.max_file_bytes) + " bytes");
            return;
          }
          if (files.size() >= limits.max_files) {
            // Once: every further file would repeat the same line.
            if (!too_many_files)
              fail("E113", "more than " + std::to_string(limits.max_files) +
                               " rule files (the limit `max_files`); the rest were not read");
            too_many_files = true;
            return;
          }
          loaded.insert(canonical);
          files.push_back(std::make_unique<SourceFile>(canonical, std::move(*text)));
          SourceFile* file = files.back().get();
          std::size_t before = out.diagnostics.size();
          parse_file(*file, limits.max_expression_depth, out.diagnostics);
          if (out.diagnostics.size() != before) syntax_ok = false;
          stack.push_back(canonical);
          for (const ast::Node& node : file->root.kids)
            if (node.kind == ast::Kind::Include) load(canonical, node.kids[0].text, file, &node);
          stack.pop_back();
        };
    for (const std::string& root : roots) load("", root, nullptr, nullptr);
    if (syntax_ok && !has_errors(out.diagnostics)) {
      checking::Checker checker(out.diagnostics, limits);
      out.model = checker.run(files);
    } else if (!files.empty()) {
      // Check what did parse too, so one run reports every error; names declared in
      // statements that failed to parse would only give follow-on errors, so drop those,
      // and W201: the rule that cites a source may be the statement that failed.
      std::vector<Diagnostic> semantic;
      checking::Checker checker(semantic, limits);
      (void)checker.run(files);
      for (Diagnostic& d : semantic)
        if (d.code != "E100" && d.code != "E110" && d.code != "E111" && d.code != "W201")
          out.diagnostics.push_back(std::move(d));
    }
  } catch (std::exception const& e) {
    Diagnostic d;
    d.code = "E000";
    d.message = std::string("internal error while checking the rules: ") + e.what();
    out.diagnostics.push_back(d);
    out.model.reset();
  }
  // Some messages are made without a location (an include that is not found
  // quotes its string): every one readable, as SourceFile::make makes them.
  for (Diagnostic& d : out.diagnostics) {
    d.message = utf8::printable(d.message);
    d.hint = utf8::printable(d.hint);
  }
  sort_diagnostics(out.diagnostics);
  return out;
}

std::string parse_to_dump(const std::string& name, const std::string& text, const Limits& limits,
                          std::vector<Diagnostic>& diagnostics) {
  SourceFile file(name, text);
  parse_file(file, limits.max_expression_depth, diagnostics);
  return ast::dump(file.root);
}

}  // namespace stimrank::rules
