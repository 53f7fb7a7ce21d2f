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
// 128-byte blocks of 64-bit words. `state_words` is how many words the digest has. `compress` is
// the active core's (SHA instructions where the CPU has them): a key's midstates and fingerprint
// cost a few compressions, which is most of what creating a key costs.
template <typename Word>
struct Family {
  using Compress = void (*)(Word*, const Word*);
  using CompressPair = void (*)(Word*, const Word*, Word*, const Word*);
  Compress compress;
  CompressPair compress_pair;  // two independent blocks, interleaved where the core can
  const Word* iv;
  int state_words;
  static constexpr std::size_t kBlockBytes = 16 * sizeof(Word);
};

void sha512_compress_pair(uint64_t* a, const uint64_t* words_a, uint64_t* b, const uint64_t* words_b) {
  sha512_compress_portable(a, words_a);
  sha512_compress_portable(b, words_b);
}

Family<uint32_t> sha1_family() {
  const HashCores& cores = active_cores();
  return {cores.sha1_compress, cores.sha1_compress_pair, kSha1Iv, 5};
}
Family<uint32_t> sha256_family() {
  const HashCores& cores = active_cores();
  return {cores.sha256_compress, cores.sha256_compress_pair, kSha256Iv, 8};
}
Family<uint64_t> sha512_family() { return {sha512_compress_portable, sha512_compress_pair, kSha512Iv, 8}; }

// A plain hash of a message given in parts (FIPS 180-4 padding), for the HMAC key of a secret
// longer than one block (RFC 2104 §2) and for fingerprints. Everything it held is wiped.
template <typename Word>
class Hasher {
 public:
  explicit Hasher(const Family<Word>& f) : f_(f) { std::memcpy(state_, f.iv, sizeof(Word) * f.state_words); }
  ~Hasher() {
    secure_wipe(state_, sizeof state_);
    secure_wipe(block_, sizeof block_);
    secure_wipe(words_, sizeof words_);
  }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void update(const uint8_t* data, std::size_t len) {
    total_ += len;
    while (len > 0) {  // data may be a null pointer when len is 0 (an empty secret)
      const std::size_t take = len < kBlock - used_ ? len : kBlock - used_;
      std::memcpy(block_ + used_, data, take);
      used_ += take;
      data += take;
      len -= take;
      if (used_ == kBlock) absorb();
    }
  }

  // Writes state_words words, big-endian.
  void finish(uint8_t* digest) {
    const uint64_t bits = static_cast<uint64_t>(total_) * 8;
    constexpr std::size_t kLength = 2 * sizeof(Word);  // the length field; its high half stays 0 here
    block_[used_++] = 0x80;
    if (used_ > kBlock - kLength) {
      std::memset(block_ + used_, 0, kBlock - used_);
      absorb();
    }
    std::memset(block_ + used_, 0, kBlock - 8 - used_);
    store_be<uint64_t>(block_ + kBlock - 8, bits);
    absorb();
    for (int i = 0; i < f_.state_words; ++i) store_be<Word>(digest + i * sizeof(Word), state_[i]);
  }

 private:
  static constexpr std::size_t kBlock = Family<Word>::kBlockBytes;

  void absorb() {
    for (int i = 0; i < 16; ++i) words_[i] = load_be<Word>(block_ + i * sizeof(Word));
    f_.compress(state_, words_);
    used_ = 0;
  }

  const Family<Word> f_;
  Word state_[8];
  Word words_[16];
  uint8_t block_[kBlock];
  std::size_t used_ = 0;
  std::size_t total_ = 0;
};

// The two midstates: the hash state after absorbing K ^ ipad and after absorbing K ^ opad.
template <typename Word>
void init_midstates(const Family<Word>& f, const uint8_t* secret, std::size_t len, Word* inner, Word* outer) {
  constexpr std::size_t kBlock = Family<Word>::kBlockBytes;
  uint8_t block[kBlock] = {};
  if (len > kBlock) {
    Hasher<Word> hasher(f);
    hasher.update(secret, len);
    hasher.finish(block);
  } else if (len > 0) {  // an empty secret may come as a null pointer: memcpy(dst, nullptr, 0) is UB
    std::memcpy(block, secret, len);
  }
  Word inner_words[16], outer_words[16];
  Word ipad = 0, opad = 0;
  for (std::size_t i = 0; i < sizeof(Word); ++i) {
    ipad = static_cast<Word>((ipad << 8) | 0x36);
    opad = static_cast<Word>((opad << 8) | 0x5c);
  }
  for (int i = 0; i < 16; ++i) {
    const Word word = load_be<Word>(block + i * sizeof(Word));
    inner_words[i] = word ^ ipad;
    outer_words[i] = word ^ opad;
  }
  std::memcpy(inner, f.iv, sizeof(Word) * f.state_words);
  std::memcpy(outer, f.iv, sizeof(Word) * f.state_words);
  f.compress_pair(inner, inner_words, outer, outer_words);

  secure_wipe(block, sizeof block);
  secure_wipe(inner_words, sizeof inner_words);
  secure_wipe(outer_words, sizeof outer_words);
}

