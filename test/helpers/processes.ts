// Child processes for the end-to-end and example tests: examples/api-server.mjs as the API, and
// whatever client a test runs against it. Every child is killed and awaited by stop().
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { root } from './handshake-fs.js';

export interface ApiProcess {
  port: number;
  url: string;
  /** The Unix socket it also serves on, when started with OTP_SOCKET. */
  socketPath: string | undefined;
  child: ChildProcess;
  /** Every line the API has printed so far (its audit events are JSON lines). */
  lines: string[];
  stop(): Promise<void>;
}

/** Starts the example API on 127.0.0.1 and a free port, sharing the key file at `keyPath`. */
export async function startApi(keyPath: string, env: Record<string, string> = {}): Promise<ApiProcess> {
  const child = spawn(process.execPath, [path.join(root, 'examples/api-server.mjs')], {
    cwd: root,
    env: { ...process.env, OTP_KEY_PATH: keyPath, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = () => stopChild(child);
  try {
    const listening = { port: 0, socketPath: undefined as string | undefined };
    await new Promise<void>((resolve, reject) => {
      // With OTP_SOCKET it listens on both, in either order.
      const ready = () => listening.port !== 0 && (env.OTP_SOCKET === undefined || listening.socketPath !== undefined) && resolve();
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        const tcp = /^listening on http:\/\/[^\s]+:(\d+)$/.exec(line);
        const unix = /^listening on unix:(.+)$/.exec(line);
        if (tcp) listening.port = Number(tcp[1]);
        if (unix) listening.socketPath = unix[1];
        ready();
      });
      child.once('exit', (code) => reject(new Error(`the API exited (${code}) before listening: ${stderr}`)));
    });
    const { port, socketPath } = listening;
    return { port, url: `http://127.0.0.1:${port}/secure`, socketPath, child, lines, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** Whether `command` is on the PATH (or, with a slash, exists and runs). */
export function available(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v "$1"`, 'sh', command], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
