// The Node-API surface: module-level functions over one KeyArena per environment (key_arena.h),
// plus one-shot functions that keep nothing. Written against the C API so that every call that
// can fail is checked where it is made (a failure becomes a pending JavaScript exception, never
// an abort: exceptions are off, Node's common.gypi passes -fno-exceptions).
//
// Why module functions taking a handle: the functions are made once per environment, so every
// key goes through the same call target (V8 keeps the call site in TotpKey#check monomorphic
// with any number of keys), and creating a key makes no JavaScript object at all, where the
// per-key functions with finalizers this addon used to return cost tens of microseconds to make
// and an External with a finalizer about two (bench/crossing/run.mjs times the alternatives).
// Each call checks its handle (key_arena.cc: a mask, a bounds check, a generation compare).
//
// How numbers get here: through `args`, a Float64Array over this environment's CallBlock, which
// the TypeScript side (src/engine/native.ts) fills right before calling a function that takes
// no JavaScript argument but the secret, if any. Node-API reads each argument with a checked call
// of its own; measured by bench/crossing/run.mjs, a call with four number arguments costs about
// half as much again as the same call with none after four typed-array stores (e.g. 39 against
// 26 ns), a tenth of a cold verification.
// Results come back as the return value, or in `scratch` (the window's codes, a fingerprint).
// Every number read from `args` is checked here as an argument would be (a whole number in
// range; NaN, infinities and fractions refused), so the block is no way around the checks.
//
// The TypeScript layer (src/engine/native.ts, src/key.ts, src/once.ts) validates every argument;
// the checks here keep a wrong call from touching memory it should not and make it throw.
#include <node_api.h>

#include <cfloat>
#include <ctime>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include "base32.h"
#include "hmac_totp.h"
#include "key_arena.h"
#include "secure_wipe.h"
#include "sha_cores.h"

#if defined(__linux__)
#include <sys/random.h>  // GRND_NONBLOCK
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#include <cstdlib>
#endif