// RFC 4226 §5.3 dynamic truncation, read from a digest given as big-endian 32-bit words (byte i
// of the digest is bits 31-8*(i%4) .. 24-8*(i%4) of word i/4): the low nibble of the last byte
// picks an offset, the 4 bytes there (spanning at most two words) lose their top bit, and the
// rest is reduced modulo 10^digits. Shifts by a variable amount take constant time on the CPUs
// the addon runs on, and the secret-dependent word index stays inside the digest's cache line.
uint32_t truncate(const uint32_t* words, int digest_words, uint32_t digits) {
  const uint32_t offset = words[digest_words - 1] & 0x0f;
  const uint32_t first = words[offset / 4];
  const uint32_t second = words[offset / 4 + 1];  // offset <= 15: at most word 4, inside every digest
  const uint32_t shift = 8 * (offset % 4);
  // (second >> 32) would be undefined for shift 0: shift by 31 then 1 instead.
  const uint32_t binary = ((first << shift) | ((second >> (31 - shift)) >> 1)) & 0x7fffffff;
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
  alignas(64) uint32_t digests[kMaxBatch][8];
  (sha1 ? cores.hmac_sha1 : cores.hmac_sha256)(key.w32.inner, key.w32.outer, counters, count, digests);
  for (int i = 0; i < count; ++i) codes[i] = truncate(digests[i], sha1 ? 5 : 8, key.digits);
  secure_wipe(digests, sizeof digests);
}

uint32_t code64(const KeyState& key, uint64_t counter) {
  alignas(64) uint64_t state[8];
  alignas(64) uint64_t block[16] = {};
  alignas(64) uint32_t words[16];
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
  for (int w = 0; w < 8; ++w) {
    words[2 * w] = static_cast<uint32_t>(state[w] >> 32);
    words[2 * w + 1] = static_cast<uint32_t>(state[w]);
  }
  const uint32_t code = truncate(words, 16, key.digits);
  secure_wipe(state, sizeof state);
  secure_wipe(block, sizeof block);
  secure_wipe(words, sizeof words);
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

// Where the candidates of a search come from. A TOTP window visits the steps counter + 0, -1, +1,
// -2, +2, ... (a step before 0 has no code); an HOTP look-ahead visits counter + 0, 1, 2, ...
// Unsigned arithmetic: the counter may be INT64_MAX (Node-API saturates larger finite numbers),
// and counter + distance must not be a signed overflow.
struct SymmetricSteps {
  int64_t counter;
  bool at(int slot, uint64_t* step) const {
    const int distance = (slot + 1) / 2;
    if (slot % 2 == 1) {
      if (counter < distance) return false;
      *step = static_cast<uint64_t>(counter - distance);
    } else {
      *step = static_cast<uint64_t>(counter) + static_cast<uint64_t>(distance);
    }
    return true;
  }
};

struct ForwardCounters {
  int64_t counter;
  bool at(int slot, uint64_t* step) const {
    *step = static_cast<uint64_t>(counter) + static_cast<uint64_t>(slot);
    return true;
  }
};

// Computes the candidates of slots [begin, end) in one batch (at most kMaxBatch), writing each
// slot's code (kNoCode where there is no step), and returns the first slot whose code is `code`,
// or -1. Every candidate of the batch is compared, without an early exit.
template <typename Slots>
int fill_slots(const KeyState& key, const Slots& slots_of, uint32_t code, int begin, int end, int32_t* candidates) {
  uint64_t counters[kMaxBatch];
  int slots[kMaxBatch];
  int count = 0;
  for (int slot = begin; slot < end; ++slot) {
    if (!slots_of.at(slot, &counters[count])) {
      candidates[slot] = kNoCode;
      continue;
    }
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
  secure_wipe(codes, sizeof codes);
  return found;
}

// Batches chosen by measurement (SHA-NI, this repository's bench): a valid code is usually the
// first candidate, so SHA-1 computes it alone (~75 ns) and only then the next pair together
// (~90 ns). A SHA-256 batch of three costs ~140 ns against ~120 ns for one, so it computes the
// first three at once. Farther candidates go in pairs.
template <typename Slots>
int search(const KeyState& key, const Slots& slots_of, uint32_t code, int total, int32_t* candidates) {
  const int first = key.algorithm == Algorithm::kSha256 && total >= 3 ? 3 : 1;
  int found = fill_slots(key, slots_of, code, 0, first, candidates);
  for (int begin = first; found < 0 && begin < total; begin += 2) {
    found = fill_slots(key, slots_of, code, begin, begin + 2 < total ? begin + 2 : total, candidates);
  }
  return found;
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
      init_midstates<uint32_t>(sha1_family(), secret, secret_len, key->w32.inner, key->w32.outer);
      return true;
    case Algorithm::kSha256:
      init_midstates<uint32_t>(sha256_family(), secret, secret_len, key->w32.inner, key->w32.outer);
      return true;
    case Algorithm::kSha512:
      init_midstates<uint64_t>(sha512_family(), secret, secret_len, key->w64.inner, key->w64.outer);
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

int find_code(const KeyState& key, int64_t counter, uint32_t code, int window, int32_t* candidates) {
  return search(key, SymmetricSteps{counter}, code, 2 * window + 1, candidates);
}

int find_counter(const KeyState& key, int64_t counter, uint32_t code, int look_ahead, int32_t* candidates) {
  return search(key, ForwardCounters{counter}, code, look_ahead + 1, candidates);
}

uint32_t fingerprint(const uint8_t* secret, std::size_t secret_len) {
  static const char kDomain[] = "totp-handshake key id";  // hashed with its terminating NUL
  alignas(64) uint8_t digest[32];
  const Family<uint32_t> f = sha256_family();
  Hasher<uint32_t> hasher(f);
  hasher.update(reinterpret_cast<const uint8_t*>(kDomain), sizeof kDomain);
  hasher.update(secret, secret_len);
  hasher.finish(digest);
  const uint32_t id = load_be<uint32_t>(digest);
  secure_wipe(digest, sizeof digest);
  return id;
}

}  // namespace totp
