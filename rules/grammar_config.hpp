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

// Whitespace, `// line` comments and `/* block */` comments.
inline auto const skipper = x3::space | x3::lexeme["//" >> *(x3::char_ - x3::eol)] |
                            x3::lexeme["/*" >> *(x3::char_ - "*/") >> "*/"];
using skipper_type = std::remove_cv_t<decltype(skipper)>;
using phrase_context_type = x3::phrase_parse_context<skipper_type>::type;
using context_type = decltype(x3::make_context<state_tag>(
    std::declval<ParseState&>(), std::declval<phrase_context_type const&>()));

}  // namespace stimrank::rules::grammar