namespace {

using totp::Algorithm;
using totp::Handle;
using totp::KeyState;
using totp::StoredKey;

// Bumped whenever the functions below change their arguments or results: the TypeScript layer
// refuses an addon built from other sources (a stale build/ or prebuild) rather than misuse it.
constexpr uint32_t kInterfaceVersion = 3;

// Secret lengths the addon takes (RFC 4226 §4 R6 asks for 128 bits at least). Exported, and the
// loader checks them against MIN_SECRET_BYTES / MAX_SECRET_BYTES in src/options.ts.
constexpr std::size_t kMinSecretBytes = 16;
constexpr std::size_t kMaxSecretBytes = 1024;
// Base32 text longer than this (in UTF-16 units) is left to the TypeScript decoder.
constexpr std::size_t kMaxBase32Units = 2048;

// `args` holds a call's numbers, each in the slot of its role; `scratch` its extra results:
// findCode writes the window's codes to slots 0..2*window, createKey the new key's fingerprint
// to kFingerprintSlot. JavaScript copies what it needs right after the call.
constexpr int kArgSlots = 8;
constexpr int kArgCounter = 0;    // a TOTP step or HOTP counter
constexpr int kArgCode = 1;       // the code looked for
constexpr int kArgSpan = 2;       // the TOTP window, or the HOTP look-ahead
constexpr int kArgKey = 3;        // a key's handle, or the algorithm of a key being made
constexpr int kArgDigits = 4;     // the digits of a key being made
constexpr int kFingerprintSlot = totp::kMaxCandidates;
constexpr int kScratchSlots = totp::kMaxCandidates + 1;

// One environment's exchange memory with JavaScript, exposed as one external ArrayBuffer. No
// over-alignment (alignas beyond 16): `new Addon` would then need C++17's aligned operator new,
// from a libstdc++ newer (CXXABI_1.3.11) than the prebuilds' floor (scripts/prebuild.mjs).
struct CallBlock {
  double args[kArgSlots];
  int32_t scratch[kScratchSlots];
};

// Returned instead of a handle, slot or code when a secret is not one the addon takes: base32
// text it does not decode, or a length outside kMinSecretBytes..kMaxSecretBytes. The TypeScript
// layer then finds the precise error (src/secret.ts secretBytes).
constexpr int32_t kSecretRefused = -2;

// One per environment (the main thread, each worker): its keys and its exchange memory. Freed
// when both of its holders are gone: the environment (instance data) and the CallBlock's
// ArrayBuffer, which may outlive the environment's teardown by a little.
struct Addon {
  explicit Addon(uint64_t mask) : arena(mask) {}
  totp::KeyArena arena;
  CallBlock block = {};
  int holders = 0;
};

// Tells V8 how much memory the arena maps, so that it counts the keys' native state when it
// decides to collect: a program that drops keys without destroy() gets them collected (and their
// chunks given back) as its arena grows, not only when the JavaScript heap does. Called after
// every add and remove; it calls into V8 only when a chunk was mapped or given back.
void report_arena(napi_env env, Addon* addon, std::size_t mapped_before) {
  const std::size_t mapped = addon->arena.mapped_bytes();
  if (mapped == mapped_before) return;
  int64_t total = 0;
  // The adjustment only steers the garbage collector: a failure is not worth an exception.
  (void)napi_adjust_external_memory(env, static_cast<int64_t>(mapped) - static_cast<int64_t>(mapped_before), &total);
}

void release(Addon* addon) {
  if (--addon->holders > 0) return;
  totp::secure_wipe(&addon->block, sizeof addon->block);
  delete addon;
}

// 64 bits from the OS for the arena's handle mask. Not a secret against code in the process:
// it only makes a guessed handle unlikely to name a live key. If the OS gives nothing, a clock
// and an address stand in (handles stay checked either way).
uint64_t random_mask(const void* salt) {
  uint64_t value = 0;
#if defined(__linux__) && defined(SYS_getrandom)
  // The system call itself, not glibc's getrandom() wrapper: that one needs glibc 2.25, above the
  // prebuilds' floor (scripts/prebuild.mjs), while the call exists since Linux 3.17.
  if (syscall(SYS_getrandom, &value, sizeof value, GRND_NONBLOCK) == static_cast<long>(sizeof value)) return value;
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
  arc4random_buf(&value, sizeof value);
  return value;
#endif
  // The C library's clocks, not std::chrono's: that would need a newer libstdc++ (GLIBCXX_3.4.19)
  // than the prebuilds' floor (scripts/prebuild.mjs) for a fallback that should never run.
  value = (static_cast<uint64_t>(std::time(nullptr)) << 20) ^ static_cast<uint64_t>(std::clock()) ^ reinterpret_cast<uintptr_t>(salt);
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;  // splitmix64's finaliser
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
  return value ^ (value >> 31);
}

// ---- errors -------------------------------------------------------------------------------------

enum class ErrorKind { kError, kTypeError, kRangeError };

// Throws unless an exception is pending already (the first one says what went wrong). If even
// the throw fails (no memory left), the call returns undefined, which every caller in src/
// reads as no match: comparisons are written to fail closed.
void throw_error(napi_env env, ErrorKind kind, const char* message) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  switch (kind) {
    case ErrorKind::kTypeError:
      napi_throw_type_error(env, nullptr, message);
      return;
    case ErrorKind::kRangeError:
      napi_throw_range_error(env, nullptr, message);
      return;
    case ErrorKind::kError:
      napi_throw_error(env, nullptr, message);
      return;
  }
}

// True when a Node-API call succeeded; otherwise makes sure an exception is pending.
bool succeeded(napi_env env, napi_status status) {
  if (status == napi_ok) return true;
  const napi_extended_error_info* info = nullptr;
  const char* message = napi_get_last_error_info(env, &info) == napi_ok && info != nullptr && info->error_message != nullptr
                            ? info->error_message
                            : "a Node-API call failed";
  throw_error(env, ErrorKind::kError, message);
  return false;
}

