// The parse driver: one declaration (or option member) at a time, with recovery.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <string_view>
#include <utility>

#include "ascii.hpp"
#include "grammar.hpp"
#include "source_file.hpp"
#include "spelling.hpp"
#include "utf8.hpp"

namespace stimrank::rules {

namespace {
// "0xFF": how a byte that is not UTF-8 is named in a message.
std::string byte_name(char c) {
  static const char hex[] = "0123456789ABCDEF";
  const auto byte = static_cast<unsigned char>(c);
  return std::string("0x") + hex[byte >> 4] + hex[byte & 15];
}
}  // namespace

SourceFile::SourceFile(std::string name, std::string text)
    : name_(std::move(name)), text_(std::move(text)) {
  line_starts_.push_back(0);
  for (std::uint32_t i = 0; i < text_.size(); ++i)
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
}

SourceLocation SourceFile::locate(std::uint32_t begin, std::uint32_t end) const {
  auto position = [&](std::uint32_t offset, int& line, int& column) {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    line = static_cast<int>(it - line_starts_.begin());
    column = static_cast<int>(offset - line_starts_[line - 1]) + 1;
  };
  SourceLocation loc;
  loc.file = name_;
  position(begin, loc.line, loc.column);
  position(std::max(begin, end), loc.end_line, loc.end_column);
  return loc;
}

std::string SourceFile::line_text(int line) const {
  if (line < 1 || line > static_cast<int>(line_starts_.size())) return {};
  std::uint32_t start = line_starts_[line - 1];
  std::uint32_t stop = line < static_cast<int>(line_starts_.size())
                           ? line_starts_[line] - 1
                           : static_cast<std::uint32_t>(text_.size());
  std::string out = text_.substr(start, stop - start);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  // Bytes that are not UTF-8 (and control characters) as `?`, one byte for one, so
  // that a message is valid UTF-8 and the columns (bytes) still point into the line.
  out = utf8::printable(out);
  return out;
}

std::string SourceFile::slice(std::uint32_t begin, std::uint32_t end) const {
  return std::string(view(begin, end));
}

std::string_view SourceFile::view(std::uint32_t begin, std::uint32_t end) const {
  if (begin >= text_.size() || end <= begin) return {};
  return std::string_view(text_).substr(begin, std::min<std::size_t>(end, text_.size()) - begin);
}

Diagnostic SourceFile::make(Severity severity, std::string code, std::uint32_t begin,
                            std::uint32_t end, std::string message, std::string hint) const {
  Diagnostic d;
  d.severity = severity;
  d.code = std::move(code);
  d.location = locate(begin, end);
  // Messages quote the user's text, which may hold bytes that are not UTF-8 (an
  // E003 of their own) or control characters: a message stays readable.
  d.message = utf8::printable(message);
  d.hint = utf8::printable(hint);
  d.source_line = line_text(d.location.line);
  return d;
}

namespace {
namespace x3 = boost::spirit::x3;
using grammar::iterator_type;

const char* skip_space(const char* pos, const char* end) {
  x3::phrase_parse(pos, end, x3::eps, grammar::skipper);
  return pos;
}

bool ident_char(char c) {
  return ascii::is_alnum(c) || c == '_';
}

// Characters that show as nothing or as a plain space, named in messages.
const char* invisible_name(char32_t point) {
  switch (point) {
    case 0x00A0: return "a no-break space";
    case 0x200B: return "a zero-width space";
    case 0x200C: return "a zero-width non-joiner";
    case 0x200D: return "a zero-width joiner";
    case 0x2060: return "a word joiner";
    case 0x202F: return "a narrow no-break space";
    case 0xFEFF: return "a byte order mark";
    default: return nullptr;
  }
}

// The byte length of the invisible character (see invisible_name) at `pos`, or 0.
std::size_t invisible_length(const char* pos, const char* end) {
  if (pos >= end || static_cast<unsigned char>(*pos) < 0x80) return 0;
  const std::size_t length = utf8::length(pos, end);
  return length != 0 && invisible_name(utf8::decode(pos, length)) ? length : 0;
}

// What a message says it found, and what to do about a character that word
// processors put where the language wants ASCII (typographic quotes, no-break and
// zero-width spaces).
struct Found {
  std::string text, hint;
};

Found describe_found(const char* pos, const char* end) {
  if (pos >= end) return {"end of file", {}};
  if (*pos == '"') return {"a string", {}};
  if (*pos == '\n' || *pos == '\r') return {"end of line", {}};
  if (*pos == '`') return {"a backtick", {}};  // "found ```" would not read
  if (const auto byte = static_cast<unsigned char>(*pos); byte < 0x20 || byte == 0x7F) {
    char code[16];  // a control character does not show: named by its code point
    std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(byte));
    return {std::string(byte == 0 ? "a NUL byte" : "a control character") + " (" + code + ")",
            "delete it"};
  }
  const char* stop = pos + 1;
  if (ident_char(*pos)) {
    while (stop < end && ident_char(*stop) && stop - pos < 40) ++stop;
  } else if (static_cast<unsigned char>(*pos) >= 0x80) {
    // The whole character, not its first byte: a message is valid UTF-8. Its code
    // point too, as a character pasted from a word processor may not show.
    std::size_t length = utf8::length(pos, end);
    if (length == 0) return {"the byte " + byte_name(*pos) + " (not UTF-8)", {}};
    const char32_t point = utf8::decode(pos, length);
    char code[16];
    std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(point));
    if (const char* name = invisible_name(point))
      return {std::string(name) + " (" + code + ")", "replace it with a plain space, or delete it"};
    Found found{"`" + std::string(pos, length) + "` (" + code + ")", {}};
    if (point == 0x201C || point == 0x201D || point == 0x201E || point == 0x00AB || point == 0x00BB)
      found.hint =
          "strings take straight double quotes `\"`; a word processor may have curled them";
    else if (point == 0x2018 || point == 0x2019)
      found.hint = "the language has no single quotes";
    return found;
  }
  return {"`" + std::string(pos, stop) + "`", {}};
}

