#include "jwt.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

namespace stimrank::serving {

namespace {

using nlohmann::json;

std::optional<std::string> base64url_decode(std::string_view text) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    auto at = alphabet.find(c);
    if (at == std::string::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(at);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

// A public key from one JWK (RSA n/e, or EC on P-256/384/521 x/y); null if unusable.
Key key_from_jwk(const json& jwk) {
  auto field = [&](const char* name) -> std::optional<std::string> {
    if (!jwk.contains(name) || !jwk[name].is_string()) return std::nullopt;
    return base64url_decode(jwk[name].get<std::string>());
  };
  const std::string kty = jwk.value("kty", "");
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> build(OSSL_PARAM_BLD_new(),
                                                                        OSSL_PARAM_BLD_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> context(nullptr, EVP_PKEY_CTX_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> n(nullptr, BN_free), e(nullptr, BN_free);
  std::string point;
  if (kty == "RSA") {
    auto n_bytes = field("n"), e_bytes = field("e");
    if (!n_bytes || !e_bytes) return nullptr;
    n.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(n_bytes->data()),
                      static_cast<int>(n_bytes->size()), nullptr));
    e.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(e_bytes->data()),
                      static_cast<int>(e_bytes->size()), nullptr));
    if (!n || !e || !OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
        !OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, e.get()))
      return nullptr;
    context.reset(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  } else if (kty == "EC") {
    static const std::map<std::string, std::pair<const char*, std::size_t>> curves = {
        {"P-256", {"prime256v1", 32}}, {"P-384", {"secp384r1", 48}}, {"P-521", {"secp521r1", 66}}};
    auto curve = curves.find(jwk.value("crv", ""));
    auto x = field("x"), y = field("y");
    if (curve == curves.end() || !x || !y || x->size() != curve->second.second ||
        y->size() != curve->second.second)
      return nullptr;
    point = std::string(1, '\x04') + *x + *y;
    if (!OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                         curve->second.first, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                          point.size()))
      return nullptr;
    context.reset(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  } else {
    return nullptr;  // symmetric ("oct") keys are not accepted
  }
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(
      OSSL_PARAM_BLD_to_param(build.get()), OSSL_PARAM_free);
  EVP_PKEY* key = nullptr;
  if (!context || !params || EVP_PKEY_fromdata_init(context.get()) <= 0 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
    return nullptr;
  return Key(key);
}

// JWS ES* signatures are R||S; OpenSSL verifies DER.
std::optional<std::string> ecdsa_der(const std::string& raw) {
  if (raw.empty() || raw.size() % 2) return std::nullopt;
  const auto half = static_cast<int>(raw.size() / 2);
  ECDSA_SIG* signature = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), half, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + half, half, nullptr);
  if (!signature || !r || !s || !ECDSA_SIG_set0(signature, r, s)) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(signature);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int length = i2d_ECDSA_SIG(signature, &der);
  ECDSA_SIG_free(signature);
  if (length <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  return out;
}

bool signature_holds(EVP_PKEY* key, const std::string& alg, const std::string& signed_part,
                     const std::string& signature) {
  const EVP_MD* digest = alg.ends_with("256")   ? EVP_sha256()
                         : alg.ends_with("384") ? EVP_sha384()
                                                : EVP_sha512();
  std::string checked = signature;
  if (alg[0] == 'E') {
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
    auto der = ecdsa_der(signature);
    if (!der) return false;
    checked = *der;
  } else if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  EVP_MD_CTX_free);
  return context && EVP_DigestVerifyInit(context.get(), nullptr, digest, nullptr, key) == 1 &&
         EVP_DigestVerify(
             context.get(), reinterpret_cast<const unsigned char*>(checked.data()), checked.size(),
             reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
}

}  // namespace

std::string TokenVerifier::check_keys() const {
  for (const TrustedIssuer& issuer : issuers_) {
    json jwks = json::parse(issuer.jwks, nullptr, false);
    int usable = 0;
    if (jwks.is_object() && jwks.contains("keys") && jwks["keys"].is_array())
      for (const json& jwk : jwks["keys"]) usable += key_from_jwk(jwk) ? 1 : 0;
    if (!usable) return "the JWKS of `" + issuer.issuer + "` has no usable RSA or EC public key";
  }
  return {};
}