// ---- arguments ----------------------------------------------------------------------------------

// What a call brings: its environment's Addon (the function's data) and at most one JavaScript
// argument (a secret); its numbers are in addon->block.args.
struct Call {
  Addon* addon = nullptr;
  napi_value argument = nullptr;
  const double* args = nullptr;
};

// `with_argument`: whether the function takes its JavaScript argument (the others read none).
bool read_call(napi_env env, napi_callback_info info, Call* call, bool with_argument = false) {
  std::size_t argc = with_argument ? 1 : 0;
  napi_value argv[1] = {nullptr};
  void* data = nullptr;
  if (!succeeded(env, napi_get_cb_info(env, info, &argc, with_argument ? argv : nullptr, nullptr, &data))) return false;
  call->addon = static_cast<Addon*>(data);
  call->argument = argv[0];  // undefined when the call had none (Node-API fills missing arguments)
  call->args = call->addon->block.args;
  return true;
}

constexpr double kTwoTo53 = 9007199254740992.0;
constexpr double kTwoTo63 = 9223372036854775808.0;

// Whether `number` is a whole number in [min, max], for bounds within +-2^63: NaN fails the
// comparisons, and a fraction does not survive the round trip through int64. (Not std::floor:
// without SSE4.1 enabled for the whole addon that is a libm call, several per crossing.)
bool whole_in(double number, double min, double max) {
  return number >= min && number <= max && static_cast<double>(static_cast<int64_t>(number)) == number;
}

// A whole number in [min, max], or false with a RangeError.
bool read_whole(napi_env env, double number, const char* usage, double min, double max, int64_t* out) {
  if (!whole_in(number, min, max)) {
    throw_error(env, ErrorKind::kRangeError, usage);
    return false;
  }
  *out = static_cast<int64_t>(number);
  return true;
}

// A counter: a whole number from 0; finite values from 2^63 up (all whole) count as 2^63 - 1:
// no step or HOTP counter a JavaScript number can hold exactly is that large.
bool read_counter(napi_env env, double number, const char* usage, int64_t* out) {
  if (number >= kTwoTo63 && number <= DBL_MAX) {
    *out = INT64_MAX;
    return true;
  }
  return read_whole(env, number, usage, 0, kTwoTo63, out);
}

// Whether `number` can be a handle: a whole number below 2^53. Anything else names no key.
bool handle_number(double number) { return whole_in(number, 0, kTwoTo53 - 1); }

// The live key args[kArgKey] names, or nullptr with an Error pending. A number that is not a
// handle is refused like a stale one.
StoredKey* read_key(napi_env env, const Call& call) {
  const double number = call.args[kArgKey];
  const bool handle = handle_number(number);
  StoredKey* key = handle ? call.addon->arena.find(static_cast<Handle>(number)) : nullptr;
  if (key == nullptr) throw_error(env, ErrorKind::kError, "not a live key (destroyed, or not made by this addon)");
  return key;
}

// Algorithm and digits of createKey and the one-shot functions.
bool read_parameters(napi_env env, const Call& call, const char* usage, Algorithm* algorithm, uint32_t* digits) {
  int64_t a = 0, d = 0;
  if (!read_whole(env, call.args[kArgKey], usage, 0, static_cast<double>(Algorithm::kSha512), &a) ||
      !read_whole(env, call.args[kArgDigits], usage, 6, 8, &d)) {
    return false;
  }
  *algorithm = static_cast<Algorithm>(a);
  *digits = static_cast<uint32_t>(d);
  return true;
}

// A secret argument: a Uint8Array (read in place) or base32 text (decoded here). Its copies are
// wiped when this goes out of scope.
class Secret {
 public:
  enum class Status { kOk, kRefused, kFailed };