// X3 names a rule wrapped in a semantic action by its mangled type; recover the
// rule's class name from it and say what that rule expects.
std::string readable_rule_name(const std::string& which) {
  static const std::pair<const char*, const char*> names[] = {
      {"name_class", "an identifier"},
      {"string_class", "a string in double quotes"},
      {"number_class", "a number"},
      {"name_set_class", "a set like `{a, b}`"},
      {"path_class", "a field name"},
      {"value_class", "a value (number, name, string, true or false)"},
      {"grade_class", "a grade like `GRADE(strength weak)`"},
      {"grade_value_class", "a grade dimension and value"},
      {"label_class", "a grade value and its weight"},
      {"rank_key_class", "a ranking key"},
      {"field_class", "a field declaration"},
      {"type_class", "a type"},
      {"code_item_class", "a code"},
      {"set_item_class", "a name or a string"},
      {"expression_class", "an expression"},
      {"or_class", "an expression"},
      {"and_class", "an expression"},
      {"not_class", "an expression"},
      {"primary_class", "an expression"},
      {"range_class", "a range like `18..65`"},
      {"code_list_class", "a code system and its codes"},
      {"rule_attr_class", "a rule attribute"},
      {"source_attr_class", "`doi`, `url` or `tag`"},
      {"cmp_op_class", "a comparison operator (==, !=, <, <=, >, >=)"},
      {"real_number_class", "a number"}};
  std::size_t best_at = std::string::npos;
  const char* best = nullptr;
  for (const auto& [cls, text] : names) {
    // mangled as <length><name>, e.g. "10name_class"
    std::string mangled = std::to_string(std::strlen(cls)) + cls;
    std::size_t at = which.find(mangled);
    if (at != std::string::npos && at < best_at) {
      best_at = at;
      best = text;
    }
  }
  return best ? best : "valid syntax here";
}

// "E012|`;` after indication" → code and text; other names get a generic code.
void split_expectation(const std::string& which, std::string& code, std::string& what) {
  auto bar = which.find('|');
  if (which.size() > 5 && which[0] == 'E' && bar == 4) {
    code = which.substr(0, 4);
    what = which.substr(5);
    return;
  }
  code = "E010";
  what = which;
  if (which.find("boost") != std::string::npos) what = readable_rule_name(which);
  if (what.size() == 3 && what.front() == '\'' && what.back() == '\'')
    what = std::string{'`', what[1], '`'};
}

bool starts_with_word(const char* pos, const char* end, const char* word) {
  std::size_t n = std::strlen(word);
  return static_cast<std::size_t>(end - pos) >= n && std::memcmp(pos, word, n) == 0 &&
         (pos + n == end || !ident_char(pos[n]));
}

const char* const top_keywords[] = {"ruleset",
                                    "include",
                                    "source",
                                    "scheme",
                                    "facts",
                                    "concept",
                                    "valueset",
                                    "let",
                                    "policy",
                                    "option",
                                    "indication",
                                    "absolute_contraindication",
                                    "relative_contraindication",
                                    "caution",
                                    "prerequisite",
                                    "research_only",
                                    "not_indicated"};
