// Native self-test, run without Node: every hash-core path against the portable C++ one, and all
// of them against the RFC 6238 Appendix B vectors. Built and run by native/test/run.sh for the
// host (x86 SHA-NI when present) and, under qemu, for aarch64 (ARMv8 SHA extensions), and under
// AddressSanitizer/UndefinedBehaviorSanitizer by `npm run test:sanitize`.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "../hmac_totp.h"
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
  }
  random_agreement(rounds);
  if (failures > 0) {
    std::fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  std::printf("ok: RFC 6238 vectors on every path, %d random keys agree\n", rounds);
  return 0;
}
