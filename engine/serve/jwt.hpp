// Bearer tokens as CDS Hooks 2.0 requires them (security section): a JWT signed
// with an asymmetric algorithm (RS256/384/512, ES256/384/512) by a key of its
// issuer's JWKS, the issuer on the allow-list, `aud` the service's URL, `exp` in the
// future, and a `jti` never seen before. Verified with OpenSSL.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace stimrank::serving {

struct TrustedIssuer {
  std::string issuer;  // `iss` as the EHR writes it
  std::string jwks;    // its JSON Web Key Set (the text of the file)
};

class TokenVerifier {
 public:
  // Token ids are remembered until their token expires, at most `max_remembered` at a
  // time: a trusted issuer whose tokens expire far ahead cannot grow the set without
  // bound; past it, new tokens are refused until ids expire.
  static constexpr std::size_t kMaxRememberedTokens = std::size_t{1} << 20;
  explicit TokenVerifier(std::vector<TrustedIssuer> issuers,
                         std::size_t max_remembered = kMaxRememberedTokens)
      : issuers_(std::move(issuers)), max_remembered_(max_remembered) {}

  // "" when the Authorization header carries a valid token for `audience`; else why
  // not (for the 401 body). Safe from many threads.
  std::string verify(const std::string& authorization, const std::string& audience);

  // Whether each JWKS parses into at least one usable key; "" or why not.
  std::string check_keys() const;

 private:
  std::vector<TrustedIssuer> issuers_;
  std::size_t max_remembered_;
  std::mutex mutex_;
  // Token ids seen, until they expire: the ids, and the same ordered by expiry so
  // that forgetting the expired ones costs what they are, not the whole set.
  std::set<std::string> seen_;
  std::multimap<std::int64_t, std::string> expiries_;
};

}  // namespace stimrank::serving
