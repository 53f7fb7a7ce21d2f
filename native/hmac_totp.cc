#include "hmac_totp.h"

#include <cstring>

#include "secure_wipe.h"
#include "sha_constants.h"
#include "sha_cores.h"

namespace totp {
namespace {

template <typename Word>
Word load_be(const uint8_t* p) {
  Word w = 0;
  for (std::size_t i = 0; i < sizeof(Word); ++i) w = static_cast<Word>((w << 8) | p[i]);
  return w;
}

template <typename Word>
void store_be(uint8_t* p, Word w) {
  for (std::size_t i = 0; i < sizeof(Word); ++i) p[i] = static_cast<uint8_t>(w >> (8 * (sizeof(Word) - 1 - i)));
}

// One hash family: SHA-1 and SHA-256 work on 64-byte blocks of 32-bit words, SHA-512 on
// 128-byte blocks of 64-bit words. `state_words` is how many words the digest has.
template <typename Word>
struct Family {
  using Compress = void (*)(Word*, const Word*);
  Compress compress;
  const Word* iv;
  int state_words;
  static constexpr std::size_t kBlockBytes = 16 * sizeof(Word);
};

// A plain hash of a whole message. HMAC needs it only for keys longer than one block (RFC 2104
// §2), at key creation, so it favours clarity over speed.
template <typename Word>
void hash_message(const Family<Word>& f, const uint8_t* data, std::size_t len, uint8_t* digest) {
  constexpr std::size_t kBlock = Family<Word>::kBlockBytes;
  Word state[8];
  Word words[16];
  uint8_t tail[2 * kBlock];
  std::memcpy(state, f.iv, sizeof(Word) * f.state_words);

  std::size_t done = 0;
  for (; len - done >= kBlock; done += kBlock) {
    for (int i = 0; i < 16; ++i) words[i] = load_be<Word>(data + done + i * sizeof(Word));
    f.compress(state, words);
  }
  // Padding: 0x80, zeros, then the bit length in the last 2*sizeof(Word) bytes of a block.
  const std::size_t rest = len - done;
  const std::size_t tail_len = rest + 1 + 2 * sizeof(Word) <= kBlock ? kBlock : 2 * kBlock;
  std::memset(tail, 0, sizeof tail);
  std::memcpy(tail, data + done, rest);
  tail[rest] = 0x80;
  store_be<uint64_t>(tail + tail_len - 8, static_cast<uint64_t>(len) * 8);
  for (std::size_t off = 0; off < tail_len; off += kBlock) {
    for (int i = 0; i < 16; ++i) words[i] = load_be<Word>(tail + off + i * sizeof(Word));
    f.compress(state, words);
  }
  for (int i = 0; i < f.state_words; ++i) store_be<Word>(digest + i * sizeof(Word), state[i]);

  secure_wipe(state, sizeof state);
  secure_wipe(words, sizeof words);
  secure_wipe(tail, sizeof tail);
}

// The two midstates: the hash state after absorbing K ^ ipad and after absorbing K ^ opad.
template <typename Word>
void init_midstates(const Family<Word>& f, const uint8_t* secret, std::size_t len, Word* inner, Word* outer) {
  constexpr std::size_t kBlock = Family<Word>::kBlockBytes;
  uint8_t block[kBlock] = {};
  if (len > kBlock) {
    hash_message(f, secret, len, block);
  } else if (len > 0) {  // an empty secret may come as a null pointer: memcpy(dst, nullptr, 0) is UB
    std::memcpy(block, secret, len);
  }
  Word words[16];
  Word ipad = 0, opad = 0;
  for (std::size_t i = 0; i < sizeof(Word); ++i) {
    ipad = static_cast<Word>((ipad << 8) | 0x36);
    opad = static_cast<Word>((opad << 8) | 0x5c);
  }
  for (int i = 0; i < 16; ++i) words[i] = load_be<Word>(block + i * sizeof(Word)) ^ ipad;
  std::memcpy(inner, f.iv, sizeof(Word) * f.state_words);
  f.compress(inner, words);
  for (int i = 0; i < 16; ++i) words[i] = load_be<Word>(block + i * sizeof(Word)) ^ opad;
  std::memcpy(outer, f.iv, sizeof(Word) * f.state_words);
  f.compress(outer, words);

  secure_wipe(block, sizeof block);
  secure_wipe(words, sizeof words);
}

// RFC 4226 §5.3 dynamic truncation: the low nibble of the last digest byte picks 4 bytes, whose
// low 31 bits are reduced modulo 10^digits. The digest buffer is 64-byte aligned so the
// secret-dependent index stays inside one cache line.
uint32_t truncate(const uint8_t* digest, std::size_t digest_len, uint32_t digits) {
  const std::size_t offset = digest[digest_len - 1] & 0x0f;
  const uint32_t binary = (static_cast<uint32_t>(digest[offset] & 0x7f) << 24) |
                          (static_cast<uint32_t>(digest[offset + 1]) << 16) |
                          (static_cast<uint32_t>(digest[offset + 2]) << 8) | digest[offset + 3];
  // A remainder by a constant compiles to a multiply and shifts, which take the same time for
  // every value, unlike a hardware divide; hence one case per supported length.
  switch (digits) {
    case 6:
      return binary % 1000000u;
    case 7:
      return binary % 10000000u;
    default:
      return binary % 100000000u;
  }
}

// Codes for up to kMaxBatch counters of a SHA-1 or SHA-256 key, computed together.
void codes32(const KeyState& key, const uint64_t* counters, uint32_t* codes, int count) {
  const HashCores& cores = active_cores();
  const bool sha1 = key.algorithm == Algorithm::kSha1;
  const int digest_words = sha1 ? 5 : 8;
  alignas(64) uint32_t digests[kMaxBatch][8];
  alignas(64) uint8_t digest[32];
  (sha1 ? cores.hmac_sha1 : cores.hmac_sha256)(key.w32.inner, key.w32.outer, counters, count, digests);
  for (int i = 0; i < count; ++i) {
    for (int w = 0; w < digest_words; ++w) store_be<uint32_t>(digest + 4 * w, digests[i][w]);
    codes[i] = truncate(digest, 4 * digest_words, key.digits);
  }
  secure_wipe(digests, sizeof digests);
  secure_wipe(digest, sizeof digest);
}

uint32_t code64(const KeyState& key, uint64_t counter) {
  alignas(64) uint64_t state[8];
  alignas(64) uint64_t block[16] = {};
  alignas(64) uint8_t digest[64];
  std::memcpy(state, key.w64.inner, sizeof state);
  block[0] = counter;
  block[1] = 0x8000000000000000ull;
  block[15] = (128 + 8) * 8;
  sha512_compress_portable(state, block);
  std::memcpy(block, state, sizeof state);
  block[8] = 0x8000000000000000ull;
  block[15] = (128 + 64) * 8;
  std::memcpy(state, key.w64.outer, sizeof state);
  sha512_compress_portable(state, block);
  for (int w = 0; w < 8; ++w) store_be<uint64_t>(digest + 8 * w, state[w]);
  const uint32_t code = truncate(digest, 64, key.digits);
  secure_wipe(state, sizeof state);
  secure_wipe(block, sizeof block);
  secure_wipe(digest, sizeof digest);
  return code;
}

void codes_for(const KeyState& key, const uint64_t* counters, uint32_t* codes, int n) {
  if (key.algorithm == Algorithm::kSha512) {
    for (int i = 0; i < n; ++i) codes[i] = code64(key, counters[i]);
  } else {
    codes32(key, counters, codes, n);
  }
}

// 1 when a == b, else 0, computed without a branch or an early exit: how many digits of a
// wrong code are right must not change the time taken.
inline uint32_t equal_bit(uint32_t a, uint32_t b) {
  const uint32_t diff = a ^ b;
  return 1u ^ ((diff | (0u - diff)) >> 31);
}

}  // namespace

bool init_key_state(KeyState* key, Algorithm algorithm, const uint8_t* secret, std::size_t secret_len,
                    uint32_t digits) {
  wipe_key_state(key);
  if (digits < 6 || digits > 8) return false;
  key->algorithm = algorithm;
  key->digits = digits;
  switch (algorithm) {
    case Algorithm::kSha1:
      init_midstates<uint32_t>({sha1_compress_portable, kSha1Iv, 5}, secret, secret_len, key->w32.inner,
                               key->w32.outer);
      return true;
    case Algorithm::kSha256:
      init_midstates<uint32_t>({sha256_compress_portable, kSha256Iv, 8}, secret, secret_len, key->w32.inner,
                               key->w32.outer);
      return true;
    case Algorithm::kSha512:
      init_midstates<uint64_t>({sha512_compress_portable, kSha512Iv, 8}, secret, secret_len, key->w64.inner,
                               key->w64.outer);
      return true;
  }
  wipe_key_state(key);
  return false;
}

void wipe_key_state(KeyState* key) { secure_wipe(key, sizeof *key); }

uint32_t code_at(const KeyState& key, uint64_t counter) {
  uint32_t code;
  codes_for(key, &counter, &code, 1);
  return code;
}

namespace {

// Computes the candidates of slots [begin, end) in one batch (at most kMaxBatch), writing each
// slot's code (kNoCode for a step before 0), and returns the first slot whose code is `code`,
// or -1. Every candidate of the batch is compared, without an early exit.
int fill_slots(const KeyState& key, int64_t counter, uint32_t code, int begin, int end, int32_t* candidates) {
  uint64_t counters[kMaxBatch];
  int slots[kMaxBatch];
  int count = 0;
  for (int slot = begin; slot < end; ++slot) {
    const int distance = (slot + 1) / 2;
    if (slot % 2 == 1 && counter < distance) {
      candidates[slot] = kNoCode;
      continue;
    }
    // Unsigned: the counter may be INT64_MAX (Node-API saturates larger finite numbers), and
    // counter + distance must not be a signed overflow.
    counters[count] = slot % 2 == 1 ? static_cast<uint64_t>(counter - distance)
                                    : static_cast<uint64_t>(counter) + static_cast<uint64_t>(distance);
    slots[count++] = slot;
  }
  uint32_t codes[kMaxBatch];
  if (count > 0) codes_for(key, counters, codes, count);
  int found = -1;
  for (int i = count - 1; i >= 0; --i) {
    candidates[slots[i]] = static_cast<int32_t>(codes[i]);
    // Branching on the outcome is safe: which slot matched, if any, is what we return.
    if (equal_bit(codes[i], code)) found = slots[i];
  }
  return found;
}

}  // namespace

int find_code(const KeyState& key, int64_t counter, uint32_t code, int window, int32_t* candidates) {
  // Batches chosen by measurement (SHA-NI, this repository's bench): a valid code is usually
  // current, so SHA-1 computes the current step alone (~75 ns) and only then the -1/+1 pair
  // together (~90 ns). A SHA-256 batch of three costs ~140 ns against ~120 ns for one, so it
  // computes the whole first window at once. Farther steps go in pairs.
  const int total = 2 * window + 1;
  const int first = key.algorithm == Algorithm::kSha256 && total >= 3 ? 3 : 1;
  int found = fill_slots(key, counter, code, 0, first, candidates);
  for (int begin = first; found < 0 && begin < total; begin += 2) {
    found = fill_slots(key, counter, code, begin, begin + 2, candidates);
  }
  return found;
}

}  // namespace totp
