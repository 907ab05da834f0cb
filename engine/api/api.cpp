// The public API: load → check → compile; validate → evaluate. Nothing throws out.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "bounded_read.hpp"
#include "check.hpp"
#include "compiled.hpp"
#include "registry_seam.hpp"
#include "stimrank/evaluator.hpp"
#include "stimrank/ruleset.hpp"

namespace stimrank {

namespace fs = std::filesystem;

RuleSet::RuleSet(std::shared_ptr<const detail::CompiledRuleSet> impl) noexcept
    : impl_(std::move(impl)) {}
const std::string& RuleSet::name() const noexcept {
  return impl_->model.name;
}
const std::string& RuleSet::version() const noexcept {
  return impl_->model.version;
}
const std::string& RuleSet::digest() const noexcept {
  return impl_->model.digest;
}
const std::vector<Diagnostic>& RuleSet::warnings() const noexcept {
  return impl_->model.warnings;
}
std::vector<std::string> RuleSet::option_ids() const {
  std::vector<std::string> ids;
  for (const auto& option : impl_->model.options) ids.push_back(option.id);
  return ids;
}

Evaluation RuleSet::evaluate_json(std::string_view profile_json) const noexcept {
  try {
    // One evaluation path: the Evaluator's, with a rule set it does not own.
    Evaluator evaluator(std::shared_ptr<const RuleSet>(std::shared_ptr<const RuleSet>{}, this));
    return evaluator.evaluate(profile_json);
  } catch (std::exception const& e) {  // the Evaluator's own allocation failed
    Evaluation evaluation;
    evaluation.errors.push_back({"", std::string("internal error: ") + e.what()});
    return evaluation;
  }
}

namespace {

LoadResult finish(rules::CheckOutput&& checked, const LoadOptions& options) {
  LoadResult out;
  out.diagnostics = std::move(checked.diagnostics);
  if (!checked.model) return out;
  auto compiled = std::make_shared<detail::CompiledRuleSet>();
  compiled->model = std::move(*checked.model);
  engine::lay_out_slots(compiled->model);
  compiled->plan = engine::compile_plan(compiled->model);
  compiled->limits = options.limits;
  out.ruleset = detail::RuleSetAccess::make(std::move(compiled));
  return out;
}

LoadResult internal_error(const char* what) {
  LoadResult out;
  Diagnostic d;
  d.code = "E000";
  d.message = std::string("internal error: ") + what;
  out.diagnostics.push_back(d);
  return out;
}

}  // namespace

namespace {
std::atomic<detail::RegistryLoader> registry_loader{nullptr};
}  // namespace

void detail::set_registry_loader(RegistryLoader loader) noexcept {
  registry_loader.store(loader);
}

std::shared_ptr<const RuleSet> detail::RuleSetAccess::make(
    std::shared_ptr<const CompiledRuleSet> compiled) {
  return std::shared_ptr<const RuleSet>(new RuleSet(std::move(compiled)));
}

LoadResult load_rules(const std::string& path, const LoadOptions& options) noexcept {
  if (path.rfind("db:", 0) == 0) {
    if (detail::RegistryLoader loader = registry_loader.load()) return loader(path, options);
    LoadResult out;
    Diagnostic d;
    d.code = "E105";
    d.location.file = path;
    d.message = "rule set `" + path +
                "` is in a registry, and this program was linked without stimrank's storage "
                "library";
    d.hint = "link stimrank::stimrank (or stimrank::storage) instead of stimrank::core";
    out.diagnostics.push_back(d);
    return out;
  }
  try {
    std::vector<std::string> roots;
    std::error_code ec;
    // Overlay texts by normalised path, read before the disk.
    std::map<std::string, const std::string*> overlay;
    for (const auto& [file, text] : options.overlay)
      overlay[fs::path(file).lexically_normal().string()] = &text;
    if (fs::is_directory(path, ec)) {
      for (const auto& entry : fs::directory_iterator(path, ec))
        if (entry.is_regular_file() && entry.path().extension() == ".rules")
          roots.push_back(entry.path().lexically_normal().string());
      const fs::path folder = fs::path(path).lexically_normal();
      for (const auto& [file, text] : overlay)
        if (fs::path(file).extension() == ".rules" && fs::path(file).parent_path() == folder &&
            std::find(roots.begin(), roots.end(), file) == roots.end())
          roots.push_back(file);
      std::sort(roots.begin(), roots.end());
      if (roots.empty()) {
        LoadResult out;
        Diagnostic d;
        d.code = "E105";
        d.location.file = path;
        d.message = "folder `" + path + "` holds no `.rules` files";
        out.diagnostics.push_back(d);
        return out;
      }
    } else {
      roots.push_back(path);
    }
    const std::size_t limit = options.limits.max_file_bytes;
    rules::FileReader reader = [limit, &overlay](
                                   const std::string& including, const std::string& name,
                                   std::string& canonical,
                                   std::string& problem) -> std::optional<std::string> {
      fs::path target =
          including.empty() ? fs::path(name) : fs::path(including).parent_path() / name;
      canonical = target.lexically_normal().string();
      if (auto it = overlay.find(canonical); it != overlay.end()) return *it->second;
      std::error_code error;
      if (fs::is_directory(target, error)) {
        problem = "it is a folder";
        return std::nullopt;
      }
      // An included file is a rule file on disk: opening a FIFO would wait for a
      // writer for ever. (The root may be one the caller names, /dev/stdin.)
      if (!including.empty() && fs::exists(target, error) && !fs::is_regular_file(target, error)) {
        problem = "it is not a regular file (a FIFO, a socket or a device)";
        return std::nullopt;
      }
      std::ifstream in(target, std::ios::binary);
      if (!in) {
        problem = "no such file";
        return std::nullopt;
      }
      // At most one byte over the limit: the checker then reports E113, and
      // `include "/dev/zero"` is not read to the end.
      std::string text;
      if (!read_bounded(in, text, limit)) {
        problem = "read error";
        return std::nullopt;
      }
      return text;
    };
    return finish(rules::load_and_check(roots, reader, options.limits), options);
  } catch (std::exception const& e) {
    return internal_error(e.what());
  }
}

LoadResult compile_rules(const std::vector<SourceText>& files,
                         const LoadOptions& options) noexcept {
  try {
    std::vector<std::string> roots;
    for (const SourceText& file : files)
      roots.push_back(fs::path(file.name).lexically_normal().string());
    rules::FileReader reader = [&files](const std::string& including, const std::string& name,
                                        std::string& canonical,
                                        std::string& problem) -> std::optional<std::string> {
      fs::path target =
          including.empty() ? fs::path(name) : fs::path(including).parent_path() / name;
      canonical = target.lexically_normal().string();
      for (const SourceText& file : files)
        if (fs::path(file.name).lexically_normal().string() == canonical) return file.text;
      problem = "no such file among the sources given";
      return std::nullopt;
    };
    return finish(rules::load_and_check(roots, reader, options.limits), options);
  } catch (std::exception const& e) {
    return internal_error(e.what());
  }
}

std::string default_rules_path() {
  if (const char* env = std::getenv("STIMRANK_RULES"); env && *env) return env;
  std::error_code ec;
  // An installed program reads the knowledge base installed beside it
  // (PREFIX/bin/stimrank → PREFIX/share/stimrank/knowledge). A program of the build
  // tree reads the source tree's, which it was built from. Any other program (one
  // linking the installed library, Python) reads the installed knowledge base, and
  // the source tree's only when none is installed.
  const fs::path program = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path beside =
        program.parent_path().parent_path() / STIMRANK_INSTALL_DATADIR / "stimrank" / "knowledge";
    if (fs::is_directory(beside, ec)) return beside.string();
  }
  const std::string source = STIMRANK_SOURCE_KNOWLEDGE_DIR,
                    installed = STIMRANK_INSTALLED_KNOWLEDGE_DIR;
  const bool in_build_tree =
      !program.empty() && program.string().rfind(STIMRANK_BINARY_DIR "/", 0) == 0;
  for (const std::string& folder :
       in_build_tree ? std::vector{source, installed} : std::vector{installed, source})
    if (fs::is_directory(folder, ec)) return folder;
  return "knowledge";
}

}  // namespace stimrank
