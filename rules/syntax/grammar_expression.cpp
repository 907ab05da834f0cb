// Expressions: or / and / not, comparisons, ranges, membership, counts, known().
#include "grammar_tokens.hpp"

namespace stimrank::rules::grammar {

struct expression_class {};
expression_type const expression_rule = "an expression";

namespace {
using namespace tokens;

// Bounds recursion so that hostile input cannot exhaust the stack.
template <typename Subject>
struct depth_guard_parser : x3::unary_parser<Subject, depth_guard_parser<Subject>> {
  using base_type = x3::unary_parser<Subject, depth_guard_parser<Subject>>;
  static bool const is_pass_through_unary = true;
  explicit depth_guard_parser(Subject const& subject) : base_type(subject) {}

  template <typename Iterator, typename Context, typename RContext, typename Attribute>
  bool parse(Iterator& first, Iterator const& last, Context const& ctx, RContext& rctx,
             Attribute& attr) const {
    auto& state = x3::get<state_tag>(ctx);
    if (++state.depth > state.max_depth) {
      --state.depth;
      throw x3::expectation_failure<Iterator>(first, "E020|an expression nested less deeply");
    }
    bool ok = this->subject.parse(first, last, ctx, rctx, attr);
    --state.depth;
    return ok;
  }
};
struct depth_guard_gen {
  template <typename Subject>
  depth_guard_parser<typename x3::extension::as_parser<Subject>::value_type> operator[](
      Subject const& subject) const {
    return depth_guard_parser<typename x3::extension::as_parser<Subject>::value_type>(
        x3::as_parser(subject));
  }
};
depth_guard_gen const depth_guard{};

// Folds `lhs op rhs` into one node whose span covers both.
auto fold(Kind kind) {
  return [kind](auto& ctx) {
    Node& lhs = x3::_val(ctx);
    Node rhs = std::move(x3::_attr(ctx));
    if (lhs.kind == kind) {
      lhs.end = rhs.end;
      lhs.kids.push_back(std::move(rhs));
      return;
    }
    Node joined(kind);
    joined.begin = lhs.begin;
    joined.end = rhs.end;
    joined.kids.reserve(4);
    joined.kids.push_back(std::move(lhs));
    joined.kids.push_back(std::move(rhs));
    lhs = std::move(joined);
  };
}

struct or_class {};
struct and_class {};
struct not_class {};
struct primary_class {};
struct path_class {};
struct value_class {};
struct test_class {};
struct bool_class {};
struct range_class {};

x3::rule<or_class, Node> const or_expr = "an expression";
x3::rule<and_class, Node> const and_expr = "an expression";
x3::rule<not_class, Node> const not_expr = "an expression";
x3::rule<primary_class, Node> const primary = "an expression";
x3::rule<path_class, Node> const path = "a field name";
x3::rule<value_class, Node> const value = "a value (number, name, string, true or false)";
x3::rule<test_class, Node> const test = "a comparison";
x3::rule<bool_class, Node> const bool_lit = "`true` or `false`";
x3::rule<range_class, Node> const range = "a range like `18..65`";
auto const cmp_op = x3::rule<struct cmp_op_class, std::string>{"a comparison operator"} =
    x3::string("==") | x3::string("!=") | x3::string("<=") | x3::string(">=") | x3::string("<") |
    x3::string(">");

auto const kw_and = kw("and");
auto const kw_or = kw("or");
auto const kw_not = kw("not");

auto const or_expr_def = located[and_expr[assign] >> *(kw_or > and_expr[fold(Kind::Or)])];
auto const and_expr_def = located[not_expr[assign] >> *(kw_and > not_expr[fold(Kind::And)])];
auto const not_expr_def =
    located[(kw_not >> x3::eps[set_kind(Kind::Not)] > depth_guard[not_expr][push]) |
            primary[assign]];

auto const bool_lit_def = located[words(kwstr("true") | kwstr("false"))[(
    [](auto& ctx) { x3::_val(ctx) = Node(Kind::Bool, std::move(x3::_attr(ctx))); })]];

auto const path_def =
    located[x3::eps[set_kind(Kind::Path)] >> !reserved >> name[push] >> *('.' > name[push])];

auto const value_def =
    located[number[assign] | string_lit[assign] | bool_lit[assign] | (!reserved >> name[assign])];

auto const range_def =
    located[x3::eps[set_kind(Kind::InRange)] >> number[push] >> x3::lit("..") > -number[push]];

// After a path: `== x`, `in 1..5`, `in {a, b}`, `has x`, `has any {a, b}`, `has all {…}`.
auto const test_def =
    located[(cmp_op[([](auto& ctx) {
               x3::_val(ctx) = Node(Kind::Compare, std::move(x3::_attr(ctx)));
             })] > value[push]) |
            (kw("in") > (range[assign] | (x3::eps[set_kind(Kind::InSet)] >> name_set[push]))) |
            (kw("has") >> x3::eps[set_kind(Kind::Has)] >
             -words(kwstr("any") | kwstr("all"))[set_text] > (name_set[push] | name[push]))];

auto attach_subject = [](auto& ctx) {
  // `path test` becomes the test node with the path as first child.
  Node subject = std::move(x3::_val(ctx));
  Node tested = std::move(x3::_attr(ctx));
  tested.begin = subject.begin;
  tested.kids.insert(tested.kids.begin(), std::move(subject));
  x3::_val(ctx) = std::move(tested);
};

auto const primary_def =
    located[('(' > depth_guard[expression_rule][assign] >
             named("E021|`)` closing the expression", ')')) |
            bool_lit[assign] |
            (kw("known") >> x3::eps[set_kind(Kind::Known)] > named("E022|`(` after known", '(') >
             path[push] > named("E021|`)` after the field", ')')) |
            (kw("any") >> x3::eps[set_kind(Kind::Any)] > named("E022|`(` after any", '(') >
             path[push] > named("E023|`where` and a condition", kw("where")) >
             depth_guard[expression_rule][push] > named("E021|`)` closing any(…)", ')')) |
            (kw("count") >> x3::eps[set_kind(Kind::Count)] > named("E022|`(` after count", '(') >
             path[push] > -(kw("where") > depth_guard[expression_rule][push]) >
             named("E021|`)` closing count(…)", ')') > cmp_op[set_text] > number[push]) |
            (path[assign] >> -(test[attach_subject]))];

BOOST_SPIRIT_DEFINE(or_expr, and_expr, not_expr, primary, path, value, test, bool_lit, range)

}  // namespace

auto const expression_rule_def = tokens::located[or_expr[tokens::assign]];
BOOST_SPIRIT_DEFINE(expression_rule)

expression_type const& expression() {
  return expression_rule;
}

BOOST_SPIRIT_INSTANTIATE(expression_type, iterator_type, context_type)

}  // namespace stimrank::rules::grammar
