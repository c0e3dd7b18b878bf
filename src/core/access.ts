/**
 * Who may talk to the server: one definition of each access rule, used by the
 * RESP listener, the HTTP listener and the commands alike, so a security rule
 * can never mean one thing on one port and another on the next.
 */
import net from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../log.js';
import { safeTimeout } from './guard.js';

/**
 * A loopback peer: 127.0.0.0/8, ::1 (bracketed or not) and IPv4-mapped
 * 127.x. Accepts a bare host or `host:port` as CLIENT LIST shows addresses.
 */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  let host = addr;
  if (net.isIP(host) === 0) {
    // `ip:port`, `[v6]:port`: drop the port.
    const colon = host.lastIndexOf(':');
    if (colon > 0) host = host.slice(0, colon);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  }
  return host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.');
}

const digest = (s: Buffer | string) => createHash('sha256').update(s).digest();

/**
 * Constant-time password check: fixed-length digests are compared, so the
 * time taken says nothing about the password or the guess's length.
 */
export function passwordMatches(given: Buffer | string, password: string): boolean {
  return timingSafeEqual(digest(given), digest(password));
}

/** May this peer connect at all? (Redis's protected mode: no password and not loopback → no.) */
export function protectedModeRefuses(config: { 'protected-mode': boolean; requirepass: string }, remote: string | undefined): boolean {
  return config['protected-mode'] && !config.requirepass && !isLoopback(remote);
}

/** Redis's protected-mode text; `howToAuth` says how this front end takes the password. */
export function protectedModeMessage(howToAuth: string): string {
  return 'DENIED Astronaut is running in protected mode because protected mode is enabled and no password is set. '
    + 'In this mode connections are only accepted from the loopback interface. To accept remote clients, either set a password '
    + `(${howToAuth}), or disable protected mode (--protected-mode no).`;
}

/** How often, at most, running out of descriptors on accept is logged. */
const ACCEPT_ERROR_LOG_MS = 10_000;

/**
 * A listener's errors after it is bound. Out of descriptors (EMFILE, ENFILE),
 * accept fails for every connection attempt; libuv drops the pending
 * connection and the listener keeps serving, so the only thing to do is say
 * so, once in a while, not once per attempt.
 */
function listenerErrorLogger(log: Logger, what: string): (e: NodeJS.ErrnoException) => void {
  let lastLogged = -Infinity;
  let dropped = 0;
  return (e) => {
    if (e.code !== 'EMFILE' && e.code !== 'ENFILE') { log.error({ err: e }, `${what} listener error`); return; }
    dropped++;
    const now = Date.now();
    if (now - lastLogged < ACCEPT_ERROR_LOG_MS) return;
    log.warn({ code: e.code, dropped }, `${what}: out of file descriptors, connections dropped on accept (lower maxclients or raise 'ulimit -n')`);
    lastLogged = now;
    dropped = 0;
  };
}

/** Long enough for a refused client to read why; then its descriptor is freed whether it closed or not. */
const REFUSAL_LINGER_MS = 1000;

/**
 * Answer a connection we will not serve with `text` and close it. The close
 * does not wait for the peer: a client that never closes its side would
 * otherwise keep the descriptor that maxclients exists to protect.
 */
export function refuseConnection(socket: net.Socket, text: string, log: Logger): void {
  socket.on('error', () => { /* the peer reset: nothing to tell it */ });
  socket.resume(); // whatever it sends is discarded unread
  socket.end(text);
  const linger = safeTimeout(log, 'refused connection linger', REFUSAL_LINGER_MS, () => socket.destroy());
  socket.once('close', () => clearTimeout(linger));
}

/**
 * Listen on every bind address with one port. An address prefixed with '-'
 * may be unavailable (skipped, as Redis does). A wildcard IPv6 address is
 * bound v6-only, so "0.0.0.0 ::" binds both families without colliding.
 * Returns the servers and the port they share (the first one's pick when 0).
 */
export async function listenOnEvery<S extends net.Server>(
  binds: readonly string[], port: number, make: () => S, log: Logger, what: string,
): Promise<{ servers: S[]; port: number }> {
  const servers: S[] = [];
  let bound = port;
  for (const raw of binds) {
    const optional = raw.startsWith('-');
    const host = optional ? raw.slice(1) : raw;
    const srv = make();
    try {
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        // Always pass the host: listen(port) alone would bind every interface.
        srv.listen({ port: bound, host, ipv6Only: net.isIPv6(host) }, () => { srv.off('error', reject); resolve(); });
      });
    } catch (e) {
      srv.close();
      if (optional) { log.debug({ host, err: (e as Error).message }, `optional ${what} bind address unavailable`); continue; }
      for (const s of servers) s.close();
      throw e;
    }
    const addr = srv.address();
    if (addr && typeof addr === 'object') bound = addr.port;
    srv.on('error', listenerErrorLogger(log, what));
    servers.push(srv);
  }
  if (servers.length === 0) throw new Error(`could not listen for ${what} on any bind address (${binds.join(' ')})`);
  return { servers, port: bound };
}
