// ASCII character classes for the language and for profile ids. The <cctype>
// functions follow the process's LC_CTYPE, which Python sets from the user's
// environment at start-up: under a single-byte locale such as ISO-8859-1 they
// call bytes of UTF-8 text letters or spaces, so an id, a code or a rule file
// would be read differently in a notebook than by the CLI.
#pragma once

namespace stimrank::ascii {

constexpr bool is_lower(char c) noexcept {
  return c >= 'a' && c <= 'z';
}
constexpr bool is_upper(char c) noexcept {
  return c >= 'A' && c <= 'Z';
}
constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool is_alnum(char c) noexcept {
  return is_lower(c) || is_upper(c) || is_digit(c);
}
// The C locale's white space: space, \t, \n, \v, \f, \r.
constexpr bool is_space(char c) noexcept {
  return c == ' ' || (c >= '\t' && c <= '\r');
}
constexpr char to_upper(char c) noexcept {
  return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c;
}
constexpr char to_lower(char c) noexcept {
  return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace stimrank::ascii
