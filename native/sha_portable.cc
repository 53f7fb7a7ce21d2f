// Portable SHA-1, SHA-256 and SHA-512 compression (FIPS 180-4), written for clarity: it is the
// reference the accelerated cores are tested against and the path used on CPUs without SHA
// instructions. The message schedule is a 16-word ring, wiped before returning because it holds
// key-derived data while the HMAC midstates are computed.
#include <cstring>

#include "secure_wipe.h"
#include "sha_constants.h"
#include "sha_cores.h"

namespace totp {
namespace {

inline uint32_t rotl32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }
inline uint32_t rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
inline uint64_t rotr64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

template <typename Word>
inline Word choose(Word x, Word y, Word z) { return (x & y) ^ (~x & z); }
template <typename Word>
inline Word majority(Word x, Word y, Word z) { return (x & y) ^ (x & z) ^ (y & z); }

}  // namespace

void sha1_compress_portable(uint32_t state[5], const uint32_t words[16]) {
  uint32_t w[16];
  std::memcpy(w, words, sizeof w);
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
  for (int t = 0; t < 80; ++t) {
    if (t >= 16) {
      w[t & 15] = rotl32(w[(t - 3) & 15] ^ w[(t - 8) & 15] ^ w[(t - 14) & 15] ^ w[t & 15], 1);
    }
    uint32_t f;
    if (t < 20) {
      f = choose(b, c, d);
    } else if (t < 40 || t >= 60) {
      f = b ^ c ^ d;
    } else {
      f = majority(b, c, d);
    }
    const uint32_t next = rotl32(a, 5) + f + e + kSha1RoundConstants[t / 20] + w[t & 15];
    e = d;
    d = c;
    c = rotl32(b, 30);
    b = a;
    a = next;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  secure_wipe(w, sizeof w);
}

void sha256_compress_portable(uint32_t state[8], const uint32_t words[16]) {
  uint32_t w[16];
  std::memcpy(w, words, sizeof w);
  uint32_t v[8];
  std::memcpy(v, state, sizeof v);
  for (int t = 0; t < 64; ++t) {
    if (t >= 16) {
      const uint32_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
      const uint32_t s0 = rotr32(w15, 7) ^ rotr32(w15, 18) ^ (w15 >> 3);
      const uint32_t s1 = rotr32(w2, 17) ^ rotr32(w2, 19) ^ (w2 >> 10);
      w[t & 15] += s0 + w[(t - 7) & 15] + s1;
    }
    const uint32_t big_s1 = rotr32(v[4], 6) ^ rotr32(v[4], 11) ^ rotr32(v[4], 25);
    const uint32_t t1 = v[7] + big_s1 + choose(v[4], v[5], v[6]) + kSha256RoundConstants[t] + w[t & 15];
    const uint32_t big_s0 = rotr32(v[0], 2) ^ rotr32(v[0], 13) ^ rotr32(v[0], 22);
    const uint32_t t2 = big_s0 + majority(v[0], v[1], v[2]);
    v[7] = v[6];
    v[6] = v[5];
    v[5] = v[4];
    v[4] = v[3] + t1;
    v[3] = v[2];
    v[2] = v[1];
    v[1] = v[0];
    v[0] = t1 + t2;
  }
  for (int i = 0; i < 8; ++i) state[i] += v[i];
  secure_wipe(w, sizeof w);
  secure_wipe(v, sizeof v);
}

void sha512_compress_portable(uint64_t state[8], const uint64_t words[16]) {
  uint64_t w[16];
  std::memcpy(w, words, sizeof w);
  uint64_t v[8];
  std::memcpy(v, state, sizeof v);
  for (int t = 0; t < 80; ++t) {
    if (t >= 16) {
      const uint64_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
      const uint64_t s0 = rotr64(w15, 1) ^ rotr64(w15, 8) ^ (w15 >> 7);
      const uint64_t s1 = rotr64(w2, 19) ^ rotr64(w2, 61) ^ (w2 >> 6);
      w[t & 15] += s0 + w[(t - 7) & 15] + s1;
    }
    const uint64_t big_s1 = rotr64(v[4], 14) ^ rotr64(v[4], 18) ^ rotr64(v[4], 41);
    const uint64_t t1 = v[7] + big_s1 + choose(v[4], v[5], v[6]) + kSha512RoundConstants[t] + w[t & 15];
    const uint64_t big_s0 = rotr64(v[0], 28) ^ rotr64(v[0], 34) ^ rotr64(v[0], 39);
    const uint64_t t2 = big_s0 + majority(v[0], v[1], v[2]);
    v[7] = v[6];
    v[6] = v[5];
    v[5] = v[4];
    v[4] = v[3] + t1;
    v[3] = v[2];
    v[2] = v[1];
    v[1] = v[0];
    v[0] = t1 + t2;
  }
  for (int i = 0; i < 8; ++i) state[i] += v[i];
  secure_wipe(w, sizeof w);
  secure_wipe(v, sizeof v);
}

}  // namespace totp

namespace totp {
namespace {

using Compress32Fn = void (*)(uint32_t*, const uint32_t*);

// HMAC of counters from midstates with any 32-bit compression function: the inner block is the
// counter, the 0x80 pad, zeros and the bit length of ipad block + counter; the outer block is
// the inner digest, padded the same way.
void hmac_counters_portable(Compress32Fn compress, int state_words, const uint32_t* inner, const uint32_t* outer,
                            const uint64_t* counters, int count, uint32_t (*digests)[8]) {
  uint32_t block[16];
  for (int n = 0; n < count; ++n) {
    uint32_t* state = digests[n];
    std::memcpy(state, inner, sizeof(uint32_t) * state_words);
    std::memset(block, 0, sizeof block);
    block[0] = static_cast<uint32_t>(counters[n] >> 32);
    block[1] = static_cast<uint32_t>(counters[n]);
    block[2] = 0x80000000u;
    block[15] = (64 + 8) * 8;
    compress(state, block);
    std::memset(block, 0, sizeof block);
    std::memcpy(block, state, sizeof(uint32_t) * state_words);
    block[state_words] = 0x80000000u;
    block[15] = (64 + 4 * state_words) * 8;
    std::memcpy(state, outer, sizeof(uint32_t) * state_words);
    compress(state, block);
  }
  secure_wipe(block, sizeof block);
}

}  // namespace

void hmac_sha1_portable(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                        uint32_t (*digests)[8]) {
  hmac_counters_portable(sha1_compress_portable, 5, inner, outer, counters, count, digests);
}

void hmac_sha256_portable(const uint32_t* inner, const uint32_t* outer, const uint64_t* counters, int count,
                          uint32_t (*digests)[8]) {
  hmac_counters_portable(sha256_compress_portable, 8, inner, outer, counters, count, digests);
}

}  // namespace totp
