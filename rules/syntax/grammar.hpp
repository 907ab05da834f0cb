// Declarations of the top rules; definitions live in grammar_*.cpp only.
#pragma once

#include "ast.hpp"
#include "grammar_config.hpp"

namespace stimrank::rules::grammar {

struct expression_class;
struct item_class;
struct option_head_class;
struct option_member_class;

using expression_type = x3::rule<expression_class, ast::Node>;
using item_type = x3::rule<item_class, ast::Node>;
using option_head_type = x3::rule<option_head_class, ast::Node>;
using option_member_type = x3::rule<option_member_class, ast::Node>;

BOOST_SPIRIT_DECLARE(expression_type, item_type, option_head_type, option_member_type)

expression_type const& expression();
item_type const& item();                    // any top-level declaration except `option`
option_head_type const& option_head();      // `option id "title" {`
option_member_type const& option_member();  // one statement inside an option block

}  // namespace stimrank::rules::grammar
