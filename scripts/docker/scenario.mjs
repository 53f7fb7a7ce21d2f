// The Docker Compose example (examples/docker), run for real and checked: called by run.sh once
// dockerd is up and the local base images exist.
//
//   node scripts/docker/scenario.mjs --work DIR --data-root DIR
//
// It runs the example's own docker-compose.yml with one override file it writes (host networking
// for the API and both builds, rotations every 3 s with 3 s codes, hence an otpauth URI in the
// key file, the local Python base image as the client's build argument, and the API's TCP port
// if 8080 is taken), then checks, in order:
//   network     the API shares the host's network namespace (no bridge, no address of its own);
//               the client has network_mode none: no interface but lo, the API's port not there
//   hardening   both run as uid 1000 with no capability at all, no-new-privileges and a read-only
//               root file system, seen from docker inspect and from /proc inside
//   tmpfs       the key lives on one tmpfs mounted rw in the API and ro in the client; the key
//               file is 0600 and owned by uid 1000
//   listeners   each transport (TRANSPORTS below): TCP on 127.0.0.1 only; the socket in the
//               volume has the key file's mode and owner
//   traffic     the example's Python client, run REQUESTS times in the client container, over the
//               socket (it has no other way out), is never refused across at least MIN_ROTATIONS
//               rotations; the client's own loop succeeds
//   read-only   the client can neither write, truncate, rename, delete nor create in the volume;
//               access(W_OK) is refused (EROFS) on the key file, granted on the socket
//   reader      a Node KeyReader with deleteAfterRead on the read-only mount, over each transport,
//               reports one error and follows the rotations
//   refusals    over each transport, from the host: a valid code gets 200, a wrong one and none
//               401; each transport's outsider (TCP: a container without the volume; the socket:
//               one with the volume but uid 1001) sends nothing that works: 401s over TCP,
//               EACCES at connect() on the socket; past the directory, the socket's own mode
//               still refuses connect() to a uid that may not write it
//   secrets     no key the API wrote is in any file under DIR (the data root, dockerd's log and
//               exec root) while the containers run, nor after the API is killed (so it cannot
//               delete its key) and the project is brought down; the volume's directory is empty
// and prints `docker: N passed, M failed` last; exit 1 if any check failed or a step broke.
//
// The secrets: the scenario reads each key the API writes from inside the API container (docker
// exec cat) and keeps it in memory, to search for it and to make the host's valid code; it never
// prints one, nor writes one to a file. Failures name the file and the form found (base32, hex,
// ...), not the content.
//
// Transports: TRANSPORTS below holds what differs between the API's two listeners (the override's
// share, how a probe container and the host reach it, its outsider, extra checks). Each check
// that concerns a transport runs against every entry, on the same running project.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = path.join(ROOT, 'examples/docker');
const HERE = path.join(ROOT, 'scripts/docker');
const DOCKER = process.env.DOCKER_BIN || '/usr/bin/docker';
const COMPOSE = process.env.COMPOSE_BIN || '/usr/bin/docker-compose';

const REQUESTS = 200;
const MIN_ROTATIONS = 2;
// Fast rotations, hence short codes: an owner never rotates more often than its codes change.
// With a period other than 30 s the key file is an otpauth URI, which every client reads.
const ROTATE_EVERY_MS = 3000;
const PERIOD_S = 3;
const ROUND = 50;
const PARALLEL = 4;
const MAX_ROUNDS = 12;
const SAMPLE_EVERY_MS = 1000;
const KEY_PATH = '/opt/shared/otp.key';
// The API's socket, as the example names it (OTP_SOCKET: api.sock, beside the key), and the URL a
// caller on it sends (the path and the Host header only).
const SOCKET_NAME = 'api.sock';
const SOCKET_PATH = `/opt/shared/${SOCKET_NAME}`;
const SOCKET_URL = 'http://localhost/secure';
// The example's HEALTHCHECK calls port 8080; on another port the override repeats it there.
const EXAMPLE_PORT = 8080;
const COMMAND_TIMEOUT_MS = 10 * 60_000;

const { values: args } = parseArgs({
  options: {
    work: { type: 'string' },
    'data-root': { type: 'string' },
    'python-image': { type: 'string', default: 'totp-local/python:3' },
  },
});
if (!args.work || !args['data-root']) {
  console.error('scenario: --work DIR and --data-root DIR are required');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Running commands, steps and checks

/** Runs a command; resolves to { code, stdout, stderr } (code null on a timeout). Never rejects. */
function run(command, argv, { input, cwd = ROOT, env, timeout = COMMAND_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, argv, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (chunk) => out.push(chunk));
    child.stderr.on('data', (chunk) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    const finish = (code, extra = '') => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() + extra });
    };
    child.on('error', (error) => finish(-1, `\n${command}: ${error.message}`));
    child.on('close', (code, signal) => finish(signal === null ? code : null, signal === null ? '' : `\nkilled (${signal}) after ${timeout} ms`));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** Like run(), but a non-zero exit is an error naming the command. Resolves to stdout. */
async function must(command, argv, options) {
  const result = await run(command, argv, options);
  if (result.code !== 0) {
    throw new Error(`${path.basename(command)} ${argv.join(' ')} exited ${result.code}: ${tail(result.stderr || result.stdout)}`);
  }
  return result.stdout;
}

