// A real etcd cluster on loopback for the cluster tests, `npm run cluster:latency` and the
// multi-host soak: N members (Debian's etcd 3.4, unpacked by scripts/etcd/fetch.sh into .etcd/),
// each on 127.0.0.1 ports chosen free, with its data in a fresh directory on tmpfs (/dev/shm)
// when there is one. Members can be killed (SIGKILL) and restarted on their data, stopped
// (SIGSTOP) and resumed (SIGCONT). Nothing listens off loopback.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The etcd binary: $ETCD_BIN (a directory or the binary), .etcd/usr/bin/etcd, or undefined. */
export function findEtcd() {
  const given = process.env.ETCD_BIN;
  const candidates = [given && (given.endsWith('etcd') ? given : path.join(given, 'etcd')), path.join(ROOT, '.etcd/usr/bin/etcd')];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // the next one
    }
  }
  return undefined;
}

async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

const b64 = (text) => Buffer.from(text, 'utf8').toString('base64');

/**
 * One POST to a member's JSON gateway; resolves to the parsed answer (an error answer included).
 * `tls` ({ ca, cert, key }) for https:// members, which fetch cannot be given.
 */
export function gateway(url, route, body, { token, timeout = 2000, tls } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = token;
  const target = new URL(route, url);
  const send = target.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const request = send(target, { method: 'POST', headers, signal: AbortSignal.timeout(timeout), ...tls }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (error) {
          reject(error);
        }
      });
    });
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

function dataRoot() {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * Starts a cluster of `size` members (each also given `extraArgs`) and waits until every member
 * answers with a leader.
 * Resolves to { endpoints, members, leader(), compact(), enableAuth(), close() }.
 */
export async function startCluster({ size = 3, binary = findEtcd(), token = `t${process.pid}${Date.now()}`, extraArgs = [], tls } = {}) {
  // tls: { ca, cert, key, clientCert, clientKey } file paths: clients then connect over https, and
  // must show a certificate signed by `ca`; the cluster's own checks use the client certificate.
  const scheme = tls === undefined ? 'http' : 'https';
  const tlsArgs = tls === undefined ? [] : ['--cert-file', tls.cert, '--key-file', tls.key, '--trusted-ca-file', tls.ca, '--client-cert-auth'];
  const clientTls = tls === undefined ? undefined : { ca: readFileSync(tls.ca), cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey) };
  if (binary === undefined) throw new Error('no etcd binary: run `bash scripts/etcd/fetch.sh` (or set ETCD_BIN)');
  const dir = mkdtempSync(path.join(dataRoot(), 'totp-etcd-'));
  const specs = [];
  for (let i = 0; i < size; i++) specs.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initial = specs.map(({ name, peer }) => `${name}=http://127.0.0.1:${peer}`).join(',');
  const members = specs.map(({ name, client, peer }) => {
    const member = {
      name,
      url: `${scheme}://127.0.0.1:${client}`,
      child: undefined,
      /** Sends `signal` to the member's process. */
      signal(signal) {
        if (member.child?.exitCode === null && member.child.signalCode === null) member.child.kill(signal);
      },
      stopped: false,
      stop() {
        member.stopped = true;
        member.signal('SIGSTOP');
      },
      cont() {
        member.stopped = false;
        member.signal('SIGCONT');
      },
      async kill() {
        if (member.child === undefined || member.child.exitCode !== null || member.child.signalCode !== null) return;
        const exited = once(member.child, 'exit');
        member.child.kill('SIGCONT');
        member.child.kill('SIGKILL');
        member.stopped = false;
        await exited;
      },
      /** Starts (or restarts, on its data) the member's process. */
      start(state = 'new') {
        const data = path.join(dir, name);
        mkdirSync(data, { recursive: true });
        const log = openSync(path.join(dir, `${name}.log`), 'a');
        // prettier-ignore
        const args = [
          '--name', name, '--data-dir', data,
          '--listen-client-urls', member.url, '--advertise-client-urls', member.url,
          '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
          '--initial-cluster', initial, '--initial-cluster-state', state, '--initial-cluster-token', token,
          '--logger', 'zap', '--log-outputs', 'stderr',
          ...tlsArgs,
          ...extraArgs,
        ];
        member.child = spawn(binary, args, { stdio: ['ignore', log, log] });
        member.child.on('error', () => undefined);
      },
      /** This member's raft member id, as its own headers say, and the leader's id as it sees it. */
      async status() {
        const answer = await gateway(member.url, '/v3/maintenance/status', {}, { timeout: 1000, tls: clientTls });
        return { id: answer.header?.member_id, leader: answer.leader };
      },
    };
    return member;
  });
  for (const member of members) member.start();
  const cluster = {
    dir,
    members,
    endpoints: members.map((member) => member.url),
    /** Waits until every member that runs (and is not stopped) answers and agrees on a leader; resolves to the leader member. */
    async healthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          const running = members.filter((m) => m.child?.exitCode === null && m.child.signalCode === null && !m.stopped);
          const statuses = await Promise.all(running.map((m) => m.status()));
          const leader = statuses[0]?.leader;
          if (leader !== undefined && leader !== '0' && statuses.every((s) => s.leader === leader)) {
            const index = statuses.findIndex((s) => s.id === leader);
            if (index >= 0) return running[index];
          }
        } catch {
          // not yet
        }
        if (Date.now() > deadline) throw new Error(`the etcd cluster in ${dir} did not become healthy within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    leader: () => cluster.healthy(),
    /** Compacts the history up to the current revision; resolves to that revision. */
    async compact(token) {
      const url = (await cluster.healthy()).url;
      const { header } = await gateway(url, '/v3/kv/range', { key: b64('/') }, { token });
      await gateway(url, '/v3/kv/compaction', { revision: header.revision, physical: true }, { token });
      return Number(header.revision);
    },
    /**
     * Turns auth on: a root user, and for each of `users` a user with a role granted `permission`
     * ('read' or 'readwrite') on `prefix`. Resolves to root's token.
     */
    async enableAuth({ rootPassword, users }) {
      const url = (await cluster.healthy()).url;
      const call = async (route, body, token) => {
        const answer = await gateway(url, route, body, { token });
        if (answer.error !== undefined) throw new Error(`${route}: ${answer.message ?? answer.error}`);
        return answer;
      };
      await call('/v3/auth/user/add', { name: 'root', password: rootPassword });
      await call('/v3/auth/role/add', { name: 'root' });
      await call('/v3/auth/user/grant', { user: 'root', role: 'root' });
      for (const { name, password, permission, prefix } of users) {
        const end = Buffer.from(prefix, 'utf8');
        end[end.length - 1] += 1;
        await call('/v3/auth/user/add', { name, password });
        await call('/v3/auth/role/add', { name: `${name}-role` });
        // Permission types: READ 0, WRITE 1, READWRITE 2.
        await call('/v3/auth/role/grant', { name: `${name}-role`, perm: { permType: permission === 'read' ? 'READ' : 'READWRITE', key: b64(prefix), range_end: end.toString('base64') } });
        await call('/v3/auth/user/grant', { user: name, role: `${name}-role` });
      }
      await call('/v3/auth/enable', {});
      const { token } = await call('/v3/auth/authenticate', { name: 'root', password: rootPassword });
      return token;
    },
    /** Kills every member and removes the data. */
    async close() {
      await Promise.all(members.map((member) => member.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.healthy();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

export const etcdAvailable = () => findEtcd() !== undefined && existsSync(findEtcd());
