// Tokens and helpers shared by the grammar translation units (and only by them).
#pragma once

#include <charconv>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "grammar.hpp"

namespace stimrank::rules::grammar::tokens {

using ast::Kind;
using ast::Node;

// A parser whose failure under `>` reads well: "E012|`;` after indication".
template <typename Attribute = x3::unused_type, typename Parser>
auto named(char const* name, Parser const& parser) {
  return x3::rule<struct named_class, Attribute>{name} = x3::as_parser(parser);
}

inline auto kw(char const* word) {
  return x3::lexeme[x3::lit(word) >> !(x3::alnum | '_')];
}
// Keyword that also yields its text.
inline auto kwstr(char const* word) {
  return x3::lexeme[x3::string(word) >> !(x3::alnum | '_')];
}

// Semantic actions.
inline auto set_kind(Kind kind) {
  return [kind](auto& ctx) { x3::_val(ctx).kind = kind; };
}
inline auto const push = [](auto& ctx) { x3::_val(ctx).kids.push_back(std::move(x3::_attr(ctx))); };
inline auto const assign = [](auto& ctx) { x3::_val(ctx) = std::move(x3::_attr(ctx)); };
inline auto const set_text = [](auto& ctx) { x3::_val(ctx).text = std::move(x3::_attr(ctx)); };
inline auto const set_number = [](auto& ctx) { x3::_val(ctx).number = x3::_attr(ctx); };

// Digits on both sides of a dot, so that `18..65` reads as a range.
inline auto const real_number = x3::rule<struct real_number_class, double>{"a number"} =
    x3::raw[x3::lexeme[-x3::lit('-') >> +x3::digit >> -(x3::lit('.') >> +x3::digit)]]
           [([](auto& ctx) {
             auto const& range = x3::_attr(ctx);
             double value = 0;
             std::from_chars(&*range.begin(), &*range.begin() + range.size(), value);
             x3::_val(ctx) = value;
           })];

// Records the byte span of the Node a rule builds. Rules whose right-hand side has
// semantic actions get no attribute in on_success, so the span is taken here,
// from the rule's own value (the parse's rcontext).
template <typename Subject>
struct located_parser : x3::unary_parser<Subject, located_parser<Subject>> {
  using base_type = x3::unary_parser<Subject, located_parser<Subject>>;
  static bool const is_pass_through_unary = true;
  explicit located_parser(Subject const& subject) : base_type(subject) {}

  template <typename Iterator, typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext& rctx,
             Attribute& attr) const {
    x3::skip_over(first, last, ctx);
    Iterator start = first;
    if (!this->subject.parse(first, last, ctx, rctx, attr)) return false;
    if constexpr (std::is_same_v<RContext, Node>) {
      auto& state = x3::get<state_tag>(ctx);
      rctx.begin = static_cast<std::uint32_t>(start - state.begin);
      rctx.end = static_cast<std::uint32_t>(first - state.begin);
    }
    return true;
  }
};
struct located_gen {
  template <typename Subject>
  located_parser<typename x3::extension::as_parser<Subject>::value_type> operator[](
      Subject const& subject) const {
    return located_parser<typename x3::extension::as_parser<Subject>::value_type>(
        x3::as_parser(subject));
  }
};
inline located_gen const located{};

inline auto const identifier_text =
    x3::rule<struct identifier_text_class, std::string>{"an identifier"} =
        x3::lexeme[(x3::alpha | x3::char_('_')) >> *(x3::alnum | x3::char_('_'))];

inline auto const escaped_char = x3::rule<struct escaped_char_class, char>{"an escape"} =
    x3::lit('\\') >> (x3::char_('"') | x3::char_('\\') | (x3::lit('n') >> x3::attr('\n')) |
                      (x3::lit('t') >> x3::attr('\t')));
inline auto const string_body = x3::rule<struct string_body_class, std::string>{"a string"} =
    *(escaped_char | (x3::char_ - x3::char_("\"\n")));

// Several keywords, yielding the one that matched.
template <typename Parser>
auto words(Parser const& parser) {
  return x3::rule<struct words_class, std::string>{"a keyword"} = parser;
}

struct name_class {};
struct string_class {};
struct number_class {};
struct name_set_class {};

inline x3::rule<name_class, Node> const name = "an identifier";
inline x3::rule<string_class, Node> const string_lit = "a string in double quotes";
inline x3::rule<number_class, Node> const number = "a number";
inline x3::rule<name_set_class, Node> const name_set = "a set like `{a, b}`";

inline auto const name_def = located[located[identifier_text[(
    [](auto& ctx) { x3::_val(ctx) = Node(Kind::Name, std::move(x3::_attr(ctx))); })]]];
inline auto const string_lit_def =
    located[located[x3::lexeme['"' > string_body > named("E015|closing `\"` of the string", '"')][(
        [](auto& ctx) { x3::_val(ctx) = Node(Kind::String, std::move(x3::_attr(ctx))); })]]];
inline auto const number_def = located[located[real_number[([](auto& ctx) {
  x3::_val(ctx) = Node(Kind::Number);
  x3::_val(ctx).number = x3::_attr(ctx);
})]]];
// Set members are names, or strings for values that are not identifiers ("M54.16").
inline auto const set_item = x3::rule<struct set_item_class, Node>{"a name or a string"} =
    name | string_lit;
inline auto const name_set_def =
    located[x3::eps[set_kind(Kind::NameSet)] >> '{' > set_item[push] > *(',' > set_item[push]) >
            named("E017|`}` closing the set", '}')];

BOOST_SPIRIT_DEFINE(name, string_lit, number, name_set)

// Words that end an expression or start a rule attribute; never field or value names.
inline auto const reserved =
    x3::lexeme[(x3::lit("and") | "or" | "not" | "when" | "where" | "has" | "in" | "any" | "all" |
                "count" | "known" | "true" | "false" | "grade" | "weight" | "penalty" | "source" |
                "tag" | "unverified" | "because" | "label" | "for") >>
               !(x3::alnum | '_')];

inline auto semi(char const* code_and_what) {
  return named(code_and_what, x3::lit(';'));
}

}  // namespace stimrank::rules::grammar::tokens