const tail = (text, lines = 15) => text.trim().split('\n').slice(-lines).join('\n');
const docker = (...argv) => must(DOCKER, argv);
const inspect = async (id) => JSON.parse(await docker('inspect', id))[0];
/** `docker exec` as the container's own user; resolves to { code, stdout, stderr }. */
const exec = (id, argv, options) => run(DOCKER, ['exec', id, ...argv], options);
/** `-e NAME=value` for each entry of `env`. */
const envArgs = (env) => Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
/** `docker run` options every probe container shares with the example's: no privilege at all. */
const CONFINED = ['--rm', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true'];

// Run with `python -c` in a container of the client image: for each argument, list:DIR,
// unix:PATH (connect to a Unix socket) or tcp:PORT (connect to 127.0.0.1:PORT), prints "ok" or the
// errno's name, space-separated.
const ATTEMPT_PY = `import errno, os, socket, sys
def attempt(target):
    kind, _, where = target.partition(":")
    try:
        if kind == "list":
            os.listdir(where)
        elif kind == "unix":
            socket.socket(socket.AF_UNIX).connect(where)
        else:
            socket.create_connection(("127.0.0.1", int(where)), 5)
        return "ok"
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))
print(" ".join(attempt(target) for target in sys.argv[1:]))`;

/** A POST of `{}` from the host to `url` (over `socketPath` if given); resolves to { status, challenge }. */
function hostPost({ url, socketPath }, headers) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', socketPath, headers: { 'content-type': 'application/json', ...headers }, timeout: 10_000 }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode, challenge: res.headers['www-authenticate'] }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`no answer from ${socketPath ?? url} in 10 s`)));
    req.once('error', reject);
    req.end('{}');
  });
}

/** The API's audit events, from its log (JSON lines; other lines skipped). */
async function apiEvents(id) {
  const logs = await run(DOCKER, ['logs', id]);
  return logs.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
}

const results = { passed: 0, failed: 0 };
const timings = [];

