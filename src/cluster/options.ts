// Option checks shared by the etcd owner and the mirror: where etcd is, how to log in, which
// keyring. Misuse throws ERR_OTP_OPTIONS at start, naming the option.
import { fail, milliseconds, optionsObject } from '../internal/options.js';
import { type EtcdAuth, EtcdClient, type EtcdTls } from './etcd.js';

/** Where the keyring lives, and how to reach it. */
export interface EtcdConnectionOptions {
  /** etcd's client URLs, e.g. ['https://10.0.0.1:2379', 'https://10.0.0.2:2379', 'https://10.0.0.3:2379']. */
  endpoints: string[];
  /**
   * The keyring's name: its keys live under `/totp-handshake/<name>/`. Letters, digits, '.', '_'
   * and '-', up to 64 characters. Every owner and mirror of one set of services uses the same name.
   */
  name: string;
  /** An etcd user; required when etcd has auth enabled. */
  auth?: EtcdAuth;
  /** TLS settings for https:// endpoints. */
  tls?: EtcdTls;
  /** How long one request to one endpoint may take before the next endpoint is tried (ms). Default 1000. */
  requestTimeout?: number;
}

export const CONNECTION_OPTION_NAMES: readonly (keyof EtcdConnectionOptions)[] = ['endpoints', 'name', 'auth', 'tls', 'requestTimeout'];
const DEFAULT_REQUEST_TIMEOUT_MS = 1000;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const TLS_OPTION_NAMES: readonly (keyof EtcdTls)[] = ['ca', 'cert', 'key', 'servername'];

function endpoint(value: unknown): URL {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    fail('endpoints must be http:// or https:// URLs without credentials, such as http://127.0.0.1:2379');
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') fail('an etcd endpoint is a scheme, host and port: its gateway is at /v3/');
  return url;
}

function auth(value: unknown): EtcdAuth | undefined {
  if (value === undefined) return undefined;
  const given = optionsObject(value as EtcdAuth, 'auth', ['username', 'password'], true) as EtcdAuth;
  if (typeof given.username !== 'string' || given.username === '') fail('auth.username must be a non-empty string');
  if (typeof given.password !== 'string') fail('auth.password must be a string');
  return { username: given.username, password: given.password };
}

function tls(value: unknown): EtcdTls | undefined {
  if (value === undefined) return undefined;
  const given = optionsObject(value as EtcdTls, 'tls', TLS_OPTION_NAMES, true) as EtcdTls;
  for (const name of TLS_OPTION_NAMES) {
    const item = given[name];
    if (item !== undefined && typeof item !== 'string' && !Buffer.isBuffer(item)) fail(`tls.${name} must be a string or a Buffer`);
  }
  if ((given.cert === undefined) !== (given.key === undefined)) fail('tls.cert and tls.key go together');
  return { ...given };
}

/** The keyring's etcd prefix, from a checked name. */
export function keyringPrefix(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) fail("name must be 1 to 64 letters, digits, '.', '_' or '-'");
  return `/totp-handshake/${name}/`;
}

/** A client for the connection options (checked), and the keyring's prefix. */
export function connect(options: EtcdConnectionOptions): { client: EtcdClient; prefix: string } {
  if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) fail('endpoints must be a non-empty array of etcd client URLs');
  const endpoints = options.endpoints.map(endpoint);
  const prefix = keyringPrefix(options.name);
  const requestTimeout = milliseconds(options.requestTimeout, 'requestTimeout', DEFAULT_REQUEST_TIMEOUT_MS);
  if (requestTimeout < 50) fail('requestTimeout is in milliseconds: at least 50');
  const client = new EtcdClient({ endpoints, auth: auth(options.auth), tls: tls(options.tls), requestTimeout });
  return { client, prefix };
}
