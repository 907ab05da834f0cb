// Canonical formatting of rule files: parse, then print the AST in one layout,
// keeping every comment (before the statement it precedes, or at the end of the
// line it ended) and single blank lines between statements.
#include "stimrank/format.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "ascii.hpp"
#include "source_file.hpp"

namespace stimrank {

using rules::ast::Kind;
using rules::ast::Node;

namespace {

struct Comment {
  std::uint32_t begin, end;
  bool trailing;  // code precedes it on its line
};

std::vector<Comment> find_comments(const std::string& text) {
  std::vector<Comment> out;
  std::uint32_t line_start = 0;
  bool code_on_line = false;
  for (std::uint32_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') {
      line_start = i + 1;
      code_on_line = false;
      continue;
    }
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"' && text[i] != '\n'; ++i)
        if (text[i] == '\\') ++i;
      code_on_line = true;
      continue;
    }
    if (c == '/' && i + 1 < text.size() && (text[i + 1] == '/' || text[i + 1] == '*')) {
      std::uint32_t begin = i;
      if (text[i + 1] == '/') {
        // A line comment ends at a CR as well as an LF, as the grammar's skipper ends it.
        while (i < text.size() && text[i] != '\n' && text[i] != '\r') ++i;
      } else {
        auto close = text.find("*/", i + 2);
        i = close == std::string::npos ? static_cast<std::uint32_t>(text.size())
                                       : static_cast<std::uint32_t>(close + 2);
      }
      out.push_back({begin, i, code_on_line});
      --i;  // let the loop see the newline
      continue;
    }
    if (!ascii::is_space(c)) code_on_line = true;
    (void)line_start;
  }
  return out;
}

using rules::ast::quote;

