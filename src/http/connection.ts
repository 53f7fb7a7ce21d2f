// Where a request came from, read off a node socket: the peer's address for the per-client
// count, and the listening server for the per-listener count. Typed structurally, so that no
// adapter loads node:net, and so that a socket of another runtime's node compatibility works.
import type { Connection } from './decide.js';

/** The part of a node `net.Socket` the guards read. */
export interface SocketLike {
  readonly remoteAddress?: string | undefined;
  /** Set by `net.Server` on the sockets it accepts. */
  readonly server?: object | null | undefined;
}

/**
 * The connection of a request on a node socket. `address` overrides the socket's peer address
 * (express's `req.ip` and fastify's `request.ip`, which honour their trust-proxy settings).
 */
export function connectionOf(socket: SocketLike | null | undefined, address?: string): Connection {
  return { address: address ?? socket?.remoteAddress, listener: socket?.server ?? undefined };
}
