// The etcd side of the cluster tests: the cluster launcher of scripts/etcd/, owners in processes
// of their own, and a proxy that can hold back what etcd streams to one client.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type Socket, connect } from 'node:net';
import path from 'node:path';

import type { AuditEvent, EtcdKeyOwnerOptions } from 'totp-handshake';

import { findEtcd, gateway, startCluster } from '../../scripts/etcd/cluster.mjs';
import { root } from './handshake-fs.js';

export { gateway, startCluster };

/** The etcd binary, or undefined when it is not unpacked here (`bash scripts/etcd/fetch.sh`). */
export const etcdBinary: string | undefined = findEtcd();

export interface Member {
  name: string;
  url: string;
  stop(): void;
  cont(): void;
  kill(): Promise<void>;
  start(state?: 'new' | 'existing'): void;
  status(): Promise<{ id: string; leader: string }>;
}

export interface Cluster {
  endpoints: string[];
  members: Member[];
  healthy(timeoutMs?: number): Promise<Member>;
  leader(): Promise<Member>;
  compact(token?: string): Promise<number>;
  enableAuth(options: { rootPassword: string; users: { name: string; password: string; permission: 'read' | 'readwrite'; prefix: string }[] }): Promise<string>;
  close(): Promise<void>;
}

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** The keyring's raw etcd entries (ring and election key) as a client with `token` reads them. */
export async function readPrefix(url: string, name: string, token?: string): Promise<{ revision: number; ring?: { modRevision: number; value: string }; leader?: { lease: string; value: string }; error?: string }> {
  const prefix = `/totp-handshake/${name}/`;
  const answer = await gateway(url, '/v3/kv/range', { key: b64(prefix), range_end: b64(prefix.slice(0, -1) + '0') }, { token });
  if (answer.error !== undefined) return { revision: 0, error: String(answer.message ?? answer.error) };
  const result: Awaited<ReturnType<typeof readPrefix>> = { revision: Number(answer.header.revision) };
  for (const kv of answer.kvs ?? []) {
    const key = Buffer.from(kv.key, 'base64').toString('utf8');
    const value = Buffer.from(kv.value ?? '', 'base64').toString('utf8');
    if (key.endsWith('/ring')) result.ring = { modRevision: Number(kv.mod_revision), value };
    if (key.endsWith('/leader')) result.leader = { lease: kv.lease, value };
  }
  return result;
}

export interface OwnerProcess {
  child: ChildProcess;
  events: AuditEvent[];
  status(): Promise<{ isRotator: boolean; keyId: string | undefined }>;
  kill(): Promise<void>;
}

/** Starts an EtcdKeyOwner in a process of its own; resolves once it has started. */
export async function ownerProcess(options: Omit<EtcdKeyOwnerOptions, 'onEvent'>): Promise<OwnerProcess> {
  const child = fork(path.join(root, 'test/helpers/etcd-owner-process.mjs'), [JSON.stringify(options)], { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const events: AuditEvent[] = [];
  const waiting: ((message: { isRotator: boolean; keyId: string | undefined }) => void)[] = [];
  child.on('message', (message: { type: string; event?: AuditEvent; isRotator?: boolean; keyId?: string }) => {
    if (message.type === 'event') events.push(message.event as AuditEvent);
    if (message.type === 'status') waiting.shift()?.({ isRotator: message.isRotator === true, keyId: message.keyId });
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (message: { type: string }) => message.type === 'ready' && resolve());
    child.once('exit', (code) => reject(new Error(`the owner process exited (${code}) before it started`)));
  });
  await ready;
  return {
    child,
    events,
    status: () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        child.send('status');
      }),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A TCP proxy to `target` (host:port) on 127.0.0.1. `freezeWatches()` stops passing on what
 * etcd sends on every watch stream open now (the client's requests still go through, each on
 * its own connection): the client then misses events, as one whose watch lags would.
 */
export async function watchProxy(target: URL): Promise<{ url: string; freezeWatches(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const watches = new Set<{ frozen: boolean }>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    const state = { frozen: false };
    client.on('data', (chunk: Buffer) => {
      // A kept-alive connection may carry other requests before its watch: each starts a chunk.
      if (chunk.toString('latin1', 0, 14) === 'POST /v3/watch') watches.add(state);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!state.frozen) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    freezeWatches: () => {
      for (const watch of watches) watch.frozen = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
