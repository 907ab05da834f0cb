// The CDS Hooks service answered without HTTP (answer_cds_call): what an embedding
// integrator gets. The HTTP server itself is tested over loopback (test_serve.py).
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <stimrank/serve.hpp>

#include "helpers.hpp"
#include "jwt.hpp"

namespace {

std::shared_ptr<const stimrank::RuleSet> knowledge() {
  static auto rules = stimrank::load_rules(STIMRANK_KNOWLEDGE_DIR).ruleset;
  return rules;
}

nlohmann::json call(const std::string& patient_birth, const std::string& condition_code) {
  return {{"hook", "patient-view"},
          {"hookInstance", "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"},
          {"context", {{"patientId", "p1"}}},
          {"prefetch",
           {{"patient", {{"resourceType", "Patient"}, {"id", "p1"}, {"birthDate", patient_birth}}},
            {"conditions",
             {{"resourceType", "Bundle"},
              {"type", "searchset"},
              {"entry",
               {{{"resource",
                  {{"resourceType", "Condition"},
                   {"subject", {{"reference", "Patient/p1"}}},
                   {"clinicalStatus", {{"coding", {{{"code", "active"}}}}}},
                   {"code",
                    {{"coding",
                      {{{"system", "http://hl7.org/fhir/sid/icd-10-cm"},
                        {"code", condition_code}}}}}}}}}}}}}}}};
}

}  // namespace

TEST_CASE("a CDS Hooks call answered without HTTP", "[serve]") {
  stimrank::ServeOptions options;
  options.allow_unauthenticated = true;
  options.fetch_from_fhir_server = false;
  options.public_url = "https://cds.example/stimrank";
  // Postherpetic neuralgia (ICD-10-CM B02.29): a ranked option, one card.
  auto answer = stimrank::answer_cds_call(knowledge(), options, "stimrank-patient-view",
                                          call("1950-03-01", "B02.29").dump());
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  auto body = nlohmann::json::parse(answer.body);
  REQUIRE(body["cards"].size() == 1);
  const auto& card = body["cards"][0];
  CHECK(card["indicator"] == "info");
  CHECK(card["links"][0]["url"].get<std::string>().rfind("https://cds.example/stimrank/explain/",
                                                         0) == 0);
  CHECK(card["detail"].get<std::string>().find("doi.org") != std::string::npos);

  auto unknown = stimrank::answer_cds_call(knowledge(), options, "no-such-service", "{}");
  CHECK(unknown.status == 404);
  CHECK(nlohmann::json::parse(unknown.body)["resourceType"] == "OperationOutcome");
  auto future = stimrank::answer_cds_call(knowledge(), options, "stimrank-patient-view",
                                          call("2999-01-01", "B02.29").dump());
  CHECK(future.status == 400);
  CHECK(future.body.find("prefetch.patient.birthDate") != std::string::npos);
  options.max_body_bytes = 100;
  auto large = stimrank::answer_cds_call(knowledge(), options, "stimrank-patient-view",
                                         call("1950-03-01", "B02.29").dump());
  CHECK(large.status == 413);
  CHECK(stimrank::answer_cds_call(nullptr, options, "stimrank-patient-view", "{}").status == 500);
}

namespace {

std::string base64url(const unsigned char* data, std::size_t size) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (std::size_t i = 0; i < size; ++i) {
    bits = (bits << 8) | data[i];
    count += 8;
    while (count >= 6) out += alphabet[(bits >> (count -= 6)) & 63];
  }
  if (count > 0) out += alphabet[(bits << (6 - count)) & 63];
  return out;
}
std::string base64url(const std::string& text) {
  return base64url(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

// An RS256 issuer made for the test: its JWKS, and tokens it signs.
struct TestIssuer {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  ~TestIssuer() { EVP_PKEY_free(key); }
  std::string jwks() const {
    auto part = [this](const char* name) {
      BIGNUM* number = nullptr;
      EVP_PKEY_get_bn_param(key, name, &number);
      std::string bytes(static_cast<std::size_t>(BN_num_bytes(number)), '\0');
      BN_bn2bin(number, reinterpret_cast<unsigned char*>(bytes.data()));
      BN_free(number);
      return base64url(bytes);
    };
    return nlohmann::json{
        {"keys", {{{"kty", "RSA"}, {"kid", "k1"}, {"n", part("n")}, {"e", part("e")}}}}}
        .dump();
  }
  std::string token(const std::string& jti, std::int64_t exp) const {
    const std::string signing_input =
        base64url(nlohmann::json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "k1"}}.dump()) + "." +
        base64url(nlohmann::json{
            {"iss", "https://ehr.example"},
            {"aud", "https://cds.example/cds-services/x"},
            {"exp", exp},
            {"iat", exp - 300},
            {"jti",
             jti}}.dump());
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    std::size_t size = 0;
    EVP_DigestSignInit(context, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(context, nullptr, &size,
                   reinterpret_cast<const unsigned char*>(signing_input.data()),
                   signing_input.size());
    std::vector<unsigned char> signature(size);
    EVP_DigestSign(context, signature.data(), &size,
                   reinterpret_cast<const unsigned char*>(signing_input.data()),
                   signing_input.size());
    EVP_MD_CTX_free(context);
    return "Bearer " + signing_input + "." + base64url(signature.data(), size);
  }
};

}  // namespace

TEST_CASE("bearer tokens: the replay memory is bounded, and says so when full", "[serve]") {
  TestIssuer issuer;
  stimrank::serving::TokenVerifier verifier({{"https://ehr.example", issuer.jwks()}}, 2);
  const std::string audience = "https://cds.example/cds-services/x";
  const std::int64_t in_a_year = std::time(nullptr) + 365 * 86400;
  CHECK(verifier.verify(issuer.token("a", in_a_year), audience).empty());
  CHECK(verifier.verify(issuer.token("b", in_a_year), audience).empty());
  CHECK(verifier.verify(issuer.token("a", in_a_year), audience) ==
        "the token was used before (jti replayed)");
  const std::string full = verifier.verify(issuer.token("c", in_a_year), audience);
  CHECK(full.find("already remembers 2 unexpired token ids") != std::string::npos);
  // Refused for now, not remembered: once ids expire it is accepted.
  CHECK(verifier.verify(issuer.token("c", in_a_year), audience) == full);
  CHECK(verifier.verify(issuer.token("d", std::time(nullptr) - 1), audience) ==
        "the token has expired");
}