const char* const member_keywords[] = {"family",
                                       "invasiveness",
                                       "protocol",
                                       "note",
                                       "detail",
                                       "complication",
                                       "indication",
                                       "absolute_contraindication",
                                       "relative_contraindication",
                                       "caution",
                                       "prerequisite",
                                       "research_only",
                                       "not_indicated"};

// What may follow a rule's condition, before its `;`.
const char* const rule_attribute_keywords[] = {"grade",   "weight", "penalty",    "source", "tag",
                                               "because", "label",  "unverified", "when"};

// "did you mean `indication`?" for a misspelt keyword where `code` expects one.
std::string keyword_hint(const std::string& code, const std::string& word) {
  std::vector<std::string> candidates;
  auto add = [&candidates](const auto& words) {
    candidates.insert(candidates.end(), std::begin(words), std::end(words));
  };
  if (code == "E001") {
    add(top_keywords);
  } else if (code == "E002") {
    add(member_keywords);
  } else if (code == "E012") {
    add(rule_attribute_keywords);
  } else {
    return {};
  }
  if (std::find(candidates.begin(), candidates.end(), word) != candidates.end()) return {};
  return did_you_mean(word, candidates);
}

template <std::size_t N>
bool starts_with_any(const char* pos, const char* end, const char* const (&words)[N]) {
  return std::any_of(std::begin(words), std::end(words),
                     [&](const char* w) { return starts_with_word(pos, end, w); });
}

// After an error, find where the next statement starts: just past a `;` at brace
// depth 0, or at a line that begins with a statement keyword. Stops before a `}`
// that closes an enclosing block. Invisible characters before the keyword (a
// zero-width space pasted from a word processor) do not hide it: the returned
// position is then the first of them, for the caller to report.
template <std::size_t N>
const char* resync(const char* start, const char* error_at, const char* end,
                   const char* const (&keywords)[N]) {
  int depth = 0;
  bool at_line_start = false;
  const char* first_invisible = nullptr;  // on this line, before anything visible
  for (const char* p = start; p < end; ++p) {
    char c = *p;
    if (at_line_start) {
      if (std::size_t length = invisible_length(p, end)) {
        if (!first_invisible) first_invisible = p;
        p += length - 1;
        continue;
      }
    }
    if (c == '"') {
      for (++p; p < end && *p != '"' && *p != '\n'; ++p)
        if (*p == '\\' && p + 1 < end) ++p;
      continue;
    }
    if (c == '/' && p + 1 < end && p[1] == '/') {
      while (p < end && *p != '\n') ++p;
      --p;
      continue;
    }
    if (c == '\n') {
      at_line_start = true;
      first_invisible = nullptr;
      continue;
    }
    if (ascii::is_space(c)) continue;
    if (at_line_start && p >= error_at && p > start && depth == 0 &&
        starts_with_any(p, end, keywords))
      return first_invisible && first_invisible >= error_at && first_invisible > start
                 ? first_invisible
                 : p;
    at_line_start = false;
    first_invisible = nullptr;
    if (c == '{') ++depth;
    if (c == '}') {
      if (depth == 0) return p;  // closes an enclosing block: the caller handles it
      --depth;
    }
    if (c == ';' && depth == 0 && p >= error_at) return p + 1;
  }
  return end;
}

class Driver {
 public:
  Driver(SourceFile& file, int max_depth, std::vector<Diagnostic>& diagnostics)
      : file_(file), diagnostics_(diagnostics) {
    begin_ = file.text().data();
    end_ = begin_ + file.text().size();
    state_.begin = begin_;
    state_.max_depth = max_depth;
  }

  void run() {
    // The skipper's index of this text, for as long as it is parsed.
    struct IndexComments {
      grammar::CommentIndex saved = grammar::comment_index;
      IndexComments(const char* begin, const char* end) {
        const std::size_t at = std::string_view(begin, end - begin).rfind("*/");
        grammar::comment_index = {end, at == std::string_view::npos ? nullptr : begin + at};
      }
      ~IndexComments() { grammar::comment_index = saved; }
      IndexComments(const IndexComments&) = delete;
      IndexComments& operator=(const IndexComments&) = delete;
    } index_comments(begin_, end_);
    file_.root = ast::Node(ast::Kind::File);
    // A byte order mark (Windows editors write one) is not part of the rules.
    const char* pos = begin_;
    if (std::string_view(begin_, end_ - begin_).starts_with(utf8::kByteOrderMark))
      pos += utf8::kByteOrderMark.size();
    pos = skip_space(pos, end_);
    while (pos < end_) {
      ast::Node node;
      const char* start = pos;
      if (skip_invisible(pos, "E001", "a declaration")) {
        continue;
      } else if (starts_with_word(pos, end_, "option")) {
        pos = parse_option(pos);
      } else if (parse_one(grammar::item(), pos, node, "E001", "a declaration")) {
        file_.root.kids.push_back(std::move(node));
      } else {
        pos = resync(start, error_at_, end_, top_keywords);
        if (pos < end_ && *pos == '}') ++pos;  // a stray closing brace
      }
      pos = skip_space(pos, end_);
    }
  }