  Secret() = default;
  ~Secret() {
    if (text_units_ > 0) totp::secure_wipe(text_, text_units_ * sizeof text_[0]);
    if (data_ == decoded_) totp::secure_wipe(decoded_, length_);
  }
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  // kFailed: a TypeError (or a failed Node-API call) is pending. Text is tried first, and a
  // typed array second, each by the call that reads it (its status says when it is not one).
  Status read(napi_env env, napi_value value) {
    std::size_t units = 0;
    const napi_status text = napi_get_value_string_utf16(env, value, text_, kMaxBase32Units, &units);
    if (text == napi_ok) return decode_text(units);
    if (text != napi_string_expected) {
      (void)succeeded(env, text);  // leaves the failure pending as an exception
      return Status::kFailed;
    }
    napi_typedarray_type array_type = napi_int8_array;
    void* data = nullptr;
    const napi_status bytes = napi_get_typedarray_info(env, value, &array_type, &length_, &data, nullptr, nullptr);
    if (bytes == napi_invalid_arg || (bytes == napi_ok && array_type != napi_uint8_array)) {
      throw_error(env, ErrorKind::kTypeError, "a secret is a Uint8Array or base32 text");
      return Status::kFailed;
    }
    if (!succeeded(env, bytes)) return Status::kFailed;
    data_ = static_cast<const uint8_t*>(data);
    return length_ >= kMinSecretBytes && length_ <= kMaxSecretBytes ? Status::kOk : Status::kRefused;
  }

  const uint8_t* data() const { return data_; }
  std::size_t length() const { return length_; }

 private:
  Status decode_text(std::size_t units) {
    text_units_ = units;
    // The buffer takes kMaxBase32Units - 1 units and a terminator: a full buffer may be cut short.
    if (units >= kMaxBase32Units - 1) return Status::kRefused;
    std::size_t length = 0;
    const bool decoded = totp::decode_base32(text_, units, decoded_, sizeof decoded_, &length);
    totp::secure_wipe(text_, units * sizeof text_[0]);
    text_units_ = 0;
    if (!decoded) return Status::kRefused;
    data_ = decoded_;
    length_ = length;
    return length >= kMinSecretBytes ? Status::kOk : Status::kRefused;
  }

  const uint8_t* data_ = nullptr;
  std::size_t length_ = 0;
  std::size_t text_units_ = 0;
  char16_t text_[kMaxBase32Units];
  uint8_t decoded_[kMaxSecretBytes];
};

// ---- results ------------------------------------------------------------------------------------

napi_value int_result(napi_env env, int32_t value) {
  napi_value out = nullptr;
  return succeeded(env, napi_create_int32(env, value, &out)) ? out : nullptr;
}

napi_value bool_result(napi_env env, bool value) {
  napi_value out = nullptr;
  return succeeded(env, napi_get_boolean(env, value, &out)) ? out : nullptr;
}

// ---- keys in the arena --------------------------------------------------------------------------

// createKey(secret: Uint8Array | string), args [-, -, -, algorithm: 0|1|2, digits: 6|7|8] -> handle, or -2
// when the secret is refused. Writes the key's fingerprint (hmac_totp.h) to scratch[kFingerprintSlot].
napi_value CreateKey(napi_env env, napi_callback_info info) {
  static const char kUsage[] = "createKey(secret: Uint8Array | string), args [-, -, -, algorithm: 0..2, digits: 6..8]";
  Call call;
  Algorithm algorithm;
  uint32_t digits = 0;
  if (!read_call(env, info, &call, true) || !read_parameters(env, call, kUsage, &algorithm, &digits)) return nullptr;
  Secret secret;
  switch (secret.read(env, call.argument)) {
    case Secret::Status::kFailed:
      return nullptr;
    case Secret::Status::kRefused:
      return int_result(env, kSecretRefused);
    case Secret::Status::kOk:
      break;
  }
  KeyState state;
  totp::init_key_state(&state, algorithm, secret.data(), secret.length(), digits);
  const uint32_t id = totp::fingerprint(secret.data(), secret.length());
  const std::size_t mapped = call.addon->arena.mapped_bytes();
  const Handle handle = call.addon->arena.add(state, secret.data(), secret.length());
  totp::wipe_key_state(&state);
  report_arena(env, call.addon, mapped);
  if (handle == totp::kNoHandle) {
    throw_error(env, ErrorKind::kError, "createKey: out of memory for keys");
    return nullptr;
  }
  napi_value out = nullptr;
  if (!succeeded(env, napi_create_double(env, static_cast<double>(handle), &out))) {
    const std::size_t before_remove = call.addon->arena.mapped_bytes();
    call.addon->arena.remove(handle);
    report_arena(env, call.addon, before_remove);
    return nullptr;
  }
  call.addon->block.scratch[kFingerprintSlot] = static_cast<int32_t>(id);
  return out;
}

