// Running the official arm64 Node on an x64 host: qemu-user (apt: qemu-user) with the arm64
// libraries of Debian's cross toolchain as the root for the dynamic loader and libstdc++
// (apt: libc6-arm64-cross, libstdc++6-arm64-cross, both pulled in by g++-aarch64-linux-gnu).
// QEMU_CPU=max: qemu's default CPU model for user mode may lack the ARMv8 SHA instructions, and
// the addon picks its hash cores from what the CPU reports (getauxval(AT_HWCAP)).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const SYSROOT = '/usr/aarch64-linux-gnu';

/** What is missing to run arm64 binaries here, with the package that provides it; [] when ready. */
export function missingForArm64() {
  const missing = [];
  if (spawnSync('sh', ['-c', 'command -v qemu-aarch64'], { stdio: 'ignore' }).status !== 0) missing.push('qemu-aarch64 (apt: qemu-user)');
  if (!existsSync(`${SYSROOT}/lib/ld-linux-aarch64.so.1`)) missing.push(`${SYSROOT}/lib/ld-linux-aarch64.so.1 (apt: libc6-arm64-cross)`);
  if (!existsSync(`${SYSROOT}/lib/libstdc++.so.6`)) missing.push(`${SYSROOT}/lib/libstdc++.so.6 (apt: libstdc++6-arm64-cross)`);
  return missing;
}

/** The command, arguments and environment that run `bin` (an arm64 executable) with `args`. */
export function arm64Command(bin, args, env = process.env) {
  return { command: 'qemu-aarch64', args: ['-L', SYSROOT, bin, ...args], env: { ...env, QEMU_CPU: 'max' } };
}