 private:
  const char* parse_option(const char* pos) {
    ast::Node option;
    const char* start = pos;
    if (!parse_one(grammar::option_head(), pos, option, "E001", "an option")) {
      return resync(start, error_at_, end_, top_keywords);
    }
    for (;;) {
      pos = skip_space(pos, end_);
      if (pos >= end_ || (starts_with_any(pos, end_, top_keywords) &&
                          !starts_with_any(pos, end_, member_keywords))) {
        auto offset = static_cast<std::uint32_t>(start - begin_);
        diagnostics_.push_back(
            file_.make(Severity::error, "E017", offset, offset + 6,
                       "expected `}` closing option `" + option.kids[0].text + "`"));
        break;
      }
      if (*pos == '}') {
        ++pos;
        break;
      }
      if (skip_invisible(pos, "E002", "an option property or a rule")) continue;
      ast::Node member;
      const char* member_start = pos;
      if (parse_one(grammar::option_member(), pos, member, "E002",
                    "an option property or a rule")) {
        option.kids.push_back(std::move(member));
      } else {
        pos = resync(member_start, error_at_, end_, member_keywords);
      }
    }
    option.end = static_cast<std::uint32_t>(pos - begin_);
    file_.root.kids.push_back(std::move(option));
    return pos;
  }

  // Invisible characters where a statement starts are reported once and then
  // passed over, so that the statement after them is still read (and checked).
  bool skip_invisible(const char*& pos, const char* code, const char* what) {
    if (!invisible_length(pos, end_)) return false;
    report(code, pos, std::string("expected ") + what);
    while (std::size_t length = invisible_length(pos, end_)) pos = skip_space(pos + length, end_);
    return true;
  }

  template <typename Rule>
  bool parse_one(const Rule& rule, const char*& pos, ast::Node& out, const char* code,
                 const char* what) {
    state_.depth = 0;
    const char* it = pos;
    try {
      if (x3::phrase_parse(it, end_, x3::with<grammar::state_tag>(state_)[rule], grammar::skipper,
                           out)) {
        pos = it;
        return true;
      }
      error_at_ = skip_space(pos, end_);
      report(code, error_at_, std::string("expected ") + what);
    } catch (x3::expectation_failure<iterator_type> const& failure) {
      std::string which_code, which_what;
      split_expectation(failure.which(), which_code, which_what);
      error_at_ = which_code == "E015" ? failure.where() : skip_space(failure.where(), end_);
      // A missing `;` belongs at the end of the statement, not at the next line; but
      // a word that is no statement keyword (a misspelt `because`) is itself the
      // problem, and the caret points at it.
      const char* at = error_at_;
      const bool stray_word = error_at_ < end_ && ident_char(*error_at_) &&
                              !starts_with_any(error_at_, end_, top_keywords) &&
                              !starts_with_any(error_at_, end_, member_keywords);
      if (which_code == "E012" && !stray_word)
        while (at > begin_ && ascii::is_space(at[-1])) --at;
      report(which_code, at, "expected " + which_what, error_at_);
    }
    return false;
  }

  void report(const std::string& code, const char* at, std::string message,
              const char* found_at = nullptr) {
    const char* found = found_at ? found_at : at;
    // A byte that is not UTF-8 has its E003 already (parse_file).
    if (found < end_ && utf8::length(found, end_) == 0) return;
    Found what = describe_found(found, end_);
    message += ", found " + what.text;
    auto offset = static_cast<std::uint32_t>(at - begin_);
    auto stop = offset + 1;
    if (at == found && found < end_ && ident_char(*found)) {  // the caret spans the word
      const char* word_end = found;
      while (word_end < end_ && ident_char(*word_end)) ++word_end;
      stop = static_cast<std::uint32_t>(word_end - begin_);
      if (what.hint.empty()) what.hint = keyword_hint(code, std::string(found, word_end));
    }
    diagnostics_.push_back(
        file_.make(Severity::error, code, offset, stop, message, std::move(what.hint)));
  }

