// The N-API surface. createKey() returns three functions bound to one key's native state
// (findCode, codeAt, destroy) and the key's candidate buffer, rather than a handle to pass back in.
//
// Why closures: the state pointer arrives with the call (napi callback data), so no argument has
// to be unwrapped and checked. Measured here, a call taking an External plus its type-tag check
// costs ~54 ns, an ObjectWrap method ~80 ns, a bound function taking numbers ~40 ns, and the
// crossing is most of the cost of a verification. Only functions made here carry the pointer, so
// nothing else can be mistaken for a key. The TypeScript layer (src/engine/native.ts) validates
// every argument; the checks here only keep a wrong call from touching memory it should not.
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <new>

#include "hmac_totp.h"
#include "secure_wipe.h"
#include "sha_cores.h"

namespace {

using totp::Algorithm;
using totp::KeyState;

// One key. find_code writes the window's codes into `candidates`, which JavaScript reads (and
// caches for the rest of the time step) through an Int32Array over this very memory. The memory
// is the addon's, not an ArrayBuffer's, so findCode writes it without asking JavaScript where
// it is: whatever happens to the ArrayBuffer (Node 20 copies an external buffer named in a
// transfer list rather than detaching it; the TypeScript layer never hands it out), the memory
// stays valid until the last of its holders (the three functions and the buffer) is collected.
struct NativeKey {
  KeyState state;
  int32_t candidates[totp::kMaxCandidates] = {};
  bool live = false;
  int holders = 0;

