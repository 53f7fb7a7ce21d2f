// Zeroes memory that held key material in a way the optimizer cannot remove as a dead store.
#pragma once
#include <cstddef>
#include <cstring>

#if defined(_MSC_VER)
#include <windows.h>
#endif

namespace totp {

inline void secure_wipe(void* data, std::size_t size) {
#if defined(_MSC_VER)
  SecureZeroMemory(data, size);
#else
  std::memset(data, 0, size);
  // An empty asm that takes the pointer and clobbers memory: the compiler must assume the zeros
  // are read, so the memset above is not a dead store it may drop.
  __asm__ __volatile__("" : : "r"(data) : "memory");
#endif
}

}  // namespace totp
