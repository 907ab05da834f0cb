// SHA-256 (OpenSSL) in hex, and the rule set's digest: of its files' names and texts.
#include <openssl/evp.h>

#include "check.hpp"

namespace stimrank::rules {

std::string to_hex(const unsigned char* data, std::size_t length) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (std::size_t i = 0; i < length; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return to_hex(digest, length);
}

std::string ruleset_digest(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string input;
  for (const auto& [name, text] : files) {
    input += name;
    input += '\0';
    input += text;
    input += '\0';
  }
  return "sha256:" + sha256_hex(input);
}

}  // namespace stimrank::rules
