// The language server: JSON-RPC 2.0 with LSP's Content-Length framing, one reader
// thread feeding a queue, and a main loop that answers requests in order and sends
// diagnostics once the edits have paused (debounce). Every handler is guarded: a
// broken file, a bad message or an internal error is answered, never fatal.
#include "stimrank/lsp.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <thread>

#include "bounded_read.hpp"
#include "source_file.hpp"
#include "spelling.hpp"
#include "stimrank/format.hpp"
#include "stimrank/lint.hpp"
#include "stimrank/reports.hpp"
#include "stimrank/stimrank.hpp"
#include "stimrank/testing.hpp"
#include "symbols.hpp"

namespace stimrank {

using nlohmann::json;

namespace {

namespace fs = std::filesystem;

// ---- transport

struct Incoming {
  bool end = false;           // the input ended
  std::string body;           // one message
  std::string framing_error;  // a header that could not be read
};

// Header lines are short ("Content-Length: 123"); a longer one is refused, so that
// a client that never sends a newline cannot make the server hold its stream.
constexpr std::size_t max_header_line = 1024;

// Reads one header line (without its line end) of at most max_header_line bytes;
// the rest of a longer one is passed over. False at the end of the input.
bool read_header_line(std::istream& in, std::string& line, bool& too_long) {
  line.clear();
  too_long = false;
  for (std::streambuf* buffer = in.rdbuf();;) {
    const int c = buffer->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit | std::ios::failbit);
      return false;
    }
    if (c == '\n') break;
    if (line.size() < max_header_line)
      line += static_cast<char>(c);
    else
      too_long = true;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

// Passes over `length` bytes in blocks, never holding them; false if the input ends.
bool skip_bytes(std::istream& in, std::size_t length) {
  char buffer[1 << 16];
  for (std::size_t left = length; left > 0;) {
    const std::size_t n = std::min(left, sizeof buffer);
    in.read(buffer, static_cast<std::streamsize>(n));
    const auto got = static_cast<std::size_t>(in.gcount());
    left -= got;
    if (got < n) return false;
  }
  return true;
}

// Reads one framed message: headers, an empty line, Content-Length bytes. A message
// that cannot be read whole is a framing error, never a partial body.
Incoming read_message(std::istream& in, std::size_t limit) {
  Incoming message;
  std::optional<std::size_t> length;
  std::string line;
  bool any_header = false, too_long = false;
  for (;;) {
    if (!read_header_line(in, line, too_long)) {
      if (any_header || too_long || !line.empty())
        message.framing_error = "the input ended inside a message's headers";
      message.end = true;
      return message;
    }
    if (line.empty() && !too_long) {
      if (!any_header) continue;  // stray blank lines between messages
      break;
    }
    any_header = true;
    if (too_long) {
      message.framing_error = "a header line over " + std::to_string(max_header_line) + " bytes";
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) {
      message.framing_error = "a header line without `:`";
      continue;
    }
    std::string name = line.substr(0, colon), value = line.substr(colon + 1);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    value.erase(0, value.find_first_not_of(' '));
    while (!value.empty() && value.back() == ' ') value.pop_back();
    if (name == "content-length") {
      if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos)
        message.framing_error = "Content-Length is not a number";
      else if (value.size() > 18)  // past any limit: read as the largest length
        length = std::numeric_limits<std::size_t>::max();
      else
        length = std::stoull(value);
    }
  }
  if (!length) {
    if (message.framing_error.empty()) message.framing_error = "no Content-Length header";
    return message;
  }
  if (*length > limit) {  // skipped in blocks, never held whole
    const std::string size = *length == std::numeric_limits<std::size_t>::max()
                                 ? "a Content-Length of over 18 digits"
                                 : "a message of " + std::to_string(*length) + " bytes";
    message.framing_error = size + " is over the limit of " + std::to_string(limit) + " bytes";
    if (!skip_bytes(in, *length)) message.end = true;
    return message;
  }
  message.body.resize(*length);
  in.read(message.body.data(), static_cast<std::streamsize>(*length));
  if (const auto got = static_cast<std::size_t>(in.gcount()); got != *length) {
    message.framing_error = "the input ended " + std::to_string(got) + " bytes into a message of " +
                            std::to_string(*length) + " bytes";
    message.body.clear();
    message.end = true;
  }
  return message;
}

void write_message(std::ostream& out, const json& message) {
  const std::string body = message.dump(-1, ' ', false, json::error_handler_t::replace);
  out << "Content-Length: " << body.size() << "\r\n\r\n" << body;
  out.flush();
}

// ---- URIs, positions

std::string uri_to_path(const std::string& uri) {
  std::string path = uri.rfind("file://", 0) == 0 ? uri.substr(7) : uri;
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() &&
        std::isxdigit(static_cast<unsigned char>(path[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
      out += static_cast<char>(std::stoi(path.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += path[i];
    }
  }
  return fs::path(out).lexically_normal().string();
}

std::string path_to_uri(const std::string& path) {
  std::string out = "file://";
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// LSP positions count UTF-16 code units unless the client agreed to UTF-8.
struct Positions {
  bool utf8 = false;

  // The bytes of the UTF-8 character a lead byte starts (1 for a stray byte), and
  // how many units the client counts for it.
  static std::size_t character_bytes(char lead_char) {
    const auto lead = static_cast<unsigned char>(lead_char);
    return lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  }
  long units_of(std::size_t bytes) const {
    return utf8 ? static_cast<long>(bytes) : (bytes == 4 ? 2 : 1);  // UTF-16: surrogate pair
  }

  // Byte offset of (line, character), clamped to the text; `clamped` says if it was.
  std::size_t offset(const std::string& text, long line, long character, bool& clamped) const {
    clamped = false;
    if (line < 0 || character < 0) {
      clamped = true;
      line = std::max(0L, line);
      character = std::max(0L, character);
    }
    std::size_t at = 0;
    for (long l = 0; l < line; ++l) {
      const std::size_t newline = text.find('\n', at);
      if (newline == std::string::npos) {
        clamped = true;
        return text.size();
      }
      at = newline + 1;
    }
    long units = 0;
    while (at < text.size() && text[at] != '\n' && units < character) {
      const std::size_t size = character_bytes(text[at]);
      units += units_of(size);
      at = std::min(text.size(), at + size);
    }
    if (units < character) clamped = clamped || at >= text.size() || text[at] == '\n';
    return at;
  }

  json position(const std::string& text, std::size_t offset) const {
    offset = std::min(offset, text.size());
    long line = 0;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset; ++i)
      if (text[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    long character = 0;
    for (std::size_t i = line_start; i < offset;) {
      const std::size_t size = character_bytes(text[i]);
      character += units_of(size);
      i += size;
    }
    return {{"line", line}, {"character", character}};
  }

  json range(const std::string& text, std::size_t begin, std::size_t end) const {
    return {{"start", position(text, begin)}, {"end", position(text, std::max(begin, end))}};
  }
};

// A diagnostic's 1-based line and byte column → an offset in `text`.
std::size_t offset_of(const std::string& text, int line, int column) {
  std::size_t at = 0;
  for (int l = 1; l < line; ++l) {
    const std::size_t newline = text.find('\n', at);
    if (newline == std::string::npos) return text.size();
    at = newline + 1;
  }
  return std::min(text.size(), at + static_cast<std::size_t>(std::max(0, column - 1)));
}

// A file the editor has not opened, as it is on disk: a regular file only (a FIFO
// would block the server, /dev/zero never end), read up to one byte over `limit`
// (the checker and the test runner then refuse it as too large).
std::string read_file(const std::string& path, std::size_t limit) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return {};
  std::ifstream in(path, std::ios::binary);
  std::string text;
  if (!in || !read_bounded(in, text, limit)) return {};
  return text;
}

bool is_rules(const std::string& path) {
  return fs::path(path).extension() == ".rules";
}

// ---- the server

class Server {
 public:
  Server(std::ostream& out, std::ostream& log, const LanguageServerOptions& options)
      : out_(out), log_(log), options_(options) {}

  // One message; false once `exit` has been received.
  bool handle(const std::string& body) {
    json message = json::parse(body, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
      reply_error(nullptr, -32700, "the message is not JSON (a JSON-RPC object)");
      return true;
    }
    const bool has_id = message.contains("id");
    const json id = has_id ? message["id"] : json();
    if (!message.contains("method") || !message["method"].is_string()) {
      if (has_id && (message.contains("result") || message.contains("error"))) return true;
      reply_error(id, -32600, "a request needs a `method`");
      return true;
    }
    const std::string method = message["method"].get<std::string>();
    const json params = message.value("params", json::object());
    if (method == "exit") {
      exit_code_ = shutdown_ ? 0 : 1;
      return false;
    }
    if (!initialized_ && method != "initialize") {
      if (has_id) reply_error(id, -32002, "the server is not initialized yet");
      return true;
    }
    if (shutdown_ && has_id) {
      reply_error(id, -32600, "the server is shutting down");
      return true;
    }
    try {
      dispatch(method, params, id, has_id);
    } catch (json::exception const& e) {
      // A parameter missing or of the wrong type (a `uri` that is a number): the
      // client's error, answered as such (the library's "[json.exception…] " cut, its
      // "(/json/pointer) " written as "/json/pointer: ").
      std::string what = e.what();
      if (const auto end = what.find("] ");
          what.rfind("[json.exception", 0) == 0 && end != std::string::npos)
        what.erase(0, end + 2);
      if (const auto close = what.find(") ");
          what.rfind("(/", 0) == 0 && close != std::string::npos)
        what = what.substr(1, close - 1) + ": " + what.substr(close + 2);
      log_ << "stimrank lsp: " << method << ": invalid params: " << what << "\n";
      if (has_id) reply_error(id, -32602, "invalid params: " + what);
    } catch (std::exception const& e) {
      log_ << "stimrank lsp: " << method << ": internal error: " << e.what() << "\n";
      if (has_id) reply_error(id, -32603, std::string("internal error: ") + e.what());
    }
    return true;
  }

  // Diagnostics for the folders edited since the last call.
  void flush_diagnostics() {
    for (const std::string& folder : std::exchange(dirty_, {})) publish(folder);
  }
  bool has_pending() const { return !dirty_.empty(); }
  int exit_code() const { return exit_code_; }
  void framing_error(const std::string& what) {
    log_ << "stimrank lsp: " << what << "\n";
    reply_error(nullptr, -32700, what);
  }

 private:
  struct Document {
    std::string text;
    long version = 0;
  };
  // One rule set (a folder's .rules files, open buffers in place of the disk).
  struct Analysis {
    LoadResult loaded;
    std::vector<Diagnostic> lint;
    lsp::SymbolIndex symbols;
    std::shared_ptr<const RuleSet> last_good;
    std::optional<RuleSetInfo> info;
    std::set<std::string> published;  // files that got diagnostics last time
  };

  void reply(const json& id, const json& result) {
    write_message(out_, {{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
  }
  void reply_error(const json& id, int code, const std::string& message) {
    write_message(
        out_, {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}});
  }
  void notify(const std::string& method, const json& params) {
    write_message(out_, {{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
  }
  void show(const std::string& text, int type = 3) {
    notify("window/logMessage", {{"type", type}, {"message", text}});
  }

  void dispatch(const std::string& method, const json& params, const json& id, bool has_id) {
    if (method == "initialize") return initialize(params, id);
    if (method == "initialized") return;
    if (method == "shutdown") {
      shutdown_ = true;
      return reply(id, nullptr);
    }
    if (method == "textDocument/didOpen") return did_open(params);
    if (method == "textDocument/didChange") return did_change(params);
    if (method == "textDocument/didSave") return;
    if (method == "textDocument/didClose") return did_close(params);
    if (method == "workspace/didChangeWatchedFiles") {
      for (auto& [folder, analysis] : analyses_) dirty_.insert(folder);
      return;
    }
    if (method == "textDocument/hover") return reply(id, hover(params));
    if (method == "textDocument/definition") return reply(id, definition(params));
    if (method == "textDocument/references") return reply(id, references(params));
    if (method == "textDocument/completion") return reply(id, completion(params));
    if (method == "textDocument/formatting") return formatting(params, id);
    if (method == "textDocument/codeAction") return reply(id, code_actions(params));
    if (method == "textDocument/codeLens") return reply(id, code_lenses(params));
    if (method == "workspace/executeCommand") return reply(id, execute(params));
    if (method.rfind("$/", 0) == 0) return;  // optional notifications ($/cancelRequest, …)
    if (has_id) reply_error(id, -32601, "method `" + method + "` is not supported");
  }

  void initialize(const json& params, const json& id) {
    initialized_ = true;
    const json encodings = params.contains("capabilities")
                               ? params["capabilities"]
                                     .value("general", json::object())
                                     .value("positionEncodings", json::array())
                               : json::array();
    for (const json& e : encodings)
      if (e == "utf-8") positions_.utf8 = true;
    json capabilities = {{"positionEncoding", positions_.utf8 ? "utf-8" : "utf-16"},
                         {"textDocumentSync", {{"openClose", true}, {"change", 2}, {"save", true}}},
                         {"hoverProvider", true},
                         {"definitionProvider", true},
                         {"referencesProvider", true},
                         {"completionProvider", {{"triggerCharacters", {".", "(", " "}}}},
                         {"documentFormattingProvider", true},
                         {"codeActionProvider", {{"codeActionKinds", {"quickfix"}}}},
                         {"codeLensProvider", {{"resolveProvider", false}}},
                         {"executeCommandProvider", {{"commands", {"stimrank.runCase"}}}}};
    reply(id, {{"capabilities", capabilities},
               {"serverInfo", {{"name", "stimrank"}, {"version", STIMRANK_VERSION}}}});
  }

  // ---- documents

  std::string folder_of(const std::string& path) const {
    const fs::path p(path);
    // A vignette test file in RULES/tests/ belongs to RULES.
    if (p.extension() == ".json" && p.parent_path().filename() == "tests")
      return p.parent_path().parent_path().string();
    return p.parent_path().string();
  }

  void did_open(const json& params) {
    const json& doc = params.at("textDocument");
    const std::string path = uri_to_path(doc.at("uri").get<std::string>());
    documents_[path] = {doc.at("text").get<std::string>(), doc.value("version", 0L)};
    dirty_.insert(folder_of(path));
  }

  void did_change(const json& params) {
    const std::string path = uri_to_path(params.at("textDocument").at("uri").get<std::string>());
    auto it = documents_.find(path);
    if (it == documents_.end()) {
      show("a change to " + path + ", which is not open, was ignored", 2);
      return;
    }
    Document& doc = it->second;
    for (const json& change : params.at("contentChanges")) {
      const std::string text = change.at("text").get<std::string>();
      if (!change.contains("range")) {
        doc.text = text;
        continue;
      }
      const json& range = change["range"];
      bool clamped_start = false, clamped_end = false;
      std::size_t begin = positions_.offset(doc.text, range["start"].value("line", 0L),
                                            range["start"].value("character", 0L), clamped_start);
      std::size_t end = positions_.offset(doc.text, range["end"].value("line", 0L),
                                          range["end"].value("character", 0L), clamped_end);
      if (clamped_start || clamped_end)
        show("an edit to " + path +
                 " named a position outside the document; it was applied at the nearest position",
             2);
      if (end < begin) std::swap(begin, end);
      doc.text.replace(begin, end - begin, text);
    }
    doc.version = params["textDocument"].value("version", doc.version + 1);
    dirty_.insert(folder_of(path));
  }

  void did_close(const json& params) {
    const std::string path = uri_to_path(params.at("textDocument").at("uri").get<std::string>());
    documents_.erase(path);
    dirty_.insert(folder_of(path));
  }

  std::string text_of(const std::string& path) const {
    auto it = documents_.find(path);
    return it != documents_.end() ? it->second.text
                                  : read_file(path, std::max(options_.limits.max_file_bytes,
                                                             options_.limits.max_test_file_bytes));
  }

  // ---- analysis

  Analysis& analyse(const std::string& folder) {
    Analysis& a = analyses_[folder];
    LoadOptions load;
    load.limits = options_.limits;
    std::vector<std::pair<std::string, std::string>> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec))
      if (entry.path().extension() == ".rules") {
        const std::string path = entry.path().lexically_normal().string();
        files.emplace_back(path, text_of(path));
      }
    for (const auto& open : documents_) {  // a new file not saved yet
      const std::string& path = open.first;
      if (is_rules(path) && fs::path(path).parent_path() == fs::path(folder) &&
          std::none_of(files.begin(), files.end(), [&](const auto& f) { return f.first == path; }))
        files.emplace_back(path, open.second.text);
    }
    std::sort(files.begin(), files.end());
    for (const auto& [path, doc] : documents_)
      if (is_rules(path)) load.overlay.emplace_back(path, doc.text);
    a.loaded = load_rules(folder, load);
    a.lint.clear();
    if (a.loaded.ok()) {
      a.last_good = a.loaded.ruleset;
      a.info = a.last_good->describe();
      a.lint = lint_rules(*a.last_good, LintOptions{});
    }
    a.symbols.build(files, options_.limits.max_expression_depth);
    return a;
  }

  Analysis* analysis_for(const std::string& path) {
    const std::string folder = folder_of(path);
    auto it = analyses_.find(folder);
    if (it == analyses_.end() || dirty_.count(folder)) return &analyse(folder);
    return &it->second;
  }

  json lsp_diagnostic(const std::string& text, const Diagnostic& d) const {
    const std::size_t begin = offset_of(text, d.location.line, d.location.column);
    std::size_t end =
        d.location.end_line ? offset_of(text, d.location.end_line, d.location.end_column) : begin;
    if (end <= begin) end = begin + 1;
    json out = {{"range", positions_.range(text, begin, std::min(end, text.size()))},
                {"severity", d.severity == Severity::error     ? 1
                             : d.severity == Severity::warning ? 2
                                                               : 3},
                {"code", d.code},
                {"source", "stimrank"},
                {"message", d.message}};
    if (!d.hint.empty()) out["data"] = {{"hint", d.hint}};
    if (!d.hint.empty()) out["message"] = d.message + " (" + d.hint + ")";
    return out;
  }

  void publish(const std::string& folder) {
    Analysis& a = analyse(folder);
    std::map<std::string, json> by_file;
    auto add = [&](const Diagnostic& d) {
      std::string file = d.location.file;
      if (file.empty() || d.location.line == 0) {
        // About the rule set as a whole: shown at the top of its first file.
        if (a.symbols.declarations().empty()) return;
        file = a.symbols.declarations().front()->file;
      }
      file = fs::path(file).lexically_normal().string();
      if (file.rfind(folder, 0) != 0 && !documents_.count(file)) return;
      by_file[file].push_back(lsp_diagnostic(text_of(file), d));
    };
    for (const Diagnostic& d : a.loaded.diagnostics) add(d);
    for (const Diagnostic& d : a.lint) add(d);
    // Vignette test files open in this rule set's tests/: failing cases.
    for (const auto& [path, doc] : documents_)
      if (!is_rules(path) && folder_of(path) == folder)
        by_file[path] = test_diagnostics(a, path, doc.text);
    for (const auto& [path, doc] : documents_)  // every open file hears, clean or not
      if (folder_of(path) == folder && !by_file.count(path)) by_file[path] = json::array();
    std::set<std::string> now;
    for (auto& [file, list] : by_file) {
      notify("textDocument/publishDiagnostics",
             {{"uri", path_to_uri(file)}, {"diagnostics", list}});
      now.insert(file);
    }
    for (const std::string& file : a.published)
      if (!now.count(file))
        notify("textDocument/publishDiagnostics",
               {{"uri", path_to_uri(file)}, {"diagnostics", json::array()}});
    a.published = now;
  }

  // ---- vignette test files

  // The byte offset of a case's `"name": "…"` in the file, or 0.
  static std::size_t case_offset(const std::string& text, const std::string& name) {
    const std::string quoted = json(name).dump();
    for (std::size_t at = text.find(quoted); at != std::string::npos;
         at = text.find(quoted, at + 1)) {
      std::size_t before = text.rfind(':', at);
      if (before != std::string::npos && text.rfind("\"name\"", before) != std::string::npos)
        return at;
    }
    return 0;
  }

  json test_diagnostics(Analysis& a, const std::string& path, const std::string& text) {
    json out = json::array();
    if (!a.last_good) return out;
    TestReport report = run_test_text(*a.last_good, path, text);
    for (const std::string& error : report.errors)
      out.push_back({{"range", positions_.range(text, 0, std::min<std::size_t>(1, text.size()))},
                     {"severity", 1},
                     {"source", "stimrank test"},
                     {"message", error}});
    for (const TestCaseResult& c : report.cases) {
      if (c.passed) continue;
      std::string message = "case `" + c.name + "` fails";
      for (const std::string& p : c.problems) message += "\n- " + p;
      message += "\nranking: " + (c.ranking.empty() ? std::string("(none)") : c.ranking);
      const std::size_t at = case_offset(text, c.name);
      out.push_back({{"range", positions_.range(text, at, at + json(c.name).dump().size())},
                     {"severity", 1},
                     {"source", "stimrank test"},
                     {"message", message}});
    }
    return out;
  }

  json code_lenses(const json& params) {
    const std::string path = uri_to_path(params.at("textDocument").at("uri").get<std::string>());
    json out = json::array();
    if (is_rules(path)) return out;
    const std::string text = text_of(path);
    const json document = json::parse(text, nullptr, false);
    if (document.is_discarded()) return out;
    const json cases = document.is_object() ? document.value("cases", json::array()) : document;
    if (!cases.is_array()) return out;
    for (const json& c : cases) {
      if (!c.is_object() || !c.contains("name") || !c["name"].is_string()) continue;
      const std::string name = c["name"].get<std::string>();
      const std::size_t at = case_offset(text, name);
      out.push_back({{"range", positions_.range(text, at, at + json(name).dump().size())},
                     {"command",
                      {{"title", "run this case"},
                       {"command", "stimrank.runCase"},
                       {"arguments", {path_to_uri(path), name}}}}});
    }
    return out;
  }

  json execute(const json& params) {
    if (params.value("command", "") != "stimrank.runCase")
      return json{{"error", "unknown command"}};
    const json& arguments = params.at("arguments");
    const std::string path = uri_to_path(arguments.at(0).get<std::string>());
    const std::string name = arguments.at(1).get<std::string>();
    Analysis* a = analysis_for(path);
    if (!a->last_good) return json{{"passed", false}, {"message", "the rule set does not load"}};
    TestReport report = run_test_text(*a->last_good, path, text_of(path));
    for (const TestCaseResult& c : report.cases)
      if (c.name == name) {
        std::string message = "case `" + name + "`: " + (c.passed ? "passes" : "fails");
        for (const std::string& p : c.problems) message += "; " + p;
        message += "; ranking: " + (c.ranking.empty() ? std::string("(none)") : c.ranking);
        notify("window/showMessage", {{"type", c.passed ? 3 : 1}, {"message", message}});
        return json{{"passed", c.passed}, {"message", message}};
      }
    return json{{"passed", false}, {"message", "no case `" + name + "` in the file"}};
  }

  // ---- navigation

  struct At {
    Analysis* analysis = nullptr;
    std::string path, text;
    std::size_t offset = 0;
    const lsp::Occurrence* occurrence = nullptr;
  };

  At locate(const json& params) {
    At at;
    at.path = uri_to_path(params.at("textDocument").at("uri").get<std::string>());
    at.text = text_of(at.path);
    bool clamped = false;
    at.offset = positions_.offset(at.text, params.at("position").value("line", 0L),
                                  params.at("position").value("character", 0L), clamped);
    if (!is_rules(at.path)) return at;
    at.analysis = analysis_for(at.path);
    at.occurrence = at.analysis->symbols.at(at.path, static_cast<std::uint32_t>(at.offset));
    return at;
  }

  json location(const lsp::Occurrence& o) const {
    const std::string text = text_of(o.file);
    return {{"uri", path_to_uri(o.file)}, {"range", positions_.range(text, o.begin, o.end)}};
  }

  json definition(const json& params) {
    At at = locate(params);
    if (!at.occurrence) return nullptr;
    const lsp::Occurrence* declared =
        at.analysis->symbols.declaration(at.occurrence->kind, at.occurrence->id);
    return declared ? location(*declared) : json(nullptr);
  }

  json references(const json& params) {
    At at = locate(params);
    json out = json::array();
    if (!at.occurrence) return out;
    const bool with_declaration =
        params.value("context", json::object()).value("includeDeclaration", true);
    for (const lsp::Occurrence* o :
         at.analysis->symbols.occurrences(at.occurrence->kind, at.occurrence->id))
      if (with_declaration || !o->declaration) out.push_back(location(*o));
    return out;
  }

  // ---- hover

  std::string fact_type(const Analysis& a, const std::string& id) const {
    if (!a.last_good) return {};
    const json schema = json::parse(profile_schema_json(*a.last_good), nullptr, false);
    const json* node = &schema;
    std::size_t from = 0;
    while (true) {
      const std::size_t dot = id.find('.', from);
      const std::string part =
          id.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
      const json* props = nullptr;
      if (node->contains("properties"))
        props = &(*node)["properties"];
      else if (node->contains("items")) {
        const json& items = (*node)["items"];
        if (items.contains("properties"))
          props = &items["properties"];
        else if (items.contains("oneOf") && items["oneOf"].size() > 1)
          props = &items["oneOf"][1]["properties"];
      }
      if (!props || !props->contains(part)) return {};
      node = &(*props)[part];
      if (dot == std::string::npos) break;
      from = dot + 1;
    }
    return describe_type(*node);
  }

  // A schema node as a person reads it: "number 0..10", "one of: left, right".
  static std::string describe_type(const json& node) {
    auto words = [](const json& list) {
      std::string out;
      for (const json& v : list) out += (out.empty() ? "" : ", ") + v.get<std::string>();
      return out;
    };
    auto number = [](const json& v) {
      const double d = v.get<double>();
      return d == static_cast<long long>(d) ? std::to_string(static_cast<long long>(d)) : v.dump();
    };
    if (node.contains("enum")) return "one of: " + words(node["enum"]);
    const std::string type = node.value("type", "");
    if (type == "array" && node.contains("items")) {
      const json& items = node["items"];
      if (items.contains("enum")) return "a set of: " + words(items["enum"]);
      if (items.contains("oneOf")) return "a list of concept ids or coded entries";
      return "a list of entries";
    }
    if (type == "object") return "an object";
    if (type == "integer" || type == "number") {
      std::string out = type;
      if (node.contains("minimum") || node.contains("maximum"))
        out += " " + (node.contains("minimum") ? number(node["minimum"]) : std::string()) + ".." +
               (node.contains("maximum") ? number(node["maximum"]) : std::string());
      return out;
    }
    if (type == "string" && node.contains("pattern")) return "an id (lower case, digits, _)";
    return type.empty() ? node.dump() : type;
  }

  std::string hover_text(const At& at) const {
    const lsp::Occurrence& o = *at.occurrence;
    const Analysis& a = *at.analysis;
    std::string md = "**" + std::string(to_string(o.kind)) + "** `" + o.id + "`\n\n";
    const std::size_t uses = a.symbols.occurrences(o.kind, o.id).size();
    // How often, and where (the first few places, file:line).
    auto used = [&] {
      const std::size_t n = uses > 0 ? uses - 1 : 0;
      std::string text = "\n\nused " + std::to_string(n) + (n == 1 ? " time" : " times");
      std::size_t shown = 0;
      for (const lsp::Occurrence* use : a.symbols.occurrences(o.kind, o.id)) {
        if (use->declaration || shown == 5) continue;
        const auto* file = a.symbols.file(use->file);
        if (!file) continue;
        text += (shown++ ? ", " : ": ") + fs::path(use->file).filename().string() + ":" +
                std::to_string(file->locate(use->begin, use->end).line);
      }
      return text + (n > shown ? ", …" : "");
    };
    if (a.info) {
      const RuleSetInfo& info = *a.info;
      if (o.kind == lsp::SymbolKind::option)
        for (const OptionInfo& option : info.options)
          if (option.id == o.id) {
            md += option.title + "\n\nfamily " + option.family + ", " + option.invasiveness;
            std::size_t rules = 0;
            for (const RuleInfo& r : info.rules)
              rules += std::count(r.options.begin(), r.options.end(), o.id);
            md += "; " + std::to_string(rules) + " rules";
            return md + used();
          }
      if (o.kind == lsp::SymbolKind::rule)
        for (const RuleInfo& r : info.rules)
          if (r.id == o.id) {
            md += r.kind + (r.options.empty() ? "" : " for " + r.options.front()) + "\n\n";
            if (!r.grade.empty()) md += "grade: " + r.grade + "\n\n";
            if (!r.because.empty()) md += "because: " + r.because + "\n\n";
            md += "source: " + r.source +
                  (r.doi.empty() ? "" : " ([doi:" + r.doi + "](https://doi.org/" + r.doi + "))");
            if (r.unverified) md += "\n\n*unverified*";
            return md;
          }
      if (o.kind == lsp::SymbolKind::source)
        for (const SourceInfo& s : info.sources)
          if (s.id == o.id) {
            md += s.citation;
            if (!s.doi.empty()) md += "\n\n[doi:" + s.doi + "](https://doi.org/" + s.doi + ")";
            if (!s.url.empty()) md += "\n\n" + s.url;
            std::size_t cited = 0;
            for (const RuleInfo& r : info.rules) cited += r.source == s.id;
            md += "\n\ncited by " + std::to_string(cited) + (cited == 1 ? " rule" : " rules");
            return md;
          }
      if (o.kind == lsp::SymbolKind::concept_id)
        for (const ConceptInfo& c : info.concepts)
          if (c.id == o.id) {
            md += c.title + (c.valueset ? " (value set)" : "");
            if (!c.codes.empty()) {
              md += "\n\ncodes:";
              for (std::size_t i = 0; i < c.codes.size() && i < 12; ++i)
                md += " `" + c.codes[i] + "`";
              if (c.codes.size() > 12) md += " … (" + std::to_string(c.codes.size()) + ")";
            }
            return md + used();
          }
    }
    if (o.kind == lsp::SymbolKind::fact) {
      const std::string type = fact_type(a, o.id);
      if (!type.empty()) md += "type: " + type;
      return md + used();
    }
    if (o.kind == lsp::SymbolKind::scheme) {
      for (const auto& [dimension, labels] : a.symbols.dimensions(o.id)) {
        md += "- " + dimension + ":";
        for (const std::string& l : labels) md += " " + l;
        md += "\n";
      }
      return md + used();
    }
    if (const lsp::Occurrence* declared = a.symbols.declaration(o.kind, o.id))
      if (declared->node)
        if (const auto* file = a.symbols.file(declared->file))
          md += "```\n" + file->slice(declared->node->begin, declared->node->end) + "\n```";
    return md + used();
  }

  json hover(const json& params) {
    At at = locate(params);
    if (!at.occurrence) return nullptr;
    return {{"contents", {{"kind", "markdown"}, {"value", hover_text(at)}}},
            {"range", positions_.range(at.text, at.occurrence->begin, at.occurrence->end)}};
  }

  // ---- completion

  json completion(const json& params) {
    const std::string path = uri_to_path(params.at("textDocument").at("uri").get<std::string>());
    json items = json::array();
    if (!is_rules(path)) return items;
    At at = locate(params);
    // The word being typed, and what comes before it.
    std::size_t start = at.offset;
    while (start > 0 && (std::isalnum(static_cast<unsigned char>(at.text[start - 1])) ||
                         at.text[start - 1] == '_' || at.text[start - 1] == '.'))
      --start;
    const std::string prefix = at.text.substr(start, at.offset - start);
    std::set<std::string> seen;
    auto add = [&](const std::string& label, int kind, const std::string& detail) {
      if (label.rfind(prefix, 0) != 0 || !seen.insert(label).second) return;
      items.push_back({{"label", label}, {"kind", kind}, {"detail", detail}});
    };
    // Inside SCHEME( … ): its dimensions and their values.
    const std::size_t open = at.text.rfind('(', at.offset);
    const std::size_t close = at.text.rfind(')', at.offset);
    if (open != std::string::npos && (close == std::string::npos || close < open)) {
      std::size_t word_end = open;
      std::size_t word_start = word_end;
      while (word_start > 0 && (std::isalnum(static_cast<unsigned char>(at.text[word_start - 1])) ||
                                at.text[word_start - 1] == '_'))
        --word_start;
      const std::string scheme = at.text.substr(word_start, word_end - word_start);
      const auto dimensions = at.analysis->symbols.dimensions(scheme);
      if (!dimensions.empty()) {
        for (const auto& [dimension, labels] : dimensions) {
          add(dimension, 10, "dimension of " + scheme);
          for (const std::string& l : labels) add(l, 20, dimension + " in " + scheme);
        }
        return items;
      }
    }
    for (const std::string& k : rules::language_keywords()) add(k, 14, "keyword");
    static const std::map<lsp::SymbolKind, int> kinds = {
        {lsp::SymbolKind::option, 7},  {lsp::SymbolKind::rule, 3},
        {lsp::SymbolKind::source, 18}, {lsp::SymbolKind::concept_id, 21},
        {lsp::SymbolKind::fact, 5},    {lsp::SymbolKind::scheme, 22},
        {lsp::SymbolKind::let, 6},     {lsp::SymbolKind::dimension, 10}};
    for (const lsp::Occurrence* o : at.analysis->symbols.declarations())
      add(o->id, kinds.at(o->kind), to_string(o->kind));
    return items;
  }

  // ---- formatting, code actions

  void formatting(const json& params, const json& id) {
    const std::string path = uri_to_path(params.at("textDocument").at("uri").get<std::string>());
    if (!is_rules(path)) return reply(id, json::array());
    const std::string text = text_of(path);
    FormatResult formatted = format_rules(path, text);
    if (!formatted.ok)
      return reply_error(id, -32803, "the file has syntax errors; fix them to format it");
    if (formatted.text == text) return reply(id, json::array());
    reply(id, json::array({{{"range", positions_.range(text, 0, text.size())},
                            {"newText", formatted.text}}}));
  }

  // L006 "`phn` lists icd10 `B0229` twice": the edit that deletes the second listing
  // (and the comma before it), or null.
  json duplicate_code_fix(const std::string& path, const std::string& message) {
    const auto open = message.find('`'), close = message.find('`', open + 1);
    const auto code_open = message.rfind('`', message.rfind('`') - 1);
    if (open != 0 || close == std::string::npos || code_open == std::string::npos ||
        message.find(" twice") == std::string::npos)
      return nullptr;
    const std::string concept_id = message.substr(1, close - 1);
    const std::string code = message.substr(code_open + 1, message.rfind('`') - code_open - 1);
    Analysis* a = analysis_for(path);
    const lsp::Occurrence* declared =
        a->symbols.declaration(lsp::SymbolKind::concept_id, concept_id);
    if (!declared || !declared->node || declared->file != path) return nullptr;
    auto normalised = [](std::string text) {
      text.erase(std::remove(text.begin(), text.end(), '.'), text.end());
      std::transform(text.begin(), text.end(), text.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      return text;
    };
    bool seen = false;
    for (const rules::ast::Node& list : declared->node->kids) {
      if (list.kind != rules::ast::Kind::CodeList) continue;
      for (std::size_t i = 0; i < list.kids.size(); ++i) {
        if (normalised(list.kids[i].text) != normalised(code)) continue;
        if (!seen) {
          seen = true;
          continue;
        }
        // From the end of the entry before it (its comma goes too) to its own end.
        const std::uint32_t begin = i > 0 ? list.kids[i - 1].end : list.kids[i].begin;
        const std::string text = text_of(path);
        return {{"range", positions_.range(text, begin, list.kids[i].end)}, {"newText", ""}};
      }
    }
    return nullptr;
  }

  json code_actions(const json& params) {
    const std::string uri = params.at("textDocument").at("uri").get<std::string>();
    json actions = json::array();
    for (const json& d :
         params.value("context", json::object()).value("diagnostics", json::array())) {
      if (d.value("code", "") != "L006") continue;
      json edit = duplicate_code_fix(uri_to_path(uri), d.value("message", ""));
      if (edit.is_null()) continue;
      actions.push_back({{"title", "remove the second listing of the code"},
                         {"kind", "quickfix"},
                         {"diagnostics", json::array({d})},
                         {"edit", {{"changes", {{uri, json::array({edit})}}}}}});
    }
    const json diagnostics =
        params.value("context", json::object()).value("diagnostics", json::array());
    for (const json& d : diagnostics) {
      const std::string hint =
          d.contains("data") && d["data"].is_object() ? d["data"].value("hint", "") : "";
      const auto open = hint.find("did you mean `");
      if (open == std::string::npos) continue;
      const auto close = hint.find('`', open + 14);
      if (close == std::string::npos) continue;
      const std::string replacement = hint.substr(open + 14, close - open - 14);
      actions.push_back(
          {{"title", "change to `" + replacement + "`"},
           {"kind", "quickfix"},
           {"diagnostics", json::array({d})},
           {"isPreferred", true},
           {"edit",
            {{"changes",
              {{uri, json::array({{{"range", d["range"]}, {"newText", replacement}}})}}}}}});
    }
    return actions;
  }

  std::ostream& out_;
  std::ostream& log_;
  LanguageServerOptions options_;
  Positions positions_;
  bool initialized_ = false, shutdown_ = false;
  int exit_code_ = 1;
  std::map<std::string, Document> documents_;
  std::map<std::string, Analysis> analyses_;
  std::set<std::string> dirty_;
};

}  // namespace

int run_language_server(std::istream& in, std::ostream& out, std::ostream& log,
                        const LanguageServerOptions& options) noexcept {
  try {
    Server server(out, log, options);
    // A reader thread, so that diagnostics can wait for a pause in the edits. Its
    // state is shared: after `exit` the input may still be open (the thread then
    // outlives this call, blocked in a read, until the process ends).
    struct Shared {
      std::mutex mutex;
      std::condition_variable ready;
      std::deque<Incoming> queue;
    };
    auto shared = std::make_shared<Shared>();
    // std::cin is tied to std::cout: each read would flush the output from the reader
    // thread while the main thread writes to it (a race that sent messages twice).
    in.tie(nullptr);
    const std::size_t limit = options.max_message_bytes;
    std::thread reader([shared, &in, limit] {
      for (;;) {
        Incoming message = read_message(in, limit);
        const bool end = message.end;
        {
          std::lock_guard<std::mutex> lock(shared->mutex);
          shared->queue.push_back(std::move(message));
        }
        shared->ready.notify_one();
        if (end) return;
      }
    });
    bool running = true, input_ended = false;
    while (running) {
      Incoming message;
      {
        std::unique_lock<std::mutex> lock(shared->mutex);
        const auto wait = std::chrono::milliseconds(std::max(0, options.debounce_ms));
        auto has_message = [&] { return !shared->queue.empty(); };
        if (!server.has_pending())  // nothing to publish: sleep until a message comes
          shared->ready.wait(lock, has_message);
        else if (!shared->ready.wait_for(lock, wait, has_message)) {
          lock.unlock();
          server.flush_diagnostics();  // the edits paused
          continue;
        }
        message = std::move(shared->queue.front());
        shared->queue.pop_front();
      }
      if (!message.framing_error.empty()) server.framing_error(message.framing_error);
      if (!message.body.empty()) running = server.handle(message.body);
      if (message.end) {
        input_ended = true;
        break;
      }
    }
    if (input_ended)
      reader.join();
    else
      reader.detach();
    return server.exit_code();
  } catch (std::exception const& e) {
    log << "stimrank lsp: internal error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace stimrank