  SourceFile& file_;
  std::vector<Diagnostic>& diagnostics_;
  const char* begin_ = nullptr;
  const char* end_ = nullptr;
  const char* error_at_ = nullptr;
  grammar::ParseState state_;
};

// E003 for each line with a byte that is not UTF-8 (its first such byte): a rule
// set must not be loaded with titles and texts that no reader can show.
void check_encoding(const SourceFile& file, std::vector<Diagnostic>& diagnostics) {
  const std::string& text = file.text();
  const char* begin = text.data();
  const char* end = begin + text.size();
  for (const char* p = begin; p < end;) {
    if (std::size_t length = utf8::length(p, end)) {
      p += length;
      continue;
    }
    auto offset = static_cast<std::uint32_t>(p - begin);
    diagnostics.push_back(file.make(
        Severity::error, "E003", offset, offset + 1,
        "the file is not UTF-8: the byte " + byte_name(*p) + " is not part of a UTF-8 character",
        "save the file as UTF-8 (in Latin-1 `é` is the one byte 0xE9, in UTF-8 it is 0xC3 0xA9)"));
    const char* newline = static_cast<const char*>(std::memchr(p, '\n', end - p));
    p = newline ? newline + 1 : end;  // one per line
  }
}

// E004 for a string that holds a control character as it is (not the escapes `\n`
// and `\t`): titles and because-texts reach terminals, tables and editors, where a
// control character does not show, or (ESC, CSI) rewrites the screen. One per
// string, at its first such character; a tab as it is stays allowed.
void check_string_controls(const SourceFile& file, const ast::Node& node,
                           std::vector<Diagnostic>& diagnostics) {
  if (node.kind == ast::Kind::String) {
    const std::string_view raw = file.view(node.begin, node.end);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      const auto byte = static_cast<unsigned char>(raw[i]);
      const bool c0 = (byte < 0x20 && byte != '\t') || byte == 0x7F;
      const bool c1 = byte == 0xC2 && i + 1 < raw.size() &&
                      static_cast<unsigned char>(raw[i + 1]) >= 0x80 &&
                      static_cast<unsigned char>(raw[i + 1]) <= 0x9F;
      if (!c0 && !c1) continue;
      char name[8];
      std::snprintf(name, sizeof name, "U+%04X",
                    c1 ? static_cast<unsigned>(static_cast<unsigned char>(raw[i + 1])) : byte);
      const auto offset = static_cast<std::uint32_t>(node.begin + i);
      diagnostics.push_back(file.make(
          Severity::error, "E004", offset, offset + (c1 ? 2 : 1),
          std::string("a control character (") + name +
              ") in a string: titles and texts reach terminals and screens, where it does not "
              "show or changes what they show",
          "delete it; a line break in a text is written `\\n`, a tab `\\t`"));
      break;
    }
  }
  for (const ast::Node& kid : node.kids) check_string_controls(file, kid, diagnostics);
}

}  // namespace

const std::vector<std::string>& language_keywords() {
  static const std::vector<std::string> all = [] {
    std::set<std::string> words(std::begin(top_keywords), std::end(top_keywords));
    words.insert(std::begin(member_keywords), std::end(member_keywords));
    words.insert(std::begin(rule_attribute_keywords), std::end(rule_attribute_keywords));
    for (const char* w : {"for", "and", "or", "not", "has", "any", "all", "in", "count", "known",
                          "where", "true", "false", "doi", "url", "by", "rank"})
      words.insert(w);
    return std::vector<std::string>(words.begin(), words.end());
  }();
  return all;
}

void parse_file(SourceFile& file, int max_depth, std::vector<Diagnostic>& diagnostics) {
  const auto first = static_cast<std::ptrdiff_t>(diagnostics.size());
  check_encoding(file, diagnostics);
  try {
    Driver(file, max_depth, diagnostics).run();
    check_string_controls(file, file.root, diagnostics);
  } catch (std::exception const& e) {  // defensive: nothing may escape the parser
    diagnostics.push_back(file.make(Severity::error, "E000", 0, 0,
                                    std::string("internal parser error: ") + e.what()));
  }
  // In the order of the text, E003 among the syntax errors, as `fmt` prints them.
  std::stable_sort(diagnostics.begin() + first, diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::pair(a.location.line, a.location.column) <
                            std::pair(b.location.line, b.location.column);
                   });
}

}  // namespace stimrank::rules
