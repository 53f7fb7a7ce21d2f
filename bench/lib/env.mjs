// The environment header: what a figure needs beside it to mean anything (STYLE.md §13).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

import { installedVersion } from './deps.mjs';
import { loadLibrary, ROOT } from './pkg.mjs';

function cpuModel() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^(model name|Hardware|Processor)\s*:/.test(l));
    if (line) return line.split(':')[1].trim();
  } catch {
    // not Linux: os.cpus() below
  }
  return os.cpus()[0]?.model?.trim() || 'unknown';
}

function git(...args) {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}


export const COMPARED_PACKAGES = ['tinybench', 'otplib', 'otplib12', 'otpauth', 'speakeasy', 'jose', 'jsonwebtoken', 'fast-jwt', 'autocannon'];

export function environment() {
  const { engineInfo, backend } = loadLibrary();
  const rootPkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const commit = git('rev-parse', '--short', 'HEAD');
  const dirty = git('status', '--porcelain', '--untracked-files=no');
  return {
    date: new Date().toISOString(),
    cpu: cpuModel(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${process.arch}`,
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl,
    package: `${rootPkg.name}@${rootPkg.version}`,
    commit: commit === undefined ? undefined : `${commit}${dirty ? ' (with uncommitted changes)' : ''}`,
    backend,
    backendReason: engineInfo.reason,
    sha: engineInfo.cpu ? { sha1: engineInfo.cpu.sha1, sha256: engineInfo.cpu.sha256, sha512: engineInfo.cpu.sha512 } : undefined,
    // What else was running: a load average well above 0 before the run means other processes
    // were competing for the CPU, and the figures are noisier than this machine can do.
    loadAverageAtStart: Number(os.loadavg()[0].toFixed(2)),
    packages: Object.fromEntries(COMPARED_PACKAGES.map((name) => [name, installedVersion(name)])),
  };
}

const SHA_NAMES = { 'sha-ni': 'x86 SHA-NI', armv8: 'ARMv8 SHA', portable: 'portable C++, no SHA instructions' };

export function describeSha(env) {
  if (env.sha === undefined) return 'none (the native addon is not loaded)';
  return `${SHA_NAMES[env.sha.sha1] ?? env.sha.sha1} for SHA-1/SHA-256 (${env.sha.sha1})`;
}

/**
 * CPU time so far (Linux, in clock ticks): the whole machine's busy and total time from
 * /proc/stat, and this process's own plus its finished children's from /proc/self/stat.
 */
export function cpuSnapshot() {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    // utime, stime, cutime, cstime are fields 14-17 of the line, 12-15 after the comm field.
    const self = fields[11] + fields[12] + fields[13] + fields[14];
    const busy = user + nice + system + irq + softirq;
    return { busy, steal, total: busy + steal + idle + iowait, self };
  } catch {
    return undefined;
  }
}

/**
 * Between two snapshots, the share of the machine's CPU (0-1) that other processes used, and
 * that the hypervisor gave to other virtual machines (steal).
 */
export function otherCpuShare(before, after) {
  if (before === undefined || after === undefined || after.total <= before.total) return undefined;
  const other = after.busy - before.busy - (after.self - before.self);
  const total = after.total - before.total;
  return { other: Math.max(0, other / total), steal: (after.steal - before.steal) / total };
}

export function loadLine(env) {
  const start = `1-min load average ${env.loadAverageAtStart} before the run`;
  if (env.otherCpu === undefined) return start;
  const share = Math.round(env.otherCpu.other * 100);
  const steal = Math.round(env.otherCpu.steal * 100);
  const note = share + steal >= 5 ? ': another workload shared the CPU, so these figures are noisier than this machine allows' : '';
  return `${start}; during it, other processes used ${share}% of the CPU and the hypervisor took ${steal}% (steal)${note}`;
}

export function headerLines(env) {
  return [
    `date      ${env.date}`,
    `cpu       ${env.cpu}, ${env.cores} cores, ${env.memoryGiB} GiB`,
    `os        ${env.os}`,
    `node      ${env.node} (V8 ${env.v8}, OpenSSL ${env.openssl})`,
    `package   ${env.package}${env.commit ? ` at ${env.commit}` : ''}`,
    `engine    ${env.backend} (${env.backendReason})`,
    `load      ${loadLine(env)}`,
    `sha       ${describeSha(env)}`,
    `compared  ${Object.entries(env.packages).filter(([name]) => name !== 'tinybench' && name !== 'autocannon').map(([n, v]) => `${n} ${v ?? '?'}`).join(', ')}`,
    `tools     tinybench ${env.packages.tinybench ?? '?'}, autocannon ${env.packages.autocannon ?? '?'}`,
  ];
}
