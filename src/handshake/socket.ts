// Serving the API on a Unix domain socket inside the key's own directory: a transport whose
// access control is the key's. Connecting to a Unix socket takes search permission on its
// directory and write permission on the socket file (unix(7)), so with the socket given the key
// file's access (0600 -> 0600, 0640 -> 0660), only processes that may read the key can connect.
// Every other process on the host, whatever addresses it can use, cannot even send a guess, so it
// can neither brute-force the code nor exhaust the guard's failure budget and lock clients out.
import * as fsp from 'node:fs/promises';
import { createConnection, type Server } from 'node:net';
import path from 'node:path';

import { OtpError } from '../errors.js';
import { effectiveUid, errorCode, formatMode, isAbsent } from '../internal/fs.js';
import { fail, optionsObject } from '../internal/options.js';

export interface KeySocketOptions {
  /** The socket's file name in the key directory. Default 'api.sock'. */
  name?: string;
  /** Its permission bits. Default: read-write for whoever may read the key file (0600 for 0600, 0660 for 0640). */
  mode?: number;
}

/** What the socket needs to know of the key: a KeyOwner has both. */
export interface KeyLocation {
  readonly path: string;
  readonly fileMode: number;
}

const OPTION_NAMES: readonly (keyof KeySocketOptions)[] = ['name', 'mode'];
const DEFAULT_NAME = 'api.sock';
// sun_path holds 108 bytes on Linux, 104 on macOS and the BSDs, including the terminating NUL.
const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

/** rw for each class of user that may read the key file. */
function socketModeFor(fileMode: number): number {
  const readers = fileMode & 0o444;
  return readers | (readers >> 1);
}

function socketError(socketPath: string, why: string, cause?: unknown): OtpError {
  return new OtpError('ERR_OTP_KEY_IO', `cannot serve on the Unix socket ${socketPath}: ${why}`, { cause });
}

/** Whether a server answers at `socketPath` (false: a socket file left by a process that died). */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * The directory must be closed to other users' writes: anyone who could write there could put
 * their own socket in place of this one and collect the codes that clients send.
 */
async function checkDirectory(dir: string, socketPath: string): Promise<void> {
  const stats = await fsp.stat(dir).catch((error: unknown) => {
    throw socketError(socketPath, isAbsent(error) ? `${dir} does not exist` : errorCode(error), error);
  });
  if ((stats.mode & 0o002) !== 0) {
    throw socketError(socketPath, `${dir} is writable by every user (mode ${formatMode(stats.mode)}), who could replace the socket`);
  }
  const euid = effectiveUid();
  if (euid !== undefined && stats.uid !== euid && stats.uid !== 0) {
    throw socketError(socketPath, `${dir} belongs to uid ${stats.uid}, neither this process's user (${euid}) nor root`);
  }
}

/** Removes a socket file no server answers at; refuses to touch anything else. */
async function clearStale(socketPath: string): Promise<void> {
  const stats = await fsp.lstat(socketPath).catch(() => undefined);
  if (stats === undefined) return;
  if (!stats.isSocket()) throw socketError(socketPath, 'something that is not a socket is at that path, and it is left alone');
  if (await answers(socketPath)) throw socketError(socketPath, 'another server is listening on it');
  await fsp.rm(socketPath, { force: true });
}

function listen(server: Server, socketPath: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(socketError(socketPath, errorCode(error), error));
    server.once('error', onError);
    // bind() creates the socket file with 0777 & ~umask: narrowed for the moment of the bind
    // (listen binds synchronously), so that no other user can connect before the chmod below.
    // process.umask cannot be set in a worker thread; there the chmod alone applies, and the
    // directory's own permissions already keep other users out.
    let previous: number | undefined;
    try {
      previous = process.umask(0o777 & ~mode);
    } catch {
      previous = undefined;
    }
    try {
      server.listen(socketPath, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
  });
}

/**
 * Starts `server` (a node:http server, the one `app.listen()` returns in express, fastify's
 * `app.server` after `await app.ready()`, the one `serve()` returns in @hono/node-server) on a
 * Unix domain socket in the key file's directory, and resolves to the socket's path.
 *
 * The socket gets the key file's access (`mode`); the directory must not be writable by other
 * users. A socket file left by a server that died is removed first; anything else at the path
 * is refused (ERR_OTP_KEY_IO). The guards count failures per listener, so failures on another
 * listener of the same app (a TCP port) never lock out the clients of this one.
 *
 * @example
 * ```ts
 * const owner = await KeyOwner.start({ path: '/opt/shared/otp.key' });
 * const server = createServer(app);
 * const socketPath = await listenOnKeySocket(server, owner); // /opt/shared/api.sock
 * ```
 */
export async function listenOnKeySocket(server: Server, key: KeyLocation, options?: KeySocketOptions): Promise<string> {
  optionsObject(options, 'listenOnKeySocket', OPTION_NAMES);
  if (typeof server?.listen !== 'function') fail('server must be a net.Server (an http.Server, or what express, fastify or @hono/node-server give)');
  if (typeof key?.path !== 'string' || !Number.isInteger(key.fileMode)) fail('key must be a KeyOwner (or { path, fileMode })');
  const name = options?.name ?? DEFAULT_NAME;
  if (typeof name !== 'string' || name.length === 0 || name.includes('/') || name.includes('\0') || name === '.' || name === '..') {
    fail('name must be a file name, without a directory');
  }
  const mode = options?.mode ?? socketModeFor(key.fileMode);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) fail('mode must be permission bits from 0 to 0o777, e.g. 0o600');
  const dir = path.dirname(path.resolve(key.path));
  const socketPath = path.join(dir, name);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw socketError(socketPath, `the path is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a socket address holds: choose a shorter key directory or name`);
  }
  await checkDirectory(dir, socketPath);
  await clearStale(socketPath);
  await listen(server, socketPath, mode);
  await fsp.chmod(socketPath, mode).catch((error: unknown) => {
    server.close();
    throw socketError(socketPath, `its mode cannot be set (${errorCode(error)})`, error);
  });
  return socketPath;
}