// A search's numbers: the counter, the code, and the window or look-ahead (up to `max_span`).
struct Search {
  int64_t counter = 0;
  int64_t code = 0;
  int64_t span = 0;
};

bool read_search(napi_env env, const Call& call, int max_span, const char* usage, Search* out) {
  return read_counter(env, call.args[kArgCounter], usage, &out->counter) &&
         read_whole(env, call.args[kArgCode], usage, 0, INT32_MAX, &out->code) &&
         read_whole(env, call.args[kArgSpan], usage, 0, max_span, &out->span);
}

int find_code(const KeyState& state, const Search& search, int32_t* candidates) {
  return totp::find_code(state, search.counter, static_cast<uint32_t>(search.code), static_cast<int>(search.span),
                         candidates);
}

// Runs an HOTP look-ahead on a stack buffer that is wiped after: nothing of it is kept.
int find_counter(const KeyState& state, const Search& search) {
  int32_t candidates[totp::kMaxCandidates];
  const int found = totp::find_counter(state, search.counter, static_cast<uint32_t>(search.code),
                                       static_cast<int>(search.span), candidates);
  totp::secure_wipe(candidates, sizeof candidates);
  return found;
}

// Every search on a stored key: the key, then the search's numbers, then `compute`.
template <typename Compute>
napi_value keyed(napi_env env, napi_callback_info info, const char* usage, int max_span, Compute compute) {
  Call call;
  if (!read_call(env, info, &call)) return nullptr;
  StoredKey* key = read_key(env, call);
  Search search;
  if (key == nullptr || !read_search(env, call, max_span, usage, &search)) return nullptr;
  return int_result(env, compute(key->state, search, call.addon->block.scratch));
}

// findCode(), args [counter, code, window, handle] -> index of the matching candidate, or -1.
// Candidate i is the step counter + delta(i), delta = 0, -1, +1, -2, +2, ...; written to scratch[i].
napi_value FindCode(napi_env env, napi_callback_info info) {
  return keyed(env, info, "findCode(), args [counter >= 0, code: 0..2^31-1, window: 0..10, handle]", totp::kMaxWindow,
               find_code);
}

// findCounter(), args [counter, code, lookAhead, handle] -> i such that counter + i matched, or -1.
napi_value FindCounter(napi_env env, napi_callback_info info) {
  return keyed(env, info, "findCounter(), args [counter >= 0, code: 0..2^31-1, lookAhead: 0..20, handle]",
               totp::kMaxLookAhead, [](const KeyState& state, const Search& search, int32_t*) { return find_counter(state, search); });
}

// Counter alone: the code at it.
int code_at(const KeyState& state, const Search& search) {
  return static_cast<int>(totp::code_at(state, static_cast<uint64_t>(search.counter)));
}

// codeAt(), args [counter, 0, 0, handle] -> the code for that counter, as a number.
napi_value CodeAt(napi_env env, napi_callback_info info) {
  return keyed(env, info, "codeAt(), args [counter >= 0, 0, 0, handle]", 0,
               [](const KeyState& state, const Search& search, int32_t*) { return code_at(state, search); });
}

