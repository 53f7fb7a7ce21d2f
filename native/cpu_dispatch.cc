// Chooses the hash cores once, from what the CPU offers. Tests may switch to the portable cores
// to check that every path gives the same codes.
#include <atomic>

#include "sha_cores.h"

namespace totp {
namespace {

constexpr HashCores kPortable = {hmac_sha1_portable,          hmac_sha256_portable,          sha1_compress_portable,
                                 sha256_compress_portable,    sha1_compress_pair_portable,   sha256_compress_pair_portable,
                                 "portable"};
#if defined(TOTP_HAVE_X86_SHA)
constexpr HashCores kAccelerated = {hmac_sha1_x86,          hmac_sha256_x86,          sha1_compress_x86,
                                    sha256_compress_x86,    sha1_compress_pair_x86,   sha256_compress_pair_x86,
                                    "sha-ni"};
#elif defined(TOTP_HAVE_ARM_SHA)
constexpr HashCores kAccelerated = {hmac_sha1_arm,          hmac_sha256_arm,          sha1_compress_arm,
                                    sha256_compress_arm,    sha1_compress_pair_arm,   sha256_compress_pair_arm,
                                    "armv8"};
#endif

bool detect() {
#if defined(TOTP_HAVE_X86_SHA)
  return cpu_has_x86_sha();
#elif defined(TOTP_HAVE_ARM_SHA)
  return cpu_has_arm_sha();
#else
  return false;
#endif
}

const bool kCpuHasExtensions = detect();

// Process-wide: worker threads that load the addon share the choice.
std::atomic<const HashCores*> g_active{nullptr};

}  // namespace

bool cpu_extensions_available() { return kCpuHasExtensions; }

void select_cores(bool allow_cpu_extensions) {
#if defined(TOTP_HAVE_X86_SHA) || defined(TOTP_HAVE_ARM_SHA)
  if (allow_cpu_extensions && kCpuHasExtensions) {
    g_active.store(&kAccelerated, std::memory_order_relaxed);
    return;
  }
#else
  (void)allow_cpu_extensions;
#endif
  g_active.store(&kPortable, std::memory_order_relaxed);
}

const HashCores& active_cores() {
  const HashCores* cores = g_active.load(std::memory_order_relaxed);
  if (cores != nullptr) return *cores;
  select_cores(true);
  return *g_active.load(std::memory_order_relaxed);
}

}  // namespace totp
