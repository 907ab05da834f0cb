// Declarations: ruleset header, include, source, scheme, facts, concept/valueset,
// let, policy, options and rules. Expressions come from grammar_expression.cpp.
#include "grammar_tokens.hpp"

namespace stimrank::rules::grammar {

struct item_class {};
struct option_head_class {};
struct option_member_class {};
item_type const item_rule = "a declaration";
option_head_type const option_head_rule = "an option";
option_member_type const option_member_rule = "an option property or a rule";

namespace {
using namespace tokens;

struct ruleset_class {};
struct include_class {};
struct source_class {};
struct source_attr_class {};
struct scheme_class {};
struct dimension_class {};
struct label_class {};
struct facts_class {};
struct field_class {};
struct type_class {};
struct concept_class {};
struct code_list_class {};
struct let_class {};
struct policy_class {};
struct policy_item_class {};
struct rank_key_class {};
struct rule_class {};
struct rule_attr_class {};
struct grade_class {};
struct grade_value_class {};
struct property_class {};
struct complication_class {};

x3::rule<ruleset_class, Node> const ruleset_decl = "a ruleset header";
x3::rule<include_class, Node> const include_decl = "an include";
x3::rule<source_class, Node> const source_decl = "a source";
x3::rule<source_attr_class, Node> const source_attr = "`doi`, `url` or `tag`";
x3::rule<scheme_class, Node> const scheme_decl = "a grading scheme";
x3::rule<dimension_class, Node> const dimension = "a grade dimension";
x3::rule<label_class, Node> const label = "a grade value and its weight";
x3::rule<facts_class, Node> const facts_decl = "a facts block";
x3::rule<field_class, Node> const field_decl = "a field declaration";
x3::rule<type_class, Node> const type = "a type";
x3::rule<concept_class, Node> const concept_decl = "a concept or value set";
x3::rule<code_list_class, Node> const code_list = "a code system and its codes";
x3::rule<let_class, Node> const let_decl = "a let definition";
x3::rule<policy_class, Node> const policy_decl = "a policy block";
x3::rule<policy_item_class, Node> const policy_item = "a policy setting";
x3::rule<rank_key_class, Node> const rank_key = "a ranking key";
x3::rule<rule_class, Node> const rule_decl = "a rule";
x3::rule<rule_attr_class, Node> const rule_attr = "a rule attribute";
x3::rule<grade_class, Node> const grade = "a grade like `GRADE(strength weak)`";
x3::rule<grade_value_class, Node> const grade_value = "a grade dimension and value";
x3::rule<property_class, Node> const option_property = "an option property";
x3::rule<complication_class, Node> const complication = "a complication";

auto lbrace(char const* what) {
  return named(what, x3::lit('{'));
}
auto rbrace(char const* what) {
  return named(what, x3::lit('}'));
}

auto const ruleset_decl_def =
    located[kw("ruleset") >> x3::eps[set_kind(Kind::Ruleset)] > string_lit[push] >
            named("E030|`version` after the rule-set name", kw("version")) > string_lit[push] >
            semi("E012|`;` after the ruleset header")];

auto const include_decl_def = located[kw("include") >> x3::eps[set_kind(Kind::Include)] >
                                      string_lit[push] > semi("E012|`;` after include")];

auto const source_attr_def =
    located[x3::eps[set_kind(Kind::RuleAttr)] >>
            ((words(kwstr("doi") | kwstr("url") | kwstr("rate"))[set_text] > string_lit[push]) |
             (kwstr("source")[set_text] > name[push]) |
             (kwstr("tag")[set_text] > string_lit[push] > *(',' > string_lit[push])))];

auto const source_decl_def =
    located[kw("source") >> x3::eps[set_kind(Kind::Source)] > name[push] > string_lit[push] >
            *source_attr[push] > semi("E012|`;` after source")];

auto const label_def = located[x3::eps[set_kind(Kind::Label)] >>
                               name[([](auto& ctx) { x3::_val(ctx).text = x3::_attr(ctx).text; })] >
                               real_number[set_number]];
auto const dimension_def =
    located[x3::eps[set_kind(Kind::Dimension)] >>
            name[([](auto& ctx) { x3::_val(ctx).text = x3::_attr(ctx).text; })] >
            lbrace("E032|`{` and the dimension's values") > label[push] > *(',' > label[push]) >
            rbrace("E017|`}` closing the dimension")];
auto const scheme_decl_def = located[kw("scheme") >> x3::eps[set_kind(Kind::Scheme)] > name[push] >
                                     string_lit[push] > lbrace("E032|`{` opening the scheme") >
                                     *dimension[push] > rbrace("E017|`}` closing the scheme")];

auto const type_def =
    located[words(kwstr("bool") | kwstr("string") | kwstr("ident"))[(
                [](auto& ctx) { x3::_val(ctx) = Node(Kind::Type, std::move(x3::_attr(ctx))); })] |
            (words(kwstr("int") | kwstr("number"))[(
                 [](auto& ctx) { x3::_val(ctx) = Node(Kind::Type, std::move(x3::_attr(ctx))); })] >>
             -(number[push] > x3::lit("..") > -number[push])) |
            (kwstr("enum")[([](auto& ctx) { x3::_val(ctx) = Node(Kind::Type, "enum"); })] >
             name_set[push]) |
            (kw("set") >> x3::eps[([](auto& ctx) { x3::_val(ctx) = Node(Kind::Type, "set"); })] >
             named("E033|`of enum` after set", kw("of") > kw("enum")) > name_set[push]) |
            (kwstr("coding")[([](auto& ctx) { x3::_val(ctx) = Node(Kind::Type, "coding"); })] >
             name_set[push]) |
            (kwstr("codes")[([](auto& ctx) { x3::_val(ctx) = Node(Kind::Type, "codes"); })] >
             name_set[push] > -(kw("with") > lbrace("E032|`{` opening the entry fields") >
                                *field_decl[push] > rbrace("E017|`}` closing the entry fields"))) |
            (kwstr("list")[([](auto& ctx) { x3::_val(ctx) = Node(Kind::Type, "list"); })] >
             lbrace("E032|`{` opening the list's entry fields") > *field_decl[push] >
             rbrace("E017|`}` closing the list's entry fields"))];

// `name: type [required];` or a nested object `name { … }`.
auto const field_decl_def =
    located[x3::eps[set_kind(Kind::Field)] >>
            name[([](auto& ctx) { x3::_val(ctx).text = x3::_attr(ctx).text; })] >>
            (('{' > *field_decl[push] > rbrace("E017|`}` closing the object")) |
             (x3::eps > named("E034|`:` and a type, or `{` and nested fields", x3::lit(':')) >
              type[push] > -kwstr("required")[([](auto& ctx) {
                x3::_val(ctx).kids.emplace_back(Kind::Name, "required");
              })] > semi("E012|`;` after the field")))];

auto const facts_decl_def =
    located[kw("facts") >> x3::eps[set_kind(Kind::Facts)] > lbrace("E032|`{` opening the facts") >
            *field_decl[push] > rbrace("E017|`}` closing the facts")];

auto const code_item = x3::rule<struct code_item_class, Node>{"a code"} = string_lit | name;
// `assessed;` or `assessed when concept;`: a finding known only when looked for.
auto const code_list_def =
    located[x3::eps[set_kind(Kind::CodeList)] >>
            ((words(kwstr("icd10cm") | kwstr("icd10") | kwstr("snomed") | kwstr("atc") |
                    kwstr("rxnorm") | kwstr("local") | kwstr("includes"))[set_text] >
              code_item[push] > *(',' > code_item[push])) |
             (kwstr("assessed")[set_text] >> -(kw("when") > name[push]))) >
            semi("E012|`;` after the codes")];

auto const concept_decl_def =
    located[words(kwstr("concept") | kwstr("valueset"))[([](auto& ctx) {
              x3::_val(ctx) = Node(Kind::Concept, std::move(x3::_attr(ctx)));
            })] > name[push] > string_lit[push] > lbrace("E032|`{` opening the codes") >
            *code_list[push] > rbrace("E017|`}` closing the codes (systems: icd10cm, icd10, "
                                      "snomed, atc, rxnorm, local, includes; or assessed)")];

auto const let_decl_def = located[kw("let") >> x3::eps[set_kind(Kind::Let)] > name[push] >
                                  named("E035|`=` after the name", x3::lit('=')) >
                                  expression()[push] > semi("E012|`;` after let")];

auto const rank_key_def =
    located[x3::eps[set_kind(Kind::RankKey)] >>
            name[([](auto& ctx) { x3::_val(ctx).text = x3::_attr(ctx).text; })] >>
            -words(kwstr("asc") | kwstr("desc"))[([](auto& ctx) {
              x3::_val(ctx).kids.emplace_back(Kind::Name, std::move(x3::_attr(ctx)));
            })]];
auto const policy_item_def = located
    [x3::eps[set_kind(Kind::PolicyItem)] >>
     ((words(kwstr("combine") | kwstr("unverified_evidence"))[set_text] > name[push]) |
      (words(kwstr("recommend_min_weight") | kwstr("unverified_weight"))[set_text] > number[push]) |
      (kwstr("rank")[set_text] > named("E036|`by` after rank", kw("by")) > rank_key[push] >
       *(',' > rank_key[push])) |
      (kwstr("source")[set_text] > name[push]) | (kwstr("because")[set_text] > string_lit[push])) >
     semi("E012|`;` after the policy setting")];
auto const policy_decl_def = located[kw("policy") >> x3::eps[set_kind(Kind::Policy)] >
                                     lbrace("E032|`{` opening the policy") > *policy_item[push] >
                                     rbrace("E017|`}` closing the policy")];

auto const grade_value_def =
    located[x3::eps[set_kind(Kind::GradeValue)] >>
            name[([](auto& ctx) { x3::_val(ctx).text = x3::_attr(ctx).text; })] >
            named<Node>("E037|a value for the grade dimension", name)[push]];
auto const grade_def =
    located[x3::eps[set_kind(Kind::Grade)] >>
            name[([](auto& ctx) { x3::_val(ctx).text = x3::_attr(ctx).text; })] >
            named("E022|`(` after the scheme", x3::lit('(')) > grade_value[push] >
            *(',' > grade_value[push]) > named("E021|`)` closing the grade", x3::lit(')'))];

auto const rule_attr_def =
    located[x3::eps[set_kind(Kind::RuleAttr)] >>
            ((kwstr("grade")[set_text] > grade[push]) |
             (words(kwstr("weight") | kwstr("penalty"))[set_text] > number[push]) |
             (kwstr("source")[set_text] > name[push]) |
             (kwstr("tag")[set_text] > string_lit[push] > *(',' > string_lit[push])) |
             kwstr("unverified")[set_text] | kwstr("specific")[set_text] |
             (words(kwstr("because") | kwstr("label"))[set_text] > string_lit[push]))];

auto const rule_kind = x3::rule<struct rule_kind_class, std::string>{"a rule kind"} =
    kwstr("indication") | kwstr("absolute_contraindication") | kwstr("relative_contraindication") |
    kwstr("caution") | kwstr("prerequisite") | kwstr("research_only") | kwstr("not_indicated");

auto const rule_decl_def = located
    [rule_kind[([](auto& ctx) { x3::_val(ctx) = Node(Kind::Rule, std::move(x3::_attr(ctx))); })] >
     named<Node>("E038|a rule id after the rule kind", name)[push] > -(kw("for") > name_set[push]) >
     named("E013|`when` and the rule's condition", kw("when")) > expression()[push] >
     *rule_attr[push] >
     semi("E012|`;` after the rule (or a rule attribute: grade, weight, penalty, source, tag, "
          "unverified, because, label)")];

auto const complication_def =
    located[kw("complication") >> x3::eps[set_kind(Kind::Complication)] > string_lit[push] >
            *source_attr[push] >
            semi("E012|`;` after the complication (or `rate`, `source`, `tag`)")];

auto const option_property_def =
    located[((words(kwstr("family") | kwstr("invasiveness"))[([](auto& ctx) {
                x3::_val(ctx) = Node(Kind::OptionProperty, std::move(x3::_attr(ctx)));
              })] > name[push]) |
             (words(kwstr("protocol") | kwstr("note"))[([](auto& ctx) {
                x3::_val(ctx) = Node(Kind::OptionProperty, std::move(x3::_attr(ctx)));
              })] > string_lit[push]) |
             (kwstr("detail")[([](auto& ctx) {
                x3::_val(ctx) = Node(Kind::OptionProperty, std::move(x3::_attr(ctx)));
              })] > name[push] > string_lit[push])) > semi("E012|`;` after the option property")];

BOOST_SPIRIT_DEFINE(ruleset_decl, include_decl, source_decl, source_attr, scheme_decl, dimension,
                    label, facts_decl, field_decl, type, concept_decl, code_list, let_decl,
                    policy_decl, policy_item, rank_key, rule_decl, rule_attr, grade, grade_value,
                    option_property, complication)
}  // namespace

auto const item_rule_def =
    tokens::located[ruleset_decl[tokens::assign] | include_decl[tokens::assign] |
                    source_decl[tokens::assign] | scheme_decl[tokens::assign] |
                    facts_decl[tokens::assign] | concept_decl[tokens::assign] |
                    let_decl[tokens::assign] | policy_decl[tokens::assign] |
                    rule_decl[tokens::assign]];
auto const option_head_rule_def =
    tokens::located[tokens::kw("option") >> x3::eps[tokens::set_kind(ast::Kind::Option)] >
                    tokens::name[tokens::push] > tokens::string_lit[tokens::push] >
                    tokens::named("E032|`{` opening the option", x3::lit('{'))];
auto const option_member_rule_def =
    tokens::located[option_property[tokens::assign] | complication[tokens::assign] |
                    rule_decl[tokens::assign]];

BOOST_SPIRIT_DEFINE(item_rule, option_head_rule, option_member_rule)

item_type const& item() {
  return item_rule;
}
option_head_type const& option_head() {
  return option_head_rule;
}
option_member_type const& option_member() {
  return option_member_rule;
}

BOOST_SPIRIT_INSTANTIATE(item_type, iterator_type, context_type)
BOOST_SPIRIT_INSTANTIATE(option_head_type, iterator_type, context_type)
BOOST_SPIRIT_INSTANTIATE(option_member_type, iterator_type, context_type)

}  // namespace stimrank::rules::grammar