  void wipe() {
    totp::wipe_key_state(&state);
    totp::secure_wipe(candidates, sizeof candidates);
    live = false;
  }
};

void release(NativeKey* key) {
  if (--key->holders > 0) return;
  key->wipe();
  delete key;
}

// The key behind a call, or nullptr with a JavaScript exception pending once it was destroyed.
NativeKey* live_key(const Napi::CallbackInfo& info) {
  auto* key = static_cast<NativeKey*>(info.Data());
  if (!key->live) {
    Napi::Error::New(info.Env(), "the key was destroyed").ThrowAsJavaScriptException();
    return nullptr;
  }
  return key;
}

// Reads a whole-number argument. Node-API's conversion does not throw: a non-number is reported
// by status, a finite number beyond int64 saturates, and NaN or an infinity reads as 0.
bool int64_arg(const Napi::CallbackInfo& info, std::size_t index, int64_t* out) {
  return napi_get_value_int64(info.Env(), info[index], out) == napi_ok;
}

// findCode(counter, code, window) -> index of the matching candidate, or -1.
// Candidate i is the step counter + delta(i), with delta = 0, -1, +1, -2, +2, ...
Napi::Value FindCode(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  NativeKey* key = live_key(info);
  if (key == nullptr) return env.Undefined();
  int64_t counter = 0, code = 0, window = 0;
  if (!int64_arg(info, 0, &counter) || !int64_arg(info, 1, &code) || !int64_arg(info, 2, &window)) {
    Napi::TypeError::New(env, "findCode(counter, code, window) takes three numbers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // A code past 10^digits - 1 simply matches nothing; past 2^31 - 1 it is no code at all (and must
  // not wrap around onto one).
  if (counter < 0 || code < 0 || code > INT32_MAX || window < 0 || window > totp::kMaxWindow) {
    Napi::RangeError::New(env, "findCode: counter, code or window out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(
      env, totp::find_code(key->state, counter, static_cast<uint32_t>(code), static_cast<int>(window), key->candidates));
}

// codeAt(counter) -> the code for that counter, as a number.
Napi::Value CodeAt(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  NativeKey* key = live_key(info);
  if (key == nullptr) return env.Undefined();
  int64_t counter = 0;
  if (!int64_arg(info, 0, &counter)) {
    Napi::TypeError::New(env, "codeAt(counter) takes a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (counter < 0) {
    Napi::RangeError::New(env, "codeAt: counter out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, totp::code_at(key->state, static_cast<uint64_t>(counter)));
}

// destroy(): wipes the midstates now rather than at garbage collection. Idempotent.
Napi::Value Destroy(const Napi::CallbackInfo& info) {
  static_cast<NativeKey*>(info.Data())->wipe();
  return info.Env().Undefined();
}

Napi::Function bound_function(Napi::Env env, const char* name, Napi::Function::Callback callback, NativeKey* key) {
  Napi::Function fn = Napi::Function::New(env, callback, name, key);
  ++key->holders;
  fn.AddFinalizer([](Napi::Env, NativeKey* held) { release(held); }, key);
  return fn;
}

// createKey(algorithm: 0|1|2, secret: Uint8Array, digits: 6|7|8)
//   -> { findCode, codeAt, destroy, candidates: Int32Array(21) }
Napi::Value CreateKey(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsNumber() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "createKey(algorithm, secret: Uint8Array, digits)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint32_t algorithm = info[0].As<Napi::Number>().Uint32Value();
  const uint32_t digits = info[2].As<Napi::Number>().Uint32Value();
  if (algorithm > static_cast<uint32_t>(Algorithm::kSha512)) {
    Napi::RangeError::New(env, "createKey: unknown algorithm").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  auto* key = new (std::nothrow) NativeKey();
  if (key == nullptr) {
    Napi::Error::New(env, "createKey: out of memory").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const auto secret = info[1].As<Napi::Uint8Array>();
  if (!totp::init_key_state(&key->state, static_cast<Algorithm>(algorithm), secret.Data(), secret.ElementLength(),
                            digits)) {
    delete key;
    Napi::RangeError::New(env, "createKey: digits must be 6, 7 or 8").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  key->live = true;

  ++key->holders;
  auto buffer = Napi::ArrayBuffer::New(env, key->candidates, sizeof key->candidates,
                                       [](Napi::Env, void*, NativeKey* held) { release(held); }, key);
  if (env.IsExceptionPending()) {  // e.g. a runtime that forbids external buffers
    release(key);
    return env.Undefined();
  }
  Napi::Object functions = Napi::Object::New(env);
  functions.Set("findCode", bound_function(env, "findCode", FindCode, key));
  functions.Set("codeAt", bound_function(env, "codeAt", CodeAt, key));
  functions.Set("destroy", bound_function(env, "destroy", Destroy, key));
  functions.Set("candidates", Napi::Int32Array::New(env, totp::kMaxCandidates, buffer, 0));
  return functions;
}

// cpu() -> { sha1, sha256, sha512, available }: which cores run, for the bench header and tests.
Napi::Value Cpu(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const totp::HashCores& cores = totp::active_cores();
  Napi::Object out = Napi::Object::New(env);
  out.Set("sha1", cores.name);
  out.Set("sha256", cores.name);
  out.Set("sha512", "portable");
  out.Set("extensionsAvailable", totp::cpu_extensions_available());
  return out;
}

// useCpuExtensions(allow: boolean): tests run every vector with and without them.
Napi::Value UseCpuExtensions(const Napi::CallbackInfo& info) {
  totp::select_cores(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

// Bumped whenever the functions above change their arguments or results: the TypeScript layer
// refuses an addon built from other sources (a stale build/ or prebuild) rather than misuse it.
constexpr uint32_t kInterfaceVersion = 2;

// Runs once per environment (the main thread and each worker). The hash cores are chosen on first
// use, process-wide, so a worker loading the addon does not undo a choice made elsewhere.
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("interfaceVersion", Napi::Number::New(env, kInterfaceVersion));
  exports.Set("createKey", Napi::Function::New(env, CreateKey, "createKey"));
  exports.Set("cpu", Napi::Function::New(env, Cpu, "cpu"));
  exports.Set("useCpuExtensions", Napi::Function::New(env, UseCpuExtensions, "useCpuExtensions"));
  return exports;
}

}  // namespace

NODE_API_MODULE(totp_handshake, Init)
