// Iterator, skipper and context types shared by every grammar translation unit.
// The context built at the call site must be exactly context_type, or the
// separately instantiated rules will not link.
#pragma once

#include <boost/spirit/home/x3.hpp>

namespace stimrank::rules::grammar {
namespace x3 = boost::spirit::x3;

using iterator_type = const char*;

// Per-parse state reachable from every rule: the start of the buffer (to turn
// iterators into byte offsets) and the expression nesting guard.
struct ParseState {
  const char* begin = nullptr;
  int depth = 0;
  int max_depth = 64;
};
struct state_tag;

// The text being parsed, as the skipper needs it: where its last `*/` starts. A `/*`
// after that is unterminated, known without scanning to the end of the text at every
// `/*` the parser meets after resynchronising (which would be quadratic). Set by the
// parser for the text it parses.
struct CommentIndex {
  const char* end = nullptr;         // the text's end; another text is scanned as before
  const char* last_close = nullptr;  // the last `*/`, or nullptr if there is none
};
inline thread_local CommentIndex comment_index;

// Whitespace, `// line` comments and `/* block */` comments, skipped in one call
// (as `space | lexeme["//" >> *(char_ - eol)] | lexeme["/*" >> *(char_ - "*/") >> "*/"]`
// would, a character at a time). An unterminated block comment is not skipped,
// so the parser reports it where it starts.
struct skipper_parser : x3::parser<skipper_parser> {
  using attribute_type = x3::unused_type;
  static bool const has_attribute = false;

  template <typename Context, typename RContext, typename Attribute>
  bool parse(const char*& first, const char* last, Context const&, RContext&, Attribute&) const {
    const char* start = first;
    while (first != last) {
      char c = *first;
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        ++first;
        continue;
      }
      if (c != '/' || last - first < 2) break;
      if (first[1] == '/') {
        first += 2;
        while (first != last && *first != '\n' && *first != '\r') ++first;
        continue;
      }
      if (first[1] != '*') break;
      if (comment_index.end == last &&
          (comment_index.last_close == nullptr || comment_index.last_close < first + 2))
        break;  // unterminated
      const char* close = first + 2;
      while (close + 1 < last && !(close[0] == '*' && close[1] == '/')) ++close;
      if (close + 1 >= last) break;  // unterminated
      first = close + 2;
    }
    return first != start;
  }
};
inline constexpr skipper_parser skipper{};
using skipper_type = std::remove_cv_t<decltype(skipper)>;
using phrase_context_type = x3::phrase_parse_context<skipper_type>::type;
using context_type = decltype(x3::make_context<state_tag>(
    std::declval<ParseState&>(), std::declval<phrase_context_type const&>()));

}  // namespace stimrank::rules::grammar
