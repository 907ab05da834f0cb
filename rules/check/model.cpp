// Names of the model's enumerations, as the language and the result JSON spell them.
#include "model.hpp"

namespace stimrank::rules {

using namespace model;

const char* model::to_string(FieldType type) noexcept {
  switch (type) {
    case FieldType::Bool: return "bool";
    case FieldType::Int: return "int";
    case FieldType::Number: return "number";
    case FieldType::String: return "string";
    case FieldType::Ident: return "ident";
    case FieldType::Enum: return "enum";
    case FieldType::EnumSet: return "set of enum";
    case FieldType::Codes: return "codes";
    case FieldType::List: return "list";
    case FieldType::Coding: return "coding";
    case FieldType::Object: return "object";
  }
  return "?";
}

const char* model::to_string(RuleKind kind) noexcept {
  switch (kind) {
    case RuleKind::indication: return "indication";
    case RuleKind::absolute_contraindication: return "absolute_contraindication";
    case RuleKind::relative_contraindication: return "relative_contraindication";
    case RuleKind::caution: return "caution";
    case RuleKind::prerequisite: return "prerequisite";
    case RuleKind::research_only: return "research_only";
    case RuleKind::not_indicated: return "not_indicated";
  }
  return "?";
}

std::string model::grade_text(const std::vector<Scheme>& schemes, const Grade& grade) {
  const Scheme& scheme = schemes[static_cast<std::size_t>(grade.scheme)];
  std::string out = scheme.id + "(";
  for (std::size_t i = 0; i < grade.values.size(); ++i) {
    const auto& dim = scheme.dimensions[static_cast<std::size_t>(grade.values[i].first)];
    out += (i ? ", " : "") + dim.name + " " +
           dim.labels[static_cast<std::size_t>(grade.values[i].second)];
  }
  return out + ")";
}

const char* model::to_string(Invasiveness invasiveness) noexcept {
  switch (invasiveness) {
    case Invasiveness::noninvasive: return "noninvasive";
    case Invasiveness::minimally_invasive: return "minimally_invasive";
    case Invasiveness::invasive: return "invasive";
  }
  return "?";
}

}  // namespace stimrank::rules
