// The rule set's digest: SHA-256 (OpenSSL) of its files' names and texts.
#include <openssl/evp.h>

#include "check.hpp"

namespace stimrank::rules {

namespace {

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace

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