std::string TokenVerifier::verify(const std::string& authorization, const std::string& audience) {
  if (authorization.rfind("Bearer ", 0) != 0) return "no bearer token";
  const std::string token = authorization.substr(7);
  auto first = token.find('.'), second = token.find('.', first + 1);
  if (first == std::string::npos || second == std::string::npos ||
      token.find('.', second + 1) != std::string::npos)
    return "the token is not a JWT";
  auto header_text = base64url_decode(std::string_view(token).substr(0, first));
  auto claims_text =
      base64url_decode(std::string_view(token).substr(first + 1, second - first - 1));
  auto signature = base64url_decode(std::string_view(token).substr(second + 1));
  if (!header_text || !claims_text || !signature) return "the token is not base64url";
  json header = json::parse(*header_text, nullptr, false);
  json claims = json::parse(*claims_text, nullptr, false);
  if (!header.is_object() || !claims.is_object()) return "the token's parts are not JSON objects";
  const std::string alg = header.value("alg", "");
  static const std::vector<std::string> asymmetric = {"RS256", "RS384", "RS512",
                                                      "ES256", "ES384", "ES512"};
  if (std::find(asymmetric.begin(), asymmetric.end(), alg) == asymmetric.end())
    return "algorithm `" + alg +
           "` is not accepted (asymmetric only: RS256/384/512, ES256/384/512)";
  const std::string iss =
      claims.contains("iss") && claims["iss"].is_string() ? claims["iss"].get<std::string>() : "";
  const TrustedIssuer* trusted = nullptr;
  for (const TrustedIssuer& issuer : issuers_)
    if (issuer.issuer == iss) trusted = &issuer;
  if (!trusted) return "issuer `" + iss + "` is not trusted";
  json jwks = json::parse(trusted->jwks, nullptr, false);
  const std::string kid = header.value("kid", "");
  bool verified = false;
  if (jwks.is_object() && jwks.contains("keys") && jwks["keys"].is_array())
    for (const json& jwk : jwks["keys"]) {
      if (!kid.empty() && jwk.value("kid", "") != kid) continue;
      Key key = key_from_jwk(jwk);
      if (key && signature_holds(key.get(), alg, token.substr(0, second), *signature)) {
        verified = true;
        break;
      }
    }
  if (!verified) return "the signature does not verify with the issuer's keys";
  bool audience_ok = false;
  if (claims.contains("aud")) {
    const json& aud = claims["aud"];
    if (aud.is_string()) audience_ok = aud == audience;
    if (aud.is_array())
      for (const json& a : aud) audience_ok = audience_ok || a == audience;
  }
  if (!audience_ok) return "the token is not for `" + audience + "` (aud)";
  const std::int64_t now = std::time(nullptr);
  if (!claims.contains("exp") || !claims["exp"].is_number_integer())
    return "the token has no expiry (exp)";
  const std::int64_t exp = claims["exp"].get<std::int64_t>();
  if (exp <= now) return "the token has expired";
  if (!claims.contains("jti") || !claims["jti"].is_string() ||
      claims["jti"].get<std::string>().empty())
    return "the token has no id (jti)";
  std::lock_guard<std::mutex> lock(mutex_);
  while (!expiries_.empty() && expiries_.begin()->first <= now) {  // forget expired ids
    seen_.erase(expiries_.begin()->second);
    expiries_.erase(expiries_.begin());
  }
  const std::string jti = claims["jti"].get<std::string>();
  if (seen_.count(jti)) return "the token was used before (jti replayed)";
  if (seen_.size() >= max_remembered_)
    return "the service already remembers " + std::to_string(max_remembered_) +
           " unexpired token ids (to refuse replays), the most it keeps: try again when some "
           "have expired, or use tokens that expire sooner";
  seen_.insert(jti);
  expiries_.emplace(exp, jti);
  return {};
}

}  // namespace stimrank::serving
