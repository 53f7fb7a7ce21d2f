#!/usr/bin/env bash
# Builds and runs the native self-test (cores_test.cc) on every hash-core path this machine can
# reach: the host build (SHA-NI vs portable on x86), an AddressSanitizer + UBSan build, and an
# aarch64 build under qemu (ARMv8 SHA extensions vs portable) when the cross compiler and qemu
# are installed (apt: g++-aarch64-linux-gnu qemu-user). REQUIRE_ARM=1 makes their absence fatal.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sources=("$here/cores_test.cc" "$here"/../base32.cc "$here"/../key_arena.cc "$here"/../hmac_totp.cc "$here"/../cpu_dispatch.cc "$here"/../sha_portable.cc "$here"/../sha_x86.cc "$here"/../sha_arm.cc)
flags=(-std=c++17 -Wall -Wextra -Werror)

echo "native self-test: host ($(uname -m))"
g++ "${flags[@]}" -O2 "${sources[@]}" -o "$out/host"
"$out/host" 20000

echo "native self-test: host with AddressSanitizer and UndefinedBehaviorSanitizer"
g++ "${flags[@]}" -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all "${sources[@]}" -o "$out/sanitized"
"$out/sanitized" 5000

if command -v aarch64-linux-gnu-g++ >/dev/null && command -v qemu-aarch64 >/dev/null; then
  echo "native self-test: aarch64 under qemu"
  aarch64-linux-gnu-g++ "${flags[@]}" -O2 -static "${sources[@]}" -o "$out/arm64"
  qemu-aarch64 "$out/arm64" 5000 | tee "$out/arm64.log"
  grep -q '^cores: armv8' "$out/arm64.log" || { echo "the aarch64 build did not select the ARMv8 cores" >&2; exit 1; }
elif [ "${REQUIRE_ARM:-0}" = 1 ]; then
  echo "aarch64-linux-gnu-g++ and qemu-aarch64 are required (apt: g++-aarch64-linux-gnu qemu-user)" >&2
  exit 1
else
  echo "native self-test: aarch64 skipped (install g++-aarch64-linux-gnu and qemu-user to run it)"
fi