function check(name, ok, detail = '') {
  if (ok) results.passed += 1;
  else results.failed += 1;
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail === '' ? '' : ` (${detail})`}`);
  return ok;
}

/** Runs one named step; a thrown error stops the scenario with the step's name in it. */
async function step(name, body) {
  console.log(`-- ${name}`);
  const started = performance.now();
  try {
    return await body();
  } catch (error) {
    throw new Error(`step "${name}" failed: ${error.message}`);
  } finally {
    timings.push([name, (performance.now() - started) / 1000]);
  }
}

// ---------------------------------------------------------------------------------------------
// Secrets: collected from inside the API container, searched for, never printed

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
// Raw key bytes are searched for with grep, which matches within lines: the longest run without
// \n, if it has at least this many bytes (64 bits: no chance match in a few GB), stands for the key.
const MIN_RAW_RUN = 8;

function base32Bytes(text) {
  let bits = 0;
  let value = 0;
  const bytes = [];
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const digit = BASE32.indexOf(char);
    if (digit < 0) throw new Error('a key file that is not base32');
    value = (value << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** RFC 6238 from node:crypto: `key` is { text (the base32 secret), algorithm, digits, period (s) }. */
function totp({ text, algorithm, digits, period }, timeMs) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / (period * 1000))));
  const mac = createHmac(algorithm.toLowerCase(), base32Bytes(text)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits).padStart(digits, '0');
}

/**
 * A key file's content, either form an owner writes: a base32 line (SHA-1, 6 digits, 30 s) or an
 * otpauth URI. Errors never quote the content.
 */
function parseKeyFile(content) {
  const line = content.trim();
  if (/^[A-Z2-7]{16,}=*$/.test(line)) return { text: line, algorithm: 'SHA1', digits: 6, period: 30 };
  if (!line.startsWith('otpauth://totp/')) throw new Error('the key file holds neither one base32 line nor an otpauth URI');
  const query = new URL(line).searchParams;
  const key = { text: query.get('secret') ?? '', algorithm: query.get('algorithm') ?? 'SHA1', digits: Number(query.get('digits') ?? 6), period: Number(query.get('period') ?? 30) };
  if (!/^[A-Z2-7]{16,}=*$/.test(key.text) || !/^SHA(1|256|512)$/.test(key.algorithm) || !Number.isInteger(key.digits) || !(key.period > 0)) {
    throw new Error('the key file holds an otpauth URI this scenario cannot use');
  }
  return key;
}

class Secrets {
  // base32 secret -> its parameters
  #keys = new Map();
  #latest;

  get size() {
    return this.#keys.size;
  }

  add(fileContent) {
    const key = parseKeyFile(fileContent);
    this.#keys.set(key.text, key);
    this.#latest = key;
  }

  /** The code of the key read last, for now. */
  latestCode() {
    return totp(this.#latest, Date.now());
  }

  has(fileContent) {
    return this.#keys.has(parseKeyFile(fileContent).text);
  }

  /** Every code valid for a known key within `steps` steps of now. */
  codesNear(steps) {
    const now = Date.now();
    const codes = new Set();
    for (const key of this.#keys.values()) {
      for (let i = -steps; i <= steps; i += 1) codes.add(totp(key, now + i * key.period * 1000));
    }
    return codes;
  }

  /** [form name, bytes] for each form a key might be stored or logged in. */
  #needles() {
    const needles = [];
    for (const text of this.#keys.keys()) {
      const raw = base32Bytes(text);
      needles.push(['base32', Buffer.from(text.slice(0, 16))], ['base32, lower case', Buffer.from(text.slice(0, 16).toLowerCase())]);
      needles.push(['hex', Buffer.from(raw.toString('hex').slice(0, 16))], ['base64', Buffer.from(raw.toString('base64').slice(0, 16))]);
      const run = longestRunWithout(raw, 0x0a);
      if (run.length >= MIN_RAW_RUN) needles.push(['raw bytes', run]);
    }
    return needles;
  }

  /** Which forms of which keys `text` (a string or bytes) contains: their names only. */
  foundIn(text) {
    const buffer = Buffer.isBuffer(text) ? text : Buffer.from(text);
    return [...new Set(this.#needles().filter(([, needle]) => buffer.includes(needle)).map(([form]) => form))];
  }

  /**
   * Files under `dir` (see regularFiles) holding any form of any key: { hits: [{ file, forms }],
   * scanned: how many files and bytes were searched, in how long }.
   */
  async filesHolding(dir) {
    const started = performance.now();
    const listed = regularFiles(dir);
    const files = listed.map(({ file }) => file);
    const needles = this.#needles();
    // Fixed strings, one a line (none holds a \n), given to grep on stdin: no key on a command line.
    const pattern = Buffer.concat(needles.flatMap(([, needle]) => [needle, Buffer.from('\n')]));
    const hits = [];
    for (let i = 0; i < files.length; i += 2000) {
      const batch = files.slice(i, i + 2000);
      const result = await run('grep', ['-l', '-a', '-F', '-f', '-', '--', ...batch], { input: pattern, env: { LC_ALL: 'C' } });
      // Exit 2 is an error; a file that went between the listing and grep (dockerd's own
      // temporary files while containers run) is the only one taken in stride.
      const errors = result.stderr.split('\n').filter((line) => line && !line.endsWith(': No such file or directory'));
      if (result.code === null || result.code > 2 || (result.code === 2 && errors.length > 0)) throw new Error(`grep exited ${result.code}: ${tail(errors.join('\n'))}`);
      hits.push(...result.stdout.split('\n').filter(Boolean));
    }
    const bytes = listed.reduce((sum, { size }) => sum + size, 0);
    const scanned = `${files.length} files, ${(bytes / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - started) / 1000).toFixed(1)} s`;
    return { hits: hits.map((file) => ({ file, forms: this.foundIn(readFileSync(file)) })), scanned };
  }
}

function longestRunWithout(bytes, excluded) {
  let best = Buffer.alloc(0);
  let start = 0;
  for (let i = 0; i <= bytes.length; i += 1) {
    if (i === bytes.length || bytes[i] === excluded) {
      if (i - start > best.length) best = bytes.subarray(start, i);
      start = i + 1;
    }
  }
  return best;
}

/**
 * Regular files under `dir` on the same device as `dir`, not following links: what is mounted
 * under it (a container's overlay, the tmpfs volume, dockerd's network-namespace file) is left
 * out, so after `down` the scan is complete only when mountsUnder(data root) is empty.
 */
function regularFiles(dir) {
  const device = statSync(dir).dev;
  const files = [];
  const walk = (current) => {
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch (error) {
      if (error.code === 'ENOENT') return; // gone since its parent was read (dockerd's temporary files)
      throw error;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (!entry.isFile() && !entry.isDirectory()) continue;
      const stat = lstatSync(full, { throwIfNoEntry: false });
      if (stat === undefined || stat.dev !== device) continue;
      if (entry.isFile()) files.push({ file: full, size: stat.size });
      else walk(full);
    }
  };
  walk(dir);
  return files;
}

/** Mount points at or under `dir`, from this process's mount table. */
function mountsUnder(dir) {
  const prefix = `${path.resolve(dir)}/`;
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point) => point !== undefined && (point === prefix.slice(0, -1) || point.startsWith(prefix)));
}

// ---------------------------------------------------------------------------------------------
// Reading a container's own view of itself

/** /proc/1/status and /proc/1/mountinfo of a container, read inside it. */
async function procView(id) {
  const status = await exec(id, ['cat', '/proc/1/status']);
  const mountinfo = await exec(id, ['cat', '/proc/1/mountinfo']);
  if (status.code !== 0 || mountinfo.code !== 0) throw new Error(`cannot read /proc/1 in ${id}: ${status.stderr}${mountinfo.stderr}`);
  const fields = Object.fromEntries(status.stdout.split('\n').map((line) => line.split(/:\s*/, 2)));
  const mounts = mountinfo.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [before, after] = line.split(' - ');
      const parts = before.split(' ');
      const [fstype, source, superOptions] = after.split(' ');
      return { device: parts[2], point: parts[4], options: parts[5].split(','), fstype, source, superOptions: superOptions.split(',') };
    });
  return { fields, mount: (point) => mounts.findLast((mount) => mount.point === point) };
}

// ---------------------------------------------------------------------------------------------
// Transports

/** Port 8080 when it is free on 127.0.0.1, else one the kernel picks. */
function freePort(preferred) {
  const listen = (port) =>
    new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const { port: bound } = server.address();
        server.close(() => resolve(bound));
      });
    });
  return listen(preferred).catch(() => listen(0));
}

/** The sockets listening on `port` (TCP, IPv4 and IPv6), as [local address hex, ...]. */
function listenersOn(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A')
      .map((fields) => fields[1].split(':')[0]),
  );
}

// The API's two listeners. ctx holds what the scenario learns on the way: the TCP port and URLs
// (prepare, before the project starts) and the volume's name and directory on the host (once the
// project runs).
//   apiOverride(ctx)  what the override file adds to the api service for this transport
//   probe(ctx)        how a container reaches it: { network, env } (the volume is mounted anyway)
//   host(ctx)         how the host reaches it: { url, socketPath }
//   checks(ctx, api)  where and how it listens
//   outsider          a container that must get nothing done over it: its `docker run` options,
//                     what opening the key file gives it, and what each request gets (a status
//                     or the errno of connect)
//   refusalChecks     (optional) more of what it refuses
const TRANSPORTS = {
  // The example's own: HTTP on the socket the API makes beside the key (OTP_SOCKET), with the
  // key file's access. The client container, with network_mode none, has no other way out.
  socket: {
    prepare: () => ({}),
    apiOverride: () => ({}),
    probe: () => ({ network: 'none', env: { API_SOCKET: SOCKET_PATH, API_URL: SOCKET_URL } }),
    // Through the volume's mount point under the data root (root may connect to any socket).
    host: ({ volumeDir }) => ({ url: SOCKET_URL, socketPath: path.join(volumeDir, SOCKET_NAME) }),
    async checks(ctx, api) {
      const stat = await exec(api, ['stat', '-c', '%a %u %g %F', KEY_PATH, SOCKET_PATH]);
      const [key, socket] = stat.stdout.trim().split('\n');
      check(`${SOCKET_PATH} is a socket with the key file's mode and owner (600, 1000:1000)`,
        stat.code === 0 && socket === '600 1000 1000 socket' && key === '600 1000 1000 regular file', `socket: ${socket}; key file: ${key}${stat.stderr.trim()}`);
    },
    // Shares the volume, not the uid: the volume's directory (0700) and the socket (0600) are
    // closed to it, as the key file is.
    outsider: {
      what: 'a container with the volume but uid 1001, no network',
      options: ({ volumeName }) => ['--network', 'none', '--user', '1001:1001', '-v', `${volumeName}:/opt/shared:ro`],
      keyFile: 'EACCES',
      refusal: 'EACCES',
    },
    // The outsider above is stopped at the volume's directory (0700). Past it, the socket file's
    // own mode: uid 0 with CAP_DAC_READ_SEARCH alone may search the directory but not write the
    // socket, which connect() needs. Control: with CAP_DAC_OVERRIDE alone (write any file) it
    // connects, on the same read-only mount.
    async refusalChecks({ volumeName }) {
      const attempt = (capability) => run(DOCKER, ['run', ...CONFINED, '--network', 'none', '--user', '0:0', '--cap-add', capability,
        '-v', `${volumeName}:/opt/shared:ro`, 'totp-handshake-example-client', 'python', '-c', ATTEMPT_PY, 'list:/opt/shared', `unix:${SOCKET_PATH}`]);
      const [search, override] = await Promise.all([attempt('DAC_READ_SEARCH'), attempt('DAC_OVERRIDE')]);
      check("socket: uid 0 with CAP_DAC_READ_SEARCH alone lists the volume, but connect() fails with EACCES: the socket's own 0600",
        search.stdout.trim() === 'ok EACCES', search.stdout.trim() || search.stderr.trim());
      check('socket, control: uid 0 with CAP_DAC_OVERRIDE alone lists the volume and connects',
        override.stdout.trim() === 'ok ok', override.stdout.trim() || override.stderr.trim());
    },
  },
  // TCP, for the HEALTHCHECK and for callers from the host. The example binds it to 127.0.0.1:
  // the container's own loopback, here (host networking) the host's.
  tcp: {
    async prepare() {
      const port = await freePort(EXAMPLE_PORT);
      return { port, tcpUrl: `http://127.0.0.1:${port}/secure`, health: `http://127.0.0.1:${port}/health` };
    },
    // The example's HEALTHCHECK calls port 8080: on another one, it is repeated there.
    apiOverride({ port, health }) {
      if (port === EXAMPLE_PORT) return {};
      const probe = `fetch('${health}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;
      return { environment: { PORT: String(port) }, healthcheck: { test: ['CMD', 'node', '-e', probe] } };
    },
    probe: ({ tcpUrl }) => ({ network: 'host', env: { API_URL: tcpUrl } }),
    host: ({ tcpUrl }) => ({ url: tcpUrl }),
    checks({ port }) {
      const listeners = listenersOn(port);
      check(`the API listens on 127.0.0.1:${port} only`, listeners.length === 1 && listeners[0] === '0100007F', `listening: ${listeners.join(', ') || 'none'}`);
    },
    outsider: {
      what: 'a container without the volume, on the host network',
      options: () => ['--network', 'host', '--user', '1000:1000'],
      keyFile: 'ENOENT',
      refusal: 401,
    },
  },
};

// ---------------------------------------------------------------------------------------------
// The scenario

async function scenario() {
  const transports = Object.entries(TRANSPORTS);
  const ctx = {};
  for (const [, transport] of transports) Object.assign(ctx, await transport.prepare());
  // Host networking for the API and both builds (with --bridge=none there is no other network);
  // the client keeps the example's network_mode none.
  const apiService = { build: { network: 'host' }, network_mode: 'host', environment: { OTP_ROTATE_EVERY: String(ROTATE_EVERY_MS), OTP_PERIOD: String(PERIOD_S) } };
  for (const [, transport] of transports) {
    const { environment, ...rest } = transport.apiOverride(ctx);
    Object.assign(apiService, rest);
    Object.assign(apiService.environment, environment);
  }
  const override = { services: { api: apiService, client: { build: { network: 'host', args: { PYTHON_IMAGE: args['python-image'] } } } } };
  const overridePath = path.join(args.work, 'compose.override.yml');
  // JSON is YAML: the override compose reads is exactly this.
  writeFileSync(overridePath, `${JSON.stringify(override, null, 2)}\n`);
  console.log(`== scenario: docker-compose.yml + ${overridePath}:\n${JSON.stringify(override)}`);
  const compose = (...argv) => run(COMPOSE, ['--ansi', 'never', '-f', 'docker-compose.yml', '-f', overridePath, ...argv], { cwd: EXAMPLE });
  const composeMust = async (...argv) => {
    const result = await compose(...argv);
    if (result.code !== 0) throw new Error(`docker-compose ${argv.join(' ')} exited ${result.code}:\n${tail(result.stderr + result.stdout, 40)}`);
    return result.stdout;
  };
  const secrets = new Secrets();
  const readKey = async (api) => {
    const result = await exec(api, ['cat', KEY_PATH]);
    if (result.code !== 0) {
      const { State } = await inspect(api);
      const state = State.Running ? 'running' : `exited ${State.ExitCode} at ${State.FinishedAt}${State.OOMKilled ? ', killed for memory' : ''}`;
      throw new Error(`cannot read the key file in the API container (${state}): ${result.stderr.trim()}`);
    }
    secrets.add(result.stdout);
    return result.stdout;
  };
  const outputs = [];
  let up = false;
  try {
    await step('the secret search finds every form of a planted key', () => searchSelfCheck());
    await step('build the example images (docker-compose build)', async () => {
      const result = await compose('build');
      writeFileSync(path.join(args.work, 'build.log'), result.stdout + result.stderr);
      if (result.code !== 0) throw new Error(`exited ${result.code}:\n${tail(result.stdout + result.stderr, 40)}`);
      for (const line of result.stdout.split('\n')) if (/^(Building|Sending build context|Successfully tagged)/.test(line)) console.log(`     ${line.trim()}`);
    });
    await step('start the API and the client (docker-compose up -d)', async () => {
      up = true;
      const result = await compose('up', '-d');
      if (result.code === 0) return;
      // Why: the API's output and its health checks' (the API logs no secret).
      const logs = await compose('logs', '--no-color', '--tail', '20', 'api');
      const id = (await compose('ps', '-q', 'api')).stdout.trim();
      const health = id ? (await run(DOCKER, ['inspect', '--format', '{{json .State}}', id])).stdout.trim() : 'no api container';
      throw new Error(`docker-compose up -d exited ${result.code}:\n${tail(result.stderr + result.stdout, 20)}\napi logs:\n${tail(logs.stdout + logs.stderr, 20)}\napi state: ${health}`);
    });
    const api = (await composeMust('ps', '-q', 'api')).trim();
    const client = (await composeMust('ps', '-q', 'client')).trim();
    if (!api || !client) throw new Error('docker-compose ps found no api or client container');
    const containers = { api, client };

    await step('network: the API on the host\'s, the client with none', async () => {
      const expectedMode = { api: 'host', client: 'none' };
      for (const [role, id] of Object.entries(containers)) {
        const info = await inspect(id);
        const networks = Object.keys(info.NetworkSettings.Networks ?? {});
        check(`${role}: network_mode ${expectedMode[role]}, no address of its own`, info.HostConfig.NetworkMode === expectedMode[role] && networks.join() === expectedMode[role] && !info.NetworkSettings.IPAddress, `mode ${info.HostConfig.NetworkMode}, networks ${networks.join(',')}`);
      }
      const interfaces = await exec(client, ['cat', '/proc/net/dev']);
      const names = interfaces.stdout.split('\n').slice(2).map((line) => line.split(':')[0].trim()).filter(Boolean);
      check('client: no network interface but lo (its /proc/net/dev)', interfaces.code === 0 && names.join() === 'lo', names.join(', ') || interfaces.stderr.trim());
      const tcp = await exec(client, ['python', '-c', ATTEMPT_PY, `tcp:${ctx.port}`]);
      check(`client: 127.0.0.1:${ctx.port}, the API's port on the host, is not there (ECONNREFUSED on its own lo)`, tcp.stdout.trim() === 'ECONNREFUSED', tcp.stdout.trim() || tcp.stderr.trim());
      const clientEnv = (await inspect(client)).Config.Env;
      check(`client: the example points it at the socket (API_SOCKET=${SOCKET_PATH})`, clientEnv.includes(`API_SOCKET=${SOCKET_PATH}`), clientEnv.filter((entry) => entry.startsWith('API_')).join(' '));
      const networks = (await docker('network', 'ls', '--format', '{{.Name}}')).split('\n').filter(Boolean).sort();
      check('no network but the built-in host and none', networks.join() === 'host,none', networks.join(', '));
      const links = readdirSync('/sys/class/net').filter((link) => /^(docker|br-|veth)/.test(link));
      check('no bridge or veth interface on the host', links.length === 0, links.join(', '));
    });

    await step('hardening: uid, capabilities, read-only root', async () => {
      const expectedUser = { api: 'node', client: '1000:1000' };
      for (const [role, id] of Object.entries(containers)) {
        const { Config, HostConfig } = await inspect(id);
        check(`${role}: docker inspect says user ${expectedUser[role]}, read-only root, cap_drop ALL, no-new-privileges`,
          Config.User === expectedUser[role] && HostConfig.ReadonlyRootfs === true && HostConfig.CapDrop?.includes('ALL') && !HostConfig.CapAdd?.length && !HostConfig.Privileged && HostConfig.SecurityOpt?.includes('no-new-privileges:true'),
          `user ${Config.User}, read-only ${HostConfig.ReadonlyRootfs}, drop ${HostConfig.CapDrop}, add ${HostConfig.CapAdd}, ${HostConfig.SecurityOpt}`);
        const { fields, mount } = await procView(id);
        const ids = `${fields.Uid} ${fields.Gid}`.split(/\s+/);
        check(`${role}: PID 1 runs as uid/gid 1000 (real, effective, saved, fs)`, ids.length === 8 && ids.every((value) => value === '1000'), `Uid ${fields.Uid}, Gid ${fields.Gid}`);
        const caps = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'];
        check(`${role}: PID 1 holds no capability, not even in its bounding set`, caps.every((cap) => /^0+$/.test(fields[cap] ?? '')), caps.map((cap) => `${cap} ${fields[cap]}`).join(', '));
        check(`${role}: PID 1 has no_new_privs`, fields.NoNewPrivs === '1', `NoNewPrivs ${fields.NoNewPrivs}`);
        check(`${role}: / is mounted read-only`, mount('/')?.options.includes('ro'), mount('/')?.options.join(','));
        const write = await exec(id, ['sh', '-c', 'echo probe > /tmp/write-probe']);
        check(`${role}: writing to /tmp (mode 1777) fails: read-only file system`, write.code !== 0 && /read-only file system/i.test(write.stderr), write.stderr.trim());
      }
    });

    let volumeName;
    await step('the key on tmpfs', async () => {
      const apiView = await procView(api);
      const clientView = await procView(client);
      const [apiMount, clientMount] = [apiView.mount('/opt/shared'), clientView.mount('/opt/shared')];
      check('api: /opt/shared is tmpfs, mounted rw', apiMount?.fstype === 'tmpfs' && apiMount.options.includes('rw'), `${apiMount?.fstype} ${apiMount?.options}`);
      check('client: /opt/shared is tmpfs, mounted ro', clientMount?.fstype === 'tmpfs' && clientMount.options.includes('ro'), `${clientMount?.fstype} ${clientMount?.options}`);
      check('api and client mount the same tmpfs', apiMount?.device !== undefined && apiMount.device === clientMount?.device, `${apiMount?.device} / ${clientMount?.device}`);
      const wanted = ['size=1024k', 'mode=700', 'uid=1000', 'gid=1000'];
      check(`the tmpfs has the volume's options (${wanted.join(',')})`, wanted.every((option) => apiMount?.superOptions.includes(option)), apiMount?.superOptions.join(','));
      const stat = await exec(api, ['stat', '-c', '%a %u %g %F', KEY_PATH]);
      check('the key file is a regular file, mode 600, owned by 1000:1000', stat.stdout.trim() === '600 1000 1000 regular file', stat.stdout.trim() || stat.stderr.trim());
      const mountInfo = (await inspect(api)).Mounts.find((entry) => entry.Destination === '/opt/shared');
      volumeName = mountInfo?.Name;
      const volume = JSON.parse(await docker('volume', 'inspect', volumeName))[0];
      check(`the named volume ${volumeName} is the local driver's tmpfs`, volume.Driver === 'local' && volume.Options?.type === 'tmpfs' && volume.Options?.device === 'tmpfs', JSON.stringify(volume.Options));
      Object.assign(ctx, { volumeName, volumeDir: volume.Mountpoint });
      await readKey(api);
    });

    await step('listeners: where each transport listens', async () => {
      for (const [, transport] of transports) await transport.checks(ctx, api);
    });

    await step(`traffic: at least ${REQUESTS} requests of the example's client over the socket, across rotations`, async () => {
      const started = new Date();
      // Rounds of ROUND requests, PARALLEL client processes at a time, until there have been
      // REQUESTS requests and MIN_ROTATIONS rotations (or MAX_ROUNDS rounds). Meanwhile the key
      // file is read every SAMPLE_EVERY_MS, for the search below.
      const round = `seq ${ROUND} | xargs -P ${PARALLEL} -n 1 sh -c 'out=$(python /app/client.py 2>&1 >/dev/null); echo "$? $out"' sh`;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          await readKey(api);
          await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS));
        }
      })().catch((error) => error);
      const lines = [];
      let events = [];
      const rotations = () => events.filter((event) => event.type === 'rotate' && new Date(event.at) >= started);
      try {
        for (let rounds = 0; rounds < MAX_ROUNDS && (lines.length < REQUESTS || rotations().length < MIN_ROTATIONS); rounds += 1) {
          const result = await exec(client, ['sh', '-c', round]);
          outputs.push(result.stdout, result.stderr);
          if (result.code !== 0) throw new Error(`a round of requests exited ${result.code}: ${tail(result.stderr)}`);
          lines.push(...result.stdout.split('\n').filter(Boolean));
          events = await apiEvents(api);
        }
      } finally {
        sampling = false;
      }
      const sampled = await sampler;
      if (sampled instanceof Error) throw sampled;
      const ended = new Date();
      const byExit = groupBy(lines, (line) => line.split(' ')[0]);
      const failures = lines.filter((line) => !line.startsWith('0 '));
      check(`at least ${REQUESTS} requests over the socket on the read-only mount, all 200 (client.py exit 0), none refused`, lines.length >= REQUESTS && failures.length === 0,
        `${lines.length} requests; exit 0: ${byExit.get('0')?.length ?? 0}, refused (1): ${byExit.get('1')?.length ?? 0}, other: ${failures.length - (byExit.get('1')?.length ?? 0)}${failures.length ? `; first: ${failures[0]}` : ''}`);
      const seconds = ((ended - started) / 1000).toFixed(1);
      check(`at least ${MIN_ROTATIONS} rotations during the traffic (API rotate events)`, rotations().length >= MIN_ROTATIONS, `${rotations().length} in ${seconds} s; ${secrets.size} distinct keys read from the file`);
      const refusals = events.filter((event) => event.type !== 'rotate' && event.type !== 'load' && new Date(event.at) >= started);
      check('the API logged no refusal or error during the traffic', refusals.length === 0, refusals.map((event) => `${event.type} ${event.reason ?? ''}`).join(', '));
      const clientLogs = await run(DOCKER, ['logs', client]);
      outputs.push(clientLogs.stdout, clientLogs.stderr);
      const own = clientLogs.stdout.split('\n').filter((line) => line.includes('"success"'));
      check("the client container's own loop (its CMD) succeeded and logged no error", own.length >= 1 && clientLogs.stderr.trim() === '', `${own.length} successes; stderr: ${tail(clientLogs.stderr, 3) || 'empty'}`);
    });

    await step('read-only volume: the client cannot change it', async () => {
      const attempts = {
        truncate: ['sh', '-c', `: > ${KEY_PATH}`],
        append: ['sh', '-c', `echo x >> ${KEY_PATH}`],
        delete: ['rm', '-f', KEY_PATH],
        rename: ['mv', KEY_PATH, '/opt/shared/moved'],
        create: ['sh', '-c', ': > /opt/shared/new-file'],
        'make a directory': ['mkdir', '/opt/shared/new-dir'],
      };
      for (const [what, argv] of Object.entries(attempts)) {
        const result = await exec(client, argv);
        check(`client: ${what} in the volume fails: read-only file system`, result.code !== 0 && /read-only file system/i.test(result.stderr), `exit ${result.code}: ${result.stderr.trim()}`);
      }
      // access(2) applies the mount's read-only check as open() does: to regular files,
      // directories and links, not to sockets. The mode bits grant uid 1000 write on both.
      const access = await exec(client, ['python', '-c', `import os; print(os.access("${KEY_PATH}", os.W_OK), os.access("${SOCKET_PATH}", os.W_OK))`]);
      check('client: access(W_OK) is refused on the key file (read-only mount) and granted on the socket, which it may connect to', access.stdout.trim() === 'False True', access.stdout.trim() || access.stderr.trim());
      // Besides the key file, only the owner's own names may be there for a moment during a
      // rotation (its lock, its temporary file): nothing the client tried to make.
      const listing = await exec(api, ['ls', '-A', '/opt/shared']);
      const names = listing.stdout.split('\n').filter(Boolean);
      const owners = /^(otp\.key|api\.sock|otp\.key\.lock|\.otp\.key\.[0-9a-f]{12}\.tmp)$/;
      check('the volume holds the key file, the socket and nothing the client tried to make', names.includes('otp.key') && names.every((name) => owners.test(name)), names.join(', '));
      const content = await readKey(api);
      check('the key file still holds one key', secrets.has(content));
    });

    await step('KeyReader with deleteAfterRead on the read-only mount, over each transport', async () => {
      const probe = readFileSync(path.join(HERE, 'reader-probe.mjs'));
      // One probe container per transport, at the same time: each needs a few rotations.
      const results = await Promise.all(transports.map(([, transport]) => {
        const { network, env } = transport.probe(ctx);
        return run(DOCKER, ['run', '-i', ...CONFINED, '--network', network, '--user', '1000:1000', '-v', `${volumeName}:/opt/shared:ro`,
          ...envArgs({ OTP_KEY_PATH: KEY_PATH, ...env }), 'totp-handshake-example-api', 'node', '--input-type=module', '-'], { input: probe });
      }));
      for (const [index, [name]] of transports.entries()) {
        const result = results[index];
        outputs.push(result.stdout, result.stderr);
        const leaked = secrets.foundIn(result.stdout + result.stderr);
        if (!check(`${name}: the probe printed no secret`, leaked.length === 0, leaked.join(', '))) continue;
        if (result.code !== 0) throw new Error(`the ${name} probe exited ${result.code}: ${tail(result.stderr)}`);
        console.log(`     ${name} probe: ${result.stdout.trim()}`);
        const summary = JSON.parse(result.stdout);
        check(`${name}: exactly one error event, naming the read-only file system`, summary.errors.length === 1 && /EROFS|read-only/i.test(summary.errors[0].message), summary.errors.map((error) => error.message).join(' | '));
        check(`${name}: the reader followed at least 2 rotations (3 keys)`, summary.keys >= 3, `${summary.keys} keys, ${summary.loads} load events`);
        check(`${name}: every request with its codes got 200`, summary.requests > 0 && summary.statuses['200'] === summary.requests, JSON.stringify(summary.statuses));
        check(`${name}: the key file is left in place`, summary.fileLeft === true);
      }
    });

    await step('refusals: over each transport, a wrong code, no code, and its outsider', async () => {
      for (const [name, transport] of transports) {
        const target = transport.host(ctx);
        // Control: a valid code, from the key just read, gets through where the others do not.
        await readKey(api);
        const right = await hostPost(target, { 'X-OTP': secrets.latestCode() });
        check(`${name}, host: a valid code (of the key just read) gets 200`, right.status === 200, String(right.status));
        const valid = secrets.codesNear(2);
        let wrong = 0;
        while (valid.has(String(wrong).padStart(6, '0'))) wrong += 1;
        const wrongCode = await hostPost(target, { 'X-OTP': String(wrong).padStart(6, '0') });
        check(`${name}, host: a wrong code (valid for no key read) gets 401 with WWW-Authenticate: OTP`, wrongCode.status === 401 && /^OTP\b/.test(wrongCode.challenge ?? ''), `${wrongCode.status} ${wrongCode.challenge}`);
        const noCode = await hostPost(target, {});
        check(`${name}, host: no X-OTP gets 401`, noCode.status === 401, String(noCode.status));
      }
      const input = readFileSync(path.join(HERE, 'outsider-probe.py'));
      const more = Promise.all(transports.map(([, transport]) => transport.refusalChecks?.(ctx)));
      const results = await Promise.all(transports.map(async ([, transport]) => {
        const outsider = ['run', '-i', ...CONFINED, ...transport.outsider.options(ctx), ...envArgs(transport.probe(ctx).env), 'totp-handshake-example-client'];
        return { plain: await run(DOCKER, [...outsider, 'python', '/app/client.py']), probe: await run(DOCKER, [...outsider, 'python', '-'], { input }) };
      }));
      for (const [index, [name, { outsider }]] of transports.entries()) {
        const { plain, probe } = results[index];
        outputs.push(plain.stdout, plain.stderr, probe.stdout, probe.stderr);
        check(`${name} outsider, ${outsider.what}: the example's client cannot use the key and sends nothing (exit 2)`, plain.code === 2 && /cannot use the key file/.test(plain.stderr), `exit ${plain.code}: ${plain.stderr.trim()}`);
        if (probe.code !== 0) throw new Error(`the ${name} outsider probe exited ${probe.code}: ${tail(probe.stderr)}`);
        const summary = JSON.parse(probe.stdout);
        check(`${name} outsider: opening the key file fails with ${outsider.keyFile}`, summary.keyFile === outsider.keyFile, summary.keyFile);
        const statuses = Object.entries(summary.statuses);
        const refused = typeof outsider.refusal === 'number' ? `get ${outsider.refusal}` : `fail at connect() with ${outsider.refusal}`;
        check(`${name} outsider: all ${statuses.length} requests (no code, malformed, guesses) ${refused}`, statuses.length === 5 && statuses.every(([, status]) => status === outsider.refusal), JSON.stringify(summary.statuses));
      }
      await more;
      const after = await exec(client, ['python', '/app/client.py']);
      check('the client still succeeds after the refusals (not throttled)', after.code === 0, `exit ${after.code}: ${after.stderr.trim()}`);
    });

    await step('secrets: not on disk while running', async () => {
      await readKey(api);
      for (const id of [api, client]) {
        const logs = await run(DOCKER, ['logs', id]);
        outputs.push(logs.stdout, logs.stderr);
      }
      // Control: the same search finds the key where it is, in the tmpfs (dockerd mounts it under
      // the data root). The key rotates every few seconds: read it right before, up to 3 times.
      const volume = JSON.parse(await docker('volume', 'inspect', volumeName))[0];
      let control;
      for (let attempt = 0; attempt < 3 && !control?.hits.some(({ forms }) => forms.includes('base32')); attempt += 1) {
        await readKey(api);
        control = await secrets.filesHolding(volume.Mountpoint);
      }
      check("control: the search finds the key in the volume's tmpfs, seen from the host", control.hits.length === 1 && path.basename(control.hits[0].file) === 'otp.key' && control.hits[0].forms.includes('base32'), describeHits(control.hits) || 'not found');
      const { hits, scanned } = await secrets.filesHolding(args.work);
      check(`no file under ${args.work} holds any of the ${secrets.size} keys (mounts left out)`, hits.length === 0, hits.length ? describeHits(hits) : scanned);
      const leaked = secrets.foundIn(outputs.join('\n'));
      check('no key in the containers\' logs or the probes\' output', leaked.length === 0, leaked.join(', '));
    });

    await step('secrets: gone after the API is killed and the project is brought down', async () => {
      await readKey(api);
      const project = (await inspect(api)).Config.Labels['com.docker.compose.project'];
      await docker('kill', '--signal', 'KILL', api);
      const left = await exec(client, ['test', '-s', KEY_PATH]);
      check('after SIGKILL the API has not removed its key file (client still sees it)', left.code === 0, `test -s exit ${left.code}`);
      await composeMust('down');
      const remaining = (await docker('ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`)).trim();
      check('docker-compose down removed both containers', remaining === '', remaining);
      // dockerd bind-mounts its data root onto itself (to make it a shared mount) until it stops.
      const mounts = mountsUnder(args['data-root']).filter((point) => point !== path.resolve(args['data-root']));
      check("nothing is mounted under Docker's data root (but the data root's own bind mount)", mounts.length === 0, mounts.join(', '));
      const volume = JSON.parse(await docker('volume', 'inspect', volumeName))[0];
      const inVolume = readdirSync(volume.Mountpoint);
      check("the volume (kept by down without -v) is an empty directory on the data root's disk", inVolume.length === 0, inVolume.join(', '));
      const { hits, scanned } = await secrets.filesHolding(args.work);
      check(`no file under ${args.work} (data root, exec root, dockerd's log) holds any of the ${secrets.size} keys`, hits.length === 0, hits.length ? describeHits(hits) : scanned);
    });
  } finally {
    if (up) {
      const down = await compose('down', '--volumes', '--remove-orphans');
      if (down.code !== 0) console.error(`scenario: docker-compose down --volumes exited ${down.code}: ${tail(down.stderr)}`);
      const volumes = (await run(DOCKER, ['volume', 'ls', '-q'])).stdout.trim();
      check('docker-compose down --volumes removed the volume', down.code === 0 && volumes === '', volumes);
    }
  }
}

