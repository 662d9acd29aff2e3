#include "util/crypto.h"

#include <sodium.h>

#include <cstring>

#include "util/time_format.h"

namespace parley {

Status InitCrypto() {
  if (sodium_init() < 0) return Status::IOError("sodium_init failed");
  return Status::OK();
}

namespace {
std::string Base64Url(const unsigned char* data, size_t n) {
  std::string out(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), data, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}
}  // namespace

std::string NewToken(Snowflake user_id) {
  std::string id = std::to_string(user_id);
  unsigned char secret[24];
  randombytes_buf(secret, sizeof secret);
  const auto now = static_cast<uint32_t>(NowMs() / 1000);
  const unsigned char stamp[4] = {
      static_cast<unsigned char>(now >> 24), static_cast<unsigned char>(now >> 16),
      static_cast<unsigned char>(now >> 8), static_cast<unsigned char>(now)};
  std::string token = Base64Url(reinterpret_cast<const unsigned char*>(id.data()), id.size());
  token.push_back('.');
  token.append(Base64Url(stamp, sizeof stamp));
  token.push_back('.');
  token.append(Base64Url(secret, sizeof secret));
  return token;
}

TokenHash HashToken(std::string_view token) {
  TokenHash h;
  crypto_hash_sha256(h.data(), reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return h;
}

std::string RandomCode(size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out(n, 'a');
  for (char& c : out) c = kAlphabet[randombytes_uniform(sizeof(kAlphabet) - 1)];
  return out;
}

Status HashPassword(std::string_view password, PasswordCost cost, std::string* out) {
  unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
  size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  if (cost == PasswordCost::kMin) {
    ops = crypto_pwhash_OPSLIMIT_MIN;
    mem = crypto_pwhash_MEMLIMIT_MIN;
  } else if (cost == PasswordCost::kModerate) {
    ops = crypto_pwhash_OPSLIMIT_MODERATE;
    mem = crypto_pwhash_MEMLIMIT_MODERATE;
  }
  char buf[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(buf, password.data(), password.size(), ops, mem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Status::IOError("out of memory hashing a password");
  *out = buf;
  return Status::OK();
}

bool VerifyPassword(const std::string& hash, std::string_view password) {
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

}  // namespace parley
