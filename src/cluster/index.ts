// The handshake across hosts: the keyring in etcd, its owners and the per-host mirror.
export type { EtcdAuth, EtcdTls } from './etcd.js';
export { EtcdKeyMirror, type EtcdKeyMirrorOptions } from './mirror.js';
export type { EtcdConnectionOptions } from './options.js';
export { EtcdKeyOwner, type EtcdKeyOwnerOptions } from './owner.js';