/**
 * The search, tried on a made-up key (not one the API wrote) planted in each form in a directory
 * of its own: every form must be found, in its file only.
 */
async function searchSelfCheck() {
  const text = Array.from(randomBytes(32), (byte) => BASE32[byte % 32]).join('');
  const planted = new Secrets();
  planted.add(text);
  const raw = base32Bytes(text);
  const dir = path.join(args.work, 'search-self-check');
  const forms = {
    base32: text,
    'base32, lower case': text.toLowerCase(),
    hex: raw.toString('hex'),
    base64: raw.toString('base64'),
    'raw bytes': Buffer.concat([randomBytes(64).map((byte) => byte & 0x7f), raw, randomBytes(64)]),
  };
  mkdirSync(dir);
  try {
    for (const [form, content] of Object.entries(forms)) writeFileSync(path.join(dir, form.replace(/\W+/g, '-')), content);
    writeFileSync(path.join(dir, 'nothing'), randomBytes(4096));
    const { hits } = await planted.filesHolding(dir);
    const found = Object.fromEntries(hits.map(({ file, forms: names }) => [path.basename(file), names]));
    const expected = Object.keys(forms).filter((form) => form !== 'raw bytes' || longestRunWithout(raw, 0x0a).length >= MIN_RAW_RUN);
    check(`the search finds each of ${expected.length} forms of a planted key, in its own file only`,
      hits.length === expected.length && expected.every((form) => found[form.replace(/\W+/g, '-')]?.includes(form)), JSON.stringify(found));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function groupBy(items, keyOf) {
  const groups = new Map();
  for (const item of items) groups.set(keyOf(item), [...(groups.get(keyOf(item)) ?? []), item]);
  return groups;
}

function describeHits(hits) {
  return hits.map(({ file, forms }) => `${path.relative(args.work, file)}: ${forms.join(', ') || 'a match'}`).join('; ');
}

let failure;
try {
  await scenario();
} catch (error) {
  failure = error;
  console.error(`scenario: ${error.message}`);
}
console.log('-- timings');
for (const [name, seconds] of timings) console.log(`  ${seconds.toFixed(1).padStart(7)} s  ${name}`);
console.log(`docker: ${results.passed} passed, ${results.failed + (failure ? 1 : 0)} failed`);
process.exit(failure || results.failed > 0 ? 1 : 0);