// secretOf(), args [-, -, -, handle] -> a new Uint8Array holding the key's secret (for toBase32/toUri,
// which wipe it).
napi_value SecretOf(napi_env env, napi_callback_info info) {
  Call call;
  if (!read_call(env, info, &call)) return nullptr;
  StoredKey* key = read_key(env, call);
  if (key == nullptr) return nullptr;
  void* data = nullptr;
  napi_value buffer = nullptr, bytes = nullptr;
  if (!succeeded(env, napi_create_arraybuffer(env, key->secret_length, &data, &buffer))) return nullptr;
  std::memcpy(data, key->secret(), key->secret_length);
  if (!succeeded(env, napi_create_typedarray(env, napi_uint8_array, key->secret_length, buffer, 0, &bytes))) {
    totp::secure_wipe(data, key->secret_length);  // unreachable by JavaScript now, and not left behind
    return nullptr;
  }
  return bytes;
}

// destroyKey(), args [-, -, -, handle] -> true when it wiped a live key; false when the handle
// names none (a key destroyed already, whose FinalizationRegistry entry fires later). Never throws.
napi_value DestroyKey(napi_env env, napi_callback_info info) {
  Call call;
  if (!read_call(env, info, &call)) return nullptr;
  const double number = call.args[kArgKey];
  const bool handle = handle_number(number);
  const std::size_t mapped = call.addon->arena.mapped_bytes();
  const bool removed = handle && call.addon->arena.remove(static_cast<Handle>(number));
  report_arena(env, call.addon, mapped);
  return bool_result(env, removed);
}

// arenaStats() -> { liveKeys, chunks, bytes }: for the tests and scripts/memory.mjs.
napi_value ArenaStats(napi_env env, napi_callback_info info) {
  Call call;
  if (!read_call(env, info, &call)) return nullptr;
  const totp::KeyArena& arena = call.addon->arena;
  napi_value out = nullptr, live = nullptr, chunks = nullptr, bytes = nullptr;
  if (!succeeded(env, napi_create_object(env, &out)) ||
      !succeeded(env, napi_create_double(env, static_cast<double>(arena.live_keys()), &live)) ||
      !succeeded(env, napi_create_double(env, static_cast<double>(arena.mapped_chunks()), &chunks)) ||
      !succeeded(env, napi_create_double(env, static_cast<double>(arena.mapped_bytes()), &bytes)) ||
      !succeeded(env, napi_set_named_property(env, out, "liveKeys", live)) ||
      !succeeded(env, napi_set_named_property(env, out, "chunks", chunks)) ||
      !succeeded(env, napi_set_named_property(env, out, "bytes", bytes))) {
    return nullptr;
  }
  return out;
}

// ---- one-shot: nothing kept ---------------------------------------------------------------------

// The key state of a one-shot call, wiped when it goes out of scope.
struct TransientKey {
  KeyState state;
  ~TransientKey() { totp::wipe_key_state(&state); }
};

// Reads the secret argument, the algorithm and the digits into `key`. Returns false with an
// exception pending, or sets *refused for a secret the addon does not take.
bool read_transient(napi_env env, const Call& call, const char* usage, TransientKey* key, bool* refused) {
  Algorithm algorithm;
  uint32_t digits = 0;
  if (!read_parameters(env, call, usage, &algorithm, &digits)) return false;
  Secret secret;
  const Secret::Status status = secret.read(env, call.argument);
  if (status == Secret::Status::kFailed) return false;
  *refused = status == Secret::Status::kRefused;
  if (!*refused) totp::init_key_state(&key->state, algorithm, secret.data(), secret.length(), digits);
  return true;
}