std::string number(double value) {
  char buffer[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  std::string out = buffer;
  if (out.find_first_of("eE") != std::string::npos) {  // the grammar has no exponents
    // The shortest digits that read back as the same double, in fixed notation: a
    // double's can be 330 characters long (1e300, 1e-300).
    char fixed[400];
    auto written = std::to_chars(fixed, fixed + sizeof fixed, value, std::chars_format::fixed);
    out.assign(fixed, written.ptr);
  }
  return out;
}

// The text being formatted (set while a Printer runs): a number literal is written
// as the author wrote it, since a double would print 99999999999999999999999 as
// 99999999999999991611392.
thread_local const std::string* g_source_text = nullptr;

std::string number(const Node& n) {
  if (g_source_text && n.begin < n.end && n.end <= g_source_text->size()) {
    std::string written = g_source_text->substr(n.begin, n.end - n.begin);
    while (!written.empty() && ascii::is_space(written.back())) written.pop_back();
    std::size_t start = 0;
    while (start < written.size() && ascii::is_space(written[start])) ++start;
    written.erase(0, start);
    char* end = nullptr;
    if (!written.empty() && std::strtod(written.c_str(), &end) == n.number &&
        end == written.c_str() + written.size())
      return written;
  }
  return number(n.number);
}

int precedence(Kind kind) {
  switch (kind) {
    case Kind::Or: return 1;
    case Kind::And: return 2;
    case Kind::Not: return 3;
    default: return 4;
  }
}

std::string expression(const Node& n);

std::string operand(const Node& parent, const Node& kid, std::size_t index) {
  std::string text = expression(kid);
  // `and` inside `or` keeps its parentheses for the reader, though they are implied.
  bool parens = precedence(kid.kind) < precedence(parent.kind) ||
                (kid.kind == parent.kind && index > 0 && kid.kind != Kind::Not) ||
                (kid.kind == Kind::And && parent.kind == Kind::Or);
  return parens ? "(" + text + ")" : text;
}

std::string name_set(const Node& n) {
  std::string out = "{";
  for (std::size_t i = 0; i < n.kids.size(); ++i)
    out +=
        (i ? ", " : "") + (n.kids[i].kind == Kind::String ? quote(n.kids[i].text) : n.kids[i].text);
  return out + "}";
}

std::string value(const Node& n) {
  switch (n.kind) {
    case Kind::Number: return number(n);
    case Kind::String: return quote(n.text);
    case Kind::NameSet: return name_set(n);
    default: return n.text;
  }
}

std::string path(const Node& n) {
  std::string out;
  for (const Node& part : n.kids) out += (out.empty() ? "" : ".") + part.text;
  return out;
}

std::string expression(const Node& n) {
  switch (n.kind) {
    case Kind::Or:
    case Kind::And: {
      std::string op = n.kind == Kind::Or ? " or " : " and ";
      std::string out;
      for (std::size_t i = 0; i < n.kids.size(); ++i)
        out += (i ? op : "") + operand(n, n.kids[i], i);
      return out;
    }
    case Kind::Not: return "not " + operand(n, n.kids[0], 0);
    case Kind::Bool: return n.text;
    case Kind::Path: return path(n);
    case Kind::Known: return "known(" + path(n.kids[0]) + ")";
    case Kind::Any: return "any(" + path(n.kids[0]) + " where " + expression(n.kids[1]) + ")";
    case Kind::Count: {
      std::string out = "count(" + path(n.kids[0]);
      if (n.kids.size() == 3) out += " where " + expression(n.kids[1]);
      return out + ") " + n.text + " " + number(n.kids.back());
    }
    case Kind::Compare: return path(n.kids[0]) + " " + n.text + " " + value(n.kids[1]);
    case Kind::InRange:
      return path(n.kids[0]) + " in " + number(n.kids[1]) + ".." +
             (n.kids.size() > 2 ? number(n.kids[2]) : std::string());
    case Kind::InSet: return path(n.kids[0]) + " in " + name_set(n.kids[1]);
    case Kind::Has:
      return path(n.kids[0]) + " has " + (n.text.empty() ? "" : n.text + " ") + value(n.kids[1]);
    default: return "?";
  }
}

class Printer {
 public:
  Printer(const std::string& text, const Node& root)
      : text_(text), root_(root), comments_(find_comments(text)) {}

  std::string run() {
    std::uint32_t previous_end = 0;
    bool first = true;
    for (const Node& item : root_.kids) {
      statement_start(item.begin, previous_end, first, 0);
      first = false;
      top_level(item);
      previous_end = item.end;
    }
    comments_before(static_cast<std::uint32_t>(text_.size()) + 1, 0, previous_end, first);
    return out_;
  }

 private:
  // ---- layout helpers
  void line(int indent, const std::string& text) {
    out_.append(static_cast<std::size_t>(indent) * 2, ' ');
    out_ += text;
    out_ += '\n';
  }
  bool blank_between(std::uint32_t from, std::uint32_t to) const {
    int newlines = 0;
    for (std::uint32_t i = from; i < to && i < text_.size(); ++i) {
      if (text_[i] == '\n')
        ++newlines;
      else if (!ascii::is_space(text_[i]))
        newlines = 0;
    }
    return newlines >= 2;
  }
  // Comments before `begin`: trailing ones go to the end of the last line.
  void comments_before(std::uint32_t begin, int indent, std::uint32_t previous_end, bool first) {
    while (next_comment_ < comments_.size() && comments_[next_comment_].begin < begin) {
      const Comment& c = comments_[next_comment_++];
      std::string text = text_.substr(c.begin, c.end - c.begin);
      while (!text.empty() && ascii::is_space(text.back())) text.pop_back();
      if (c.trailing && !out_.empty() && out_.back() == '\n') {
        out_.pop_back();
        out_ += "  " + text + "\n";
      } else {
        if (!first && blank_between(previous_end, c.begin) && !out_.empty() && !ends_with_blank())
          out_ += '\n';
        line(indent, text);
      }
      previous_end = c.end;
      first = false;
    }
    last_end_ = previous_end;
  }
  bool ends_with_blank() const {
    return out_.size() >= 2 && out_[out_.size() - 1] == '\n' && out_[out_.size() - 2] == '\n';
  }
  void statement_start(std::uint32_t begin, std::uint32_t previous_end, bool first, int indent) {
    comments_before(begin, indent, previous_end, first);
    if (!out_.empty() && blank_between(last_end_, begin) && !ends_with_blank() &&
        out_.back() != '{' && !(out_.size() >= 2 && out_[out_.size() - 2] == '{'))
      out_ += '\n';
  }

  // ---- statements
  void top_level(const Node& n) {
    switch (n.kind) {
      case Kind::Ruleset:
        line(0, "ruleset " + quote(n.kids[0].text) + " version " + quote(n.kids[1].text) + ";");
        break;
      case Kind::Include: line(0, "include " + quote(n.kids[0].text) + ";"); break;
      case Kind::Source: source(n); break;
      case Kind::Scheme:
        block(n, 0, "scheme " + n.kids[0].text + " " + quote(n.kids[1].text), 2);
        break;
      case Kind::Facts: block(n, 0, "facts", 0); break;
      case Kind::Concept:
        block(n, 0, n.text + " " + n.kids[0].text + " " + quote(n.kids[1].text), 2);
        break;
      case Kind::Let: line(0, "let " + n.kids[0].text + " = " + expression(n.kids[1]) + ";"); break;
      case Kind::Policy: block(n, 0, "policy", 0); break;
      case Kind::Option:
        block(n, 0, "option " + n.kids[0].text + " " + quote(n.kids[1].text), 2);
        break;
      case Kind::Rule: rule(n, 0); break;
      default: break;
    }
  }

  static std::string attributes(const Node& n, std::size_t from) {
    std::string out;
    for (std::size_t i = from; i < n.kids.size(); ++i) {
      out += ' ';
      out += attribute(n.kids[i]);
    }
    return out;
  }
  static std::string attribute(const Node& a) {
    std::string out = a.text;
    if (a.text == "tag") {
      for (std::size_t i = 0; i < a.kids.size(); ++i)
        out += (i ? ", " : " ") + quote(a.kids[i].text);
      return out;
    }
    if (a.kids.empty()) return out;
    const Node& v = a.kids[0];
    if (v.kind == Kind::Grade) {
      out += " " + v.text + "(";
      for (std::size_t i = 0; i < v.kids.size(); ++i)
        out += (i ? ", " : "") + v.kids[i].text + " " + v.kids[i].kids[0].text;
      return out + ")";
    }
    return out + " " + value(v);
  }

  void source(const Node& n) {
    std::string head = "source " + n.kids[0].text + " " + quote(n.kids[1].text);
    std::string rest = attributes(n, 2);
    if (head.size() + rest.size() + 1 <= 100) {
      line(0, head + rest + ";");
    } else {
      line(0, head);
      line(1, rest.empty() ? ";" : rest.substr(1) + ";");
    }
  }

  // A braced block: header, members (each a statement with its comments), `}`.
  void block(const Node& n, int indent, const std::string& header, std::size_t first_member) {
    if (n.kids.size() <= first_member) {
      line(indent, header + " {}");
      return;
    }
    line(indent, header + " {");
    std::uint32_t previous_end = n.begin;
    bool first = true;
    for (std::size_t i = first_member; i < n.kids.size(); ++i) {
      const Node& m = n.kids[i];
      statement_start(m.begin, previous_end, first, indent + 1);
      first = false;
      member(m, indent + 1);
      previous_end = m.end;
    }
    std::uint32_t close = n.end > 0 ? n.end - 1 : n.end;
    comments_before(close, indent + 1, previous_end, false);
    line(indent, "}");
  }

  void member(const Node& m, int indent) {
    switch (m.kind) {
      case Kind::Dimension: {
        std::string out = m.text + " { ";
        for (std::size_t i = 0; i < m.kids.size(); ++i)
          out += (i ? ", " : "") + m.kids[i].text + " " + number(m.kids[i].number);
        line(indent, out + " }");
        break;
      }
      case Kind::Field: field(m, indent); break;
      case Kind::CodeList: {
        if (m.text == "assessed") {
          line(indent, m.kids.empty() ? "assessed;" : "assessed when " + m.kids[0].text + ";");
          break;
        }
        std::string out = m.text;
        for (std::size_t i = 0; i < m.kids.size(); ++i) out += (i ? ", " : " ") + value(m.kids[i]);
        line(indent, out + ";");
        break;
      }
      case Kind::PolicyItem: {
        std::string out = m.text;
        if (m.text == "rank") {
          out += " by";
          for (std::size_t i = 0; i < m.kids.size(); ++i)
            out += (i ? ", " : " ") + m.kids[i].text +
                   (m.kids[i].kids.empty() ? "" : " " + m.kids[i].kids[0].text);
        } else {
          out += " " + value(m.kids[0]);
        }
        line(indent, out + ";");
        break;
      }
      case Kind::OptionProperty:
        if (m.text == "detail")
          line(indent, "detail " + m.kids[0].text + " " + quote(m.kids[1].text) + ";");
        else
          line(indent, m.text + " " + value(m.kids[0]) + ";");
        break;
      case Kind::Complication:
        line(indent, "complication " + quote(m.kids[0].text) + attributes(m, 1) + ";");
        break;
      case Kind::Rule: rule(m, indent); break;
      default: break;
    }
  }

  void field(const Node& f, int indent) {
    if (f.kids.empty() || f.kids[0].kind == Kind::Field) {
      block(f, indent, f.text, 0);
      return;
    }
    const Node& type = f.kids[0];
    bool required = f.kids.size() > 1;
    std::string t = type.text;
    std::string suffix = (required ? " required" : "") + std::string(";");
    if (t == "int" || t == "number") {
      if (!type.kids.empty())
        t += " " + number(type.kids[0]) + ".." + (type.kids.size() > 1 ? number(type.kids[1]) : "");
    } else if (t == "enum" || t == "coding") {
      t += " " + name_set(type.kids[0]);
    } else if (t == "set") {
      t = "set of enum " + name_set(type.kids[0]);
    } else if (t == "codes" || t == "list") {
      std::string header = f.text + ": " + t + (t == "codes" ? " " + name_set(type.kids[0]) : "");
      std::size_t first = t == "codes" ? 1 : 0;
      if (type.kids.size() <= first) {
        line(indent, header + (t == "list" ? " {}" : "") + suffix);
        return;
      }
      Node body = type;  // print the entry fields as a block closed with `};`
      line(indent, header + (t == "codes" ? " with {" : " {"));
      std::uint32_t previous_end = type.begin;
      bool first_member = true;
      for (std::size_t i = first; i < body.kids.size(); ++i) {
        statement_start(body.kids[i].begin, previous_end, first_member, indent + 1);
        first_member = false;
        field(body.kids[i], indent + 1);
        previous_end = body.kids[i].end;
      }
      comments_before(type.end > 0 ? type.end - 1 : type.end, indent + 1, previous_end, false);
      line(indent, "}" + suffix);
      return;
    }
    line(indent, f.text + ": " + t + suffix);
  }

  void rule(const Node& r, int indent) {
    std::size_t next = 1;
    std::string head = r.text + " " + r.kids[0].text;
    if (r.kids.size() > 1 && r.kids[1].kind == Kind::NameSet) {
      head += " for " + name_set(r.kids[1]);
      next = 2;
    }
    line(indent, head);
    line(indent + 1, "when " + expression(r.kids[next]));
    // Evidence on one line, then each label, then each because: a duplicate is
    // kept (the checker reports it), never dropped by formatting.
    std::string evidence;
    std::vector<std::string> labels, becauses;
    for (std::size_t i = next + 1; i < r.kids.size(); ++i) {
      const Node& a = r.kids[i];
      if (a.text == "label")
        labels.push_back(attribute(a));
      else if (a.text == "because")
        becauses.push_back(attribute(a));
      else {
        if (!evidence.empty()) evidence += ' ';
        evidence += attribute(a);
      }
    }
    std::vector<std::string> tail;
    if (!evidence.empty()) tail.push_back(evidence);
    tail.insert(tail.end(), labels.begin(), labels.end());
    tail.insert(tail.end(), becauses.begin(), becauses.end());
    if (tail.empty()) {
      out_.pop_back();
      out_ += ";\n";
      return;
    }
    for (std::size_t i = 0; i < tail.size(); ++i)
      line(indent + 1, tail[i] + (i + 1 == tail.size() ? ";" : ""));
  }

  const std::string& text_;
  const Node& root_;
  std::vector<Comment> comments_;
  std::size_t next_comment_ = 0;
  std::uint32_t last_end_ = 0;
  std::string out_;
};

}  // namespace

FormatResult format_rules(const std::string& name, const std::string& text) noexcept {
  FormatResult result;
  try {
    rules::SourceFile file(name, text);
    rules::parse_file(file, Limits{}.max_expression_depth, result.diagnostics);
    if (has_errors(result.diagnostics)) return result;
    struct SourceTextScope {
      explicit SourceTextScope(const std::string& text) { g_source_text = &text; }
      ~SourceTextScope() { g_source_text = nullptr; }
    } scope(file.text());
    result.text = Printer(file.text(), file.root).run();
    result.ok = true;
  } catch (std::exception const& e) {
    Diagnostic d;
    d.code = "E000";
    d.message = std::string("internal error in fmt: ") + e.what();
    result.diagnostics.push_back(d);
  }
  return result;
}

}  // namespace stimrank
