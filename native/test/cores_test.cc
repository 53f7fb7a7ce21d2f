// Native self-test, run without Node: every hash-core path against the portable C++ one, all of
// them against the RFC 6238 Appendix B and RFC 4226 Appendix D vectors, and the key arena and
// base32 decoder on their own. Built and run by native/test/run.sh for the host (x86 SHA-NI when
// present), under AddressSanitizer/UndefinedBehaviorSanitizer, and, under qemu, for aarch64
// (ARMv8 SHA extensions).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "../base32.h"
#include "../hmac_totp.h"
#include "../key_arena.h"
#include "../sha_constants.h"
#include "../sha_cores.h"

namespace {

using totp::Algorithm;
using totp::KeyState;

int failures = 0;

void expect(bool ok, const char* what, uint64_t detail) {
  if (ok) return;
  if (++failures <= 20) std::fprintf(stderr, "FAIL: %s (%llu)\n", what, static_cast<unsigned long long>(detail));
}

// splitmix64: a fixed, seedable stream so a failure can be replayed.
uint64_t state = 0x746f74702d6e6174ull;
uint64_t next_random() {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void rfc6238_vectors() {
  struct Vector {
    uint64_t time;
    uint32_t sha1, sha256, sha512;
  };
  const Vector vectors[] = {{59, 94287082, 46119246, 90693936},           {1111111109, 7081804, 68084774, 25091201},
                            {1111111111, 14050471, 67062674, 99943326}, {1234567890, 89005924, 91819424, 93441116},
                            {2000000000, 69279037, 90698825, 38618901}, {20000000000ull, 65353130, 77737706, 47863826}};
  const char* secret = "1234567890123456789012345678901234567890123456789012345678901234";
  KeyState sha1, sha256, sha512;
  totp::init_key_state(&sha1, Algorithm::kSha1, reinterpret_cast<const uint8_t*>(secret), 20, 8);
  totp::init_key_state(&sha256, Algorithm::kSha256, reinterpret_cast<const uint8_t*>(secret), 32, 8);
  totp::init_key_state(&sha512, Algorithm::kSha512, reinterpret_cast<const uint8_t*>(secret), 64, 8);
  for (const Vector& v : vectors) {
    const uint64_t counter = v.time / 30;
    expect(totp::code_at(sha1, counter) == v.sha1, "RFC 6238 SHA1", v.time);
    expect(totp::code_at(sha256, counter) == v.sha256, "RFC 6238 SHA256", v.time);
    expect(totp::code_at(sha512, counter) == v.sha512, "RFC 6238 SHA512", v.time);
    int32_t candidates[totp::kMaxCandidates];
    expect(totp::find_code(sha1, static_cast<int64_t>(counter) - 1, v.sha1, 1, candidates) == 2, "find +1", v.time);
    expect(totp::find_code(sha256, static_cast<int64_t>(counter) + 1, v.sha256, 1, candidates) == 1, "find -1", v.time);
  }
  expect(totp::init_key_state(&sha1, Algorithm::kSha1, reinterpret_cast<const uint8_t*>(secret), 20, 9) == false,
         "9 digits refused", 9);
}

// RFC 4226 Appendix D through the HOTP look-ahead: each code is found at its counter from every
// counter up to 9 before it, and the fingerprint of that secret is the known value (the one the
// package has always logged for it; src/engine/js.ts computes it with node:crypto).
void rfc4226_vectors() {
  const uint32_t codes[10] = {755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489};
  const auto* secret = reinterpret_cast<const uint8_t*>("12345678901234567890");
  KeyState key;
  totp::init_key_state(&key, Algorithm::kSha1, secret, 20, 6);
  int32_t candidates[totp::kMaxCandidates];
  for (int counter = 0; counter < 10; ++counter) {
    expect(totp::code_at(key, counter) == codes[counter], "RFC 4226 code", counter);
    for (int from = 0; from <= counter; ++from) {
      expect(totp::find_counter(key, from, codes[counter], counter - from, candidates) == counter - from, "look-ahead finds", counter);
      if (from < counter) expect(totp::find_counter(key, from, codes[counter], counter - from - 1, candidates) == -1, "look-ahead stops", counter);
    }
  }
  expect(totp::find_counter(key, 0, 1, totp::kMaxLookAhead, candidates) == -1, "a code of no counter", 0);
  for (int i = 0; i < 10; ++i) expect(candidates[i] == static_cast<int32_t>(codes[i]), "candidates hold the counters' codes", i);
  expect(totp::fingerprint(secret, 20) == 0xaff7fd2eu, "fingerprint known answer", totp::fingerprint(secret, 20));
  totp::wipe_key_state(&key);
}

// The single-block compressions (midstates, fingerprints) of the selected cores against the
// portable ones, on random states and blocks; and fingerprints of every length class (one block,
// two, many) on both paths.
void compress_agreement(int rounds) {
  for (int round = 0; round < rounds; ++round) {
    uint32_t words[16], a[8], b[8];
    for (uint32_t& w : words) w = static_cast<uint32_t>(next_random());
    for (int i = 0; i < 8; ++i) a[i] = b[i] = static_cast<uint32_t>(next_random());
    totp::active_cores().sha1_compress(a, words);
    totp::sha1_compress_portable(b, words);
    expect(std::memcmp(a, b, 5 * sizeof(uint32_t)) == 0, "SHA-1 compression agrees", round);
    totp::active_cores().sha256_compress(a, words);
    totp::sha256_compress_portable(b, words);
    expect(std::memcmp(a, b, sizeof a) == 0, "SHA-256 compression agrees", round);
  }
  uint8_t secret[300];
  for (std::size_t length : {std::size_t{0}, std::size_t{1}, std::size_t{33}, std::size_t{34}, std::size_t{97}, std::size_t{98}, sizeof secret}) {
    for (std::size_t i = 0; i < length; ++i) secret[i] = static_cast<uint8_t>(next_random());
    totp::select_cores(false);
    const uint32_t portable = totp::fingerprint(length > 0 ? secret : nullptr, length);
    totp::select_cores(true);
    expect(totp::fingerprint(length > 0 ? secret : nullptr, length) == portable, "fingerprint agrees", length);
  }
}

// decode_base32: the rules of src/base32.ts decodeBase32 (test/native-boundary.test.ts holds the two
// to each other on fuzzed text; these are the cases worth naming).
void base32_cases() {
  struct Case {
    const char* text;
    const char* bytes;  // nullptr: refused
  };
  const Case cases[] = {
      {"GEZDGNBVGY3TQOJQ", "1234567890"},
      {"gezdgnbv gy3tqojq", "1234567890"},
      {"GEZA====", "12"},
      {"GEZA= = ", "12"},
      {"", ""},
      {"GEZA=A", nullptr},         // data after padding
      {"GEZ", nullptr},            // 3 symbols: no byte string has them
      {"G", nullptr},
      {"GEZDGN", nullptr},         // 6 symbols
      {"GEZDGNB1", nullptr},       // '1' is not base32
      {"GEZDGNB-", nullptr},
  };
  for (const Case& c : cases) {
    char16_t text[64];
    const std::size_t length = std::strlen(c.text);
    for (std::size_t i = 0; i < length; ++i) text[i] = static_cast<char16_t>(c.text[i]);
    uint8_t out[64];
    std::size_t out_length = 99;
    const bool ok = totp::decode_base32(text, length, out, sizeof out, &out_length);
    expect(ok == (c.bytes != nullptr), "base32 accepts or refuses", length);
    if (ok && c.bytes != nullptr) {
      expect(out_length == std::strlen(c.bytes) && std::memcmp(out, c.bytes, out_length) == 0, "base32 bytes", length);
    }
  }
  // A character whose low byte is a base32 letter ('Ł' is U+0141) is refused, not read as 'A'.
  const char16_t latin[] = {u'G', u'E', u'Z', u'\u0141'};
  uint8_t out[8];
  std::size_t out_length = 0;
  expect(!totp::decode_base32(latin, 4, out, sizeof out, &out_length), "base32 refuses U+0141", 0x141);
  // Output that does not fit the capacity is refused, and what was written is wiped.
  const char16_t text[] = {u'G', u'E', u'Z', u'D', u'G', u'N', u'B', u'V'};
  std::memset(out, 0x55, sizeof out);
  expect(!totp::decode_base32(text, 8, out, 4, &out_length), "base32 capacity", 4);
  expect(out[0] == 0 && out[3] == 0 && out[4] == 0x55, "base32 wipes a refused output", out[0]);
}

// The key arena on its own: handles name their key until it is removed; a removed key's handle,
// a reused slot's old handle and made-up handles name nothing; chunks go back when empty (one
// kept); generations that reach the limit retire their slot instead of wrapping.
void arena_cases() {
  KeyState state;
  uint8_t secret[100];
  for (int i = 0; i < 100; ++i) secret[i] = static_cast<uint8_t>(i);
  totp::init_key_state(&state, Algorithm::kSha1, secret, 20, 6);
  {
    totp::KeyArena arena(next_random());
    const totp::Handle a = arena.add(state, secret, 20);
    const totp::Handle b = arena.add(state, secret, 100);  // longer than the slot holds: its own allocation
    expect(a != totp::kNoHandle && b != totp::kNoHandle && a != b, "arena adds", 0);
    expect(a < (uint64_t{1} << 53) && b < (uint64_t{1} << 53), "handles are 53-bit", a);
    totp::StoredKey* key = arena.find(b);
    expect(key != nullptr && key->secret_length == 100 && std::memcmp(key->secret(), secret, 100) == 0, "arena keeps the secret", 100);
    expect(arena.find(a) != nullptr && std::memcmp(arena.find(a)->secret(), secret, 20) == 0, "inline secret", 20);
    expect(arena.remove(a), "remove", 0);
    expect(!arena.remove(a) && arena.find(a) == nullptr, "removed key refused", 0);
    const totp::Handle c = arena.add(state, secret, 20);  // takes a's slot
    expect(((a ^ c) & 0xffffff) == 0 && a != c, "the slot is reused with a new generation", c);
    expect(arena.find(a) == nullptr && arena.find(c) != nullptr, "the old handle names nothing", 0);
    for (totp::Handle forged : {totp::Handle{0}, c + 1, c - 1, c ^ (uint64_t{1} << 30), totp::kNoHandle, uint64_t{1} << 53}) {
      expect(arena.find(forged) == nullptr && !arena.remove(forged), "forged handle refused", forged);
    }
    expect(arena.live_keys() == 2 && arena.mapped_chunks() == 1, "counts", arena.live_keys());
    arena.remove(b);
    arena.remove(c);
    expect(arena.live_keys() == 0 && arena.mapped_chunks() == 1, "an empty chunk is kept", arena.mapped_chunks());
  }
  {
    // 1,000 keys over 4 chunks; removing all but the first gives back every chunk but the
    // first and one spare, and new keys fill the bottom chunk first.
    totp::KeyArena arena(next_random());
    totp::Handle handles[1000];
    for (totp::Handle& h : handles) h = arena.add(state, secret, 16);
    expect(arena.mapped_chunks() == 4, "chunks grow", arena.mapped_chunks());
    for (int i = 999; i >= 1; --i) arena.remove(handles[i]);
    expect(arena.mapped_chunks() == 2, "chunks given back, one spare kept", arena.mapped_chunks());
    for (int i = 1; i < 256; ++i) handles[i] = arena.add(state, secret, 16);
    expect(arena.mapped_chunks() == 2, "the bottom chunk fills first", arena.mapped_chunks());
    arena.clear();
    expect(arena.live_keys() == 0 && arena.mapped_chunks() == 0 && arena.find(handles[0]) == nullptr, "clear", 0);
  }
  {
    // Generation limit 2: each slot serves generations 0, 1 and 2, then retires.
    totp::KeyArena arena(0, 2);
    totp::Handle seen[8];
    for (int i = 0; i < 8; ++i) {
      seen[i] = arena.add(state, secret, 16);
      arena.remove(seen[i]);
    }
    // The first slot served three keys; the fourth key went to the next slot.
    expect(((seen[0] ^ seen[2]) & 0xffffff) == 0 && ((seen[0] ^ seen[3]) & 0xffffff) != 0, "a slot retires at the limit", seen[3]);
    for (int i = 0; i < 8; ++i) {
      for (int j = 0; j < i; ++j) expect(seen[i] != seen[j], "no handle is issued twice", i);
    }
  }
  totp::wipe_key_state(&state);
}

// Random keys (1-300 bytes: shorter than, equal to and longer than a block), counters and
// windows; the selected cores must agree with the portable ones on every code and every
// find_code result, including the candidate slots it wrote.
void random_agreement(int rounds) {
  uint8_t secret[300];
  for (int round = 0; round < rounds; ++round) {
    const auto algorithm = static_cast<Algorithm>(next_random() % 3);
    const std::size_t length = 1 + next_random() % sizeof secret;
    for (std::size_t i = 0; i < length; ++i) secret[i] = static_cast<uint8_t>(next_random());
    const uint32_t digits = 6 + next_random() % 3;
    KeyState key;
    totp::init_key_state(&key, algorithm, secret, length, digits);
    const int64_t counter = static_cast<int64_t>(next_random() % (1ull << 53)) >> (next_random() % 53);
    const int window = static_cast<int>(next_random() % (totp::kMaxWindow + 1));

    totp::select_cores(false);
    int32_t expected_slots[totp::kMaxCandidates];
    const uint32_t expected_code = totp::code_at(key, static_cast<uint64_t>(counter));
    const int64_t target_step = counter + static_cast<int64_t>(next_random() % (2 * window + 3)) - window - 1;
    const uint32_t wanted = target_step >= 0 ? totp::code_at(key, static_cast<uint64_t>(target_step)) : 123456;
    const int expected_index = totp::find_code(key, counter, wanted, window, expected_slots);

    totp::select_cores(true);
    int32_t slots[totp::kMaxCandidates];
    expect(totp::code_at(key, static_cast<uint64_t>(counter)) == expected_code, "code_at agrees", round);
    const int index = totp::find_code(key, counter, wanted, window, slots);
    expect(index == expected_index, "find_code index agrees", round);
    const int written = index < 0 ? 2 * window + 1 : index + 1;
    expect(std::memcmp(slots, expected_slots, sizeof(int32_t) * written) == 0, "candidate slots agree", round);
    // Slot i is the code of step counter + delta(i), delta = 0, -1, +1, -2, +2, ...
    for (int i = 0; i < written; ++i) {
      const int64_t step = counter + (i == 0 ? 0 : (i % 2 == 1 ? -(i + 1) / 2 : i / 2));
      const int32_t want = step < 0 ? totp::kNoCode : static_cast<int32_t>(totp::code_at(key, static_cast<uint64_t>(step)));
      expect(slots[i] == want, "slot holds its step's code", round);
    }
    // The HOTP look-ahead from the same counter: candidate i is counter + i, on both paths.
    const int look_ahead = static_cast<int>(next_random() % (totp::kMaxLookAhead + 1));
    const uint32_t ahead = totp::code_at(key, static_cast<uint64_t>(counter) + next_random() % (look_ahead + 2));
    int32_t forward[totp::kMaxCandidates];
    const int forward_index = totp::find_counter(key, counter, ahead, look_ahead, forward);
    totp::select_cores(false);
    int32_t forward_portable[totp::kMaxCandidates];
    expect(totp::find_counter(key, counter, ahead, look_ahead, forward_portable) == forward_index, "find_counter agrees", round);
    const int forward_written = forward_index < 0 ? look_ahead + 1 : forward_index + 1;
    for (int i = 0; i < forward_written; ++i) {
      expect(forward[i] == static_cast<int32_t>(totp::code_at(key, static_cast<uint64_t>(counter) + i)), "look-ahead slot", round);
    }
    totp::select_cores(true);
    totp::wipe_key_state(&key);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 20000;
  totp::select_cores(true);
  std::printf("cores: %s (CPU extensions %s)\n", totp::active_cores().name,
              totp::cpu_extensions_available() ? "available" : "not available");
  for (bool accelerated : {false, true}) {
    totp::select_cores(accelerated);
    rfc6238_vectors();
    rfc4226_vectors();
  }
  totp::select_cores(true);
  compress_agreement(rounds);
  base32_cases();
  arena_cases();
  random_agreement(rounds);
  if (failures > 0) {
    std::fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  std::printf("ok: RFC 6238 and RFC 4226 vectors on every path, %d random keys agree, arena and base32 cases pass\n", rounds);
  return 0;
}