// Every one-shot call: its search, then its secret into a transient key (wiped on return), then
// `compute`; a refused secret gives kSecretRefused. What `compute` writes stays on the stack and is
// wiped by it.
template <typename Compute>
napi_value one_shot(napi_env env, napi_callback_info info, const char* usage, int max_span, Compute compute) {
  Call call;
  Search search;
  if (!read_call(env, info, &call, true) || !read_search(env, call, max_span, usage, &search)) return nullptr;
  TransientKey key;
  bool refused = false;
  if (!read_transient(env, call, usage, &key, &refused)) return nullptr;
  if (refused) return int_result(env, kSecretRefused);
  return int_result(env, compute(key.state, search));
}

// findCodeOnce(secret), args [counter, code, window, algorithm, digits] -> findCode's answer, or -2.
napi_value FindCodeOnce(napi_env env, napi_callback_info info) {
  return one_shot(env, info,
                  "findCodeOnce(secret: Uint8Array | string), args [counter >= 0, code: 0..2^31-1, window: 0..10, algorithm, digits]",
                  totp::kMaxWindow, [](const KeyState& state, const Search& search) {
                    int32_t candidates[totp::kMaxCandidates];
                    const int found = find_code(state, search, candidates);
                    totp::secure_wipe(candidates, sizeof candidates);
                    return found;
                  });
}

// findCounterOnce(secret), args [counter, code, lookAhead, algorithm, digits] -> findCounter's answer, or -2.
napi_value FindCounterOnce(napi_env env, napi_callback_info info) {
  return one_shot(
      env, info,
      "findCounterOnce(secret: Uint8Array | string), args [counter >= 0, code: 0..2^31-1, lookAhead: 0..20, algorithm, digits]",
      totp::kMaxLookAhead, find_counter);
}

// codeOnce(secret), args [counter, 0, 0, algorithm, digits] -> the code, or -2.
napi_value CodeOnce(napi_env env, napi_callback_info info) {
  return one_shot(env, info, "codeOnce(secret: Uint8Array | string), args [counter >= 0, 0, 0, algorithm, digits]", 0,
                  code_at);
}

// ---- the process: hash cores ----------------------------------------------------------------------

// cpu() -> { sha1, sha256, sha512, extensionsAvailable }: which cores run, for the bench and tests.
napi_value Cpu(napi_env env, napi_callback_info) {
  const totp::HashCores& cores = totp::active_cores();
  napi_value out = nullptr, sha1 = nullptr, sha256 = nullptr, sha512 = nullptr, available = nullptr;
  if (!succeeded(env, napi_create_object(env, &out)) ||
      !succeeded(env, napi_create_string_utf8(env, cores.name, NAPI_AUTO_LENGTH, &sha1)) ||
      !succeeded(env, napi_create_string_utf8(env, cores.name, NAPI_AUTO_LENGTH, &sha256)) ||
      !succeeded(env, napi_create_string_utf8(env, "portable", NAPI_AUTO_LENGTH, &sha512)) ||
      !succeeded(env, napi_get_boolean(env, totp::cpu_extensions_available(), &available)) ||
      !succeeded(env, napi_set_named_property(env, out, "sha1", sha1)) ||
      !succeeded(env, napi_set_named_property(env, out, "sha256", sha256)) ||
      !succeeded(env, napi_set_named_property(env, out, "sha512", sha512)) ||
      !succeeded(env, napi_set_named_property(env, out, "extensionsAvailable", available))) {
    return nullptr;
  }
  return out;
}

// useCpuExtensions(allow: boolean): tests run every vector with and without them.
napi_value UseCpuExtensions(napi_env env, napi_callback_info info) {
  Call call;
  if (!read_call(env, info, &call, true)) return nullptr;
  bool allow = false;
  const napi_status status = napi_get_value_bool(env, call.argument, &allow);
  if (status == napi_boolean_expected) {
    throw_error(env, ErrorKind::kTypeError, "useCpuExtensions(allow: boolean)");
    return nullptr;
  }
  if (!succeeded(env, status)) return nullptr;
  totp::select_cores(allow);
  return nullptr;
}

// ---- module -----------------------------------------------------------------------------------------

napi_value number_value(napi_env env, double value) {
  napi_value out = nullptr;
  return succeeded(env, napi_create_double(env, value, &out)) ? out : nullptr;
}

// The CallBlock's two views over memory the addon owns: JavaScript reads and writes them, the
// addon reads and writes the memory without asking JavaScript where it is. Node 20 copies an
// external buffer named in a transfer list rather than detaching it, and the TypeScript layer
// never hands the views out; whatever happens to the ArrayBuffer, the memory stays the addon's
// until its last holder lets go.
bool create_views(napi_env env, Addon* addon, napi_value* args, napi_value* scratch) {
  napi_value buffer = nullptr;
  const napi_status status = napi_create_external_arraybuffer(
      env, &addon->block, sizeof addon->block, [](napi_env, void*, void* hint) { release(static_cast<Addon*>(hint)); },
      addon, &buffer);
  if (!succeeded(env, status)) return false;  // e.g. a runtime that forbids external buffers
  ++addon->holders;                            // only now is the finalizer certain to run
  return succeeded(env, napi_create_typedarray(env, napi_float64_array, kArgSlots, buffer, offsetof(CallBlock, args), args)) &&
         succeeded(env, napi_create_typedarray(env, napi_int32_array, kScratchSlots, buffer, offsetof(CallBlock, scratch),
                                               scratch));
}

// Runs once per environment (the main thread and each worker). The hash cores are chosen on first
// use, process-wide, so a worker loading the addon does not undo a choice made elsewhere.
napi_value Init(napi_env env, napi_value exports) {
  auto* addon = new (std::nothrow) Addon(random_mask(&env));
  if (addon == nullptr) {
    throw_error(env, ErrorKind::kError, "the addon could not allocate its state");
    return nullptr;
  }
  const napi_status status = napi_set_instance_data(
      env, addon,
      [](napi_env, void* data, void*) {
        auto* held = static_cast<Addon*>(data);
        held->arena.clear();  // wipes every key left now, not when the CallBlock buffer goes
        release(held);
      },
      nullptr);
  if (!succeeded(env, status)) {
    delete addon;
    return nullptr;
  }
  addon->holders = 1;

  napi_value args = nullptr, scratch = nullptr;
  if (!create_views(env, addon, &args, &scratch)) return nullptr;
  const napi_value version = number_value(env, kInterfaceVersion);
  const napi_value max_window = number_value(env, totp::kMaxWindow);
  const napi_value min_secret = number_value(env, static_cast<double>(kMinSecretBytes));
  const napi_value max_secret = number_value(env, static_cast<double>(kMaxSecretBytes));
  if (version == nullptr || max_window == nullptr || min_secret == nullptr ||
      max_secret == nullptr) {
    return nullptr;
  }
  const auto method = [addon](const char* name, napi_callback callback) {
    return napi_property_descriptor{name, nullptr, callback, nullptr, nullptr, nullptr, napi_enumerable, addon};
  };
  const auto value = [](const char* name, napi_value v) {
    return napi_property_descriptor{name, nullptr, nullptr, nullptr, nullptr, v, napi_enumerable, nullptr};
  };
  const napi_property_descriptor properties[] = {
      value("interfaceVersion", version),
      value("maxWindow", max_window),
      value("minSecretBytes", min_secret),
      value("maxSecretBytes", max_secret),
      value("args", args),
      value("scratch", scratch),
      method("createKey", CreateKey),
      method("findCode", FindCode),
      method("findCounter", FindCounter),
      method("codeAt", CodeAt),
      method("secretOf", SecretOf),
      method("destroyKey", DestroyKey),
      method("findCodeOnce", FindCodeOnce),
      method("findCounterOnce", FindCounterOnce),
      method("codeOnce", CodeOnce),
      method("arenaStats", ArenaStats),
      method("cpu", Cpu),
      method("useCpuExtensions", UseCpuExtensions),
  };
  if (!succeeded(env, napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties))) {
    return nullptr;
  }
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() { return Init(env, exports); }
