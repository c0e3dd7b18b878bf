/**
 * The HTTP side door: node:http listeners on the configured bind addresses,
 * serving the API routes (or /metrics alone on the metrics port). Here live
 * the concerns HTTP adds on top of the commands: routing, the Bearer password
 * (requirepass, compared in constant time), protected mode, the body size
 * limit, JSON errors with fitting status codes, and request counters.
 *
 * node:http is enough for a dozen routes; a framework would bring more code
 * than the routes themselves.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { ClientState } from '../core/types.js';
import { NoAuthError, WrongPassError } from '../errors.js';
import { safeTimeout } from '../core/guard.js';
import { listenOnEvery, passwordMatches, protectedModeMessage, protectedModeRefuses, refuseConnection } from '../core/access.js';
import { HttpError, matchRoute, type ApiResponse, type Route } from './api.js';
import { toJsonText, type Json } from './json-reply.js';
import { JsonBodyError, JsonPieces, blankText, parseJsonInSlices, type JsonText } from './json-body.js';

export interface ListenerHost {
  readonly config: Config;
  readonly log: Logger;
  /** Every open connection, RESP and HTTP, as maxclients counts them. */
  openConnections(): number;
}

const PROTECTED = protectedModeMessage('requirepass, then send "Authorization: Bearer <password>"');

/** A body up to this size is joined into one string (well under a ms); a larger one is read in its pieces. */
const JOIN_MAX_BYTES = 1 << 20;
/** How long a shutdown waits for requests in flight before closing their connections. */
const CLOSE_GRACE_MS = 2000;
/**
 * How often node:http checks its request and header timeouts. Its default,
 * 30 s, lets a slow sender outlive `http-request-timeout` by that much.
 */
const TIMEOUT_CHECK_MS = 1000;

const TOO_MANY = JSON.stringify({ error: 'ERR max number of clients reached', code: 'ERR' }) + '\n';
const TOO_MANY_RESPONSE = 'HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n'
  + `retry-after: 1\r\ncontent-length: ${Buffer.byteLength(TOO_MANY)}\r\n\r\n${TOO_MANY}`;

/** null when the request may proceed; otherwise the 401 to answer. */
export function checkAuthorization(header: string | undefined, password: string): HttpError | null {
  if (!password) return null;
  const challenge = { 'www-authenticate': 'Bearer realm="astronaut"' };
  if (!header) return new HttpError(401, new NoAuthError().line(), challenge);
  const m = /^(\S+)\s+(.*)$/.exec(header.trim());
  let given: string | null = null;
  if (m && m[1].toLowerCase() === 'bearer') given = m[2];
  else if (m && m[1].toLowerCase() === 'basic') {
    // curl -u default:<password> (or :<password>): the Redis user is "default".
    const decoded = Buffer.from(m[2], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? null : decoded.slice(0, colon);
    if (user === '' || user === 'default') given = decoded.slice(colon + 1);
  }
  const passOk = passwordMatches(given ?? '', password);
  return given !== null && passOk ? null : new HttpError(401, new WrongPassError().line(), challenge);
}

/** Path segments, percent-decoded; trailing slash ignored. */
function segmentsOf(url: string): string[] {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const parts = path.split('/').slice(1);
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  try {
    return parts.map((p) => decodeURIComponent(p));
  } catch {
    throw HttpError.bad('malformed percent-encoding in the path');
  }
}

export class HttpFront {
  /** Requests answered, by `route\tmethod\tstatus`. */
  readonly requests = new Map<string, number>();
  private readonly servers: http.Server[] = [];
  /** Connections open on every HTTP listener: they count against maxclients with the RESP clients. */
  private open = 0;
  /** Connections answered 503 at accept: requests the HTTP parser still reads from them are not served. */
  private readonly refused = new WeakSet<Socket>();

  constructor(private readonly host: ListenerHost, private readonly routes: readonly Route[]) {}

  /** Listen on every bind address (a '-' prefix: skip it if unavailable); returns the port. */
  async listen(port: number, binds: readonly string[], metricsOnly: boolean): Promise<number> {
    const routes = metricsOnly ? this.routes.filter((r) => r.name === '/metrics') : this.routes;
    const make = () => {
      const srv = http.createServer({ connectionsCheckingInterval: TIMEOUT_CHECK_MS }, (req, res) => {
        if (this.refused.has(req.socket)) { req.socket.destroy(); return; }
        void this.serve(routes, req, res);
      });
      this.applyTimeouts(srv);
      srv.on('connection', (socket: Socket) => this.admitConnection(socket));
      // Refuse an oversized upload before the client sends it (curl sends Expect: 100-continue past 1 MB).
      srv.on('checkContinue', (req, res) => {
        if (this.refused.has(req.socket)) { req.socket.destroy(); return; }
        const tooBig = this.declaredTooBig(req);
        if (tooBig) { this.count('-', req.method ?? '', tooBig.status); this.send(res, errorResponse(tooBig)); return; }
        res.writeContinue();
        void this.serve(routes, req, res);
      });
      return srv;
    };
    const { servers, port: bound } = await listenOnEvery(binds, port, make, this.host.log, 'HTTP');
    this.servers.push(...servers);
    return bound;
  }

  /** HTTP connections open now. */
  get connectionCount(): number { return this.open; }

  /**
   * Count a new connection, or refuse it past maxclients (RESP and HTTP
   * together): every connection holds a descriptor, and running out of them
   * fails far more than this one request.
   */
  private admitConnection(socket: Socket): void {
    if (this.host.openConnections() >= this.host.config.maxclients) {
      this.refused.add(socket);
      refuseConnection(socket, TOO_MANY_RESPONSE, this.host.log);
      return;
    }
    this.open++;
    socket.once('close', () => { this.open--; });
  }

  /**
   * A request, headers and body, must arrive within http-request-timeout
   * (node:http's default lets a slow sender hold a connection for 300 s).
   * Idle keep-alive connections close after node's keepAliveTimeout (5 s).
   */
  private applyTimeouts(srv: http.Server): void {
    const ms = this.host.config['http-request-timeout'] * 1000;
    srv.requestTimeout = ms;
    srv.headersTimeout = ms;
  }

  /** CONFIG SET http-request-timeout: applies to requests from now on. */
  timeoutsChanged(): void {
    for (const srv of this.servers) this.applyTimeouts(srv);
  }

  get addresses(): string[] {
    return this.servers.map((s) => { const a = s.address(); return a && typeof a === 'object' ? `${a.address}:${a.port}` : String(a); });
  }

  /** Stop accepting; let requests in flight finish (briefly), then close what is left. */
  async close(): Promise<void> {
    await Promise.all(this.servers.map((srv) => new Promise<void>((resolve) => {
      const timer = safeTimeout(this.host.log, 'HTTP close grace', CLOSE_GRACE_MS, () => srv.closeAllConnections());
      srv.close(() => { clearTimeout(timer); resolve(); });
      srv.closeIdleConnections();
    })));
    this.servers.length = 0;
  }

  private declaredTooBig(req: http.IncomingMessage): HttpError | null {
    const limit = this.host.config['http-max-body-bytes'];
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return tooLarge(limit);
    return null;
  }

  private count(route: string, method: string, status: number): void {
    const k = `${route}\t${method}\t${status}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  private async serve(routes: readonly Route[], req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? 'GET';
    let routeName = '-';
    let response: ApiResponse;
    try {
      const m = matchRoute(routes, method, segmentsOf(req.url ?? '/'));
      if ('allow' in m) {
        if (m.allow.length === 0) throw new HttpError(404, `ERR unknown route ${method} ${(req.url ?? '').slice(0, 200)}`);
        throw new HttpError(405, `ERR method ${method} not allowed here: use ${m.allow.join(', ')}`, { allow: m.allow.join(', ') });
      }
      const { route, params } = m;
      routeName = route.name;
      if (!route.open) this.admit(req);
      const tooBig = this.declaredTooBig(req);
      if (tooBig) throw tooBig;
      response = await route.handle({ client: this.clientFor(req), params, body: () => this.readJson(req) });
    } catch (e) {
      if (e instanceof HttpError) response = errorResponse(e);
      else {
        this.host.log.error({ err: e, method, url: req.url }, 'HTTP request failed with an internal error');
        response = errorResponse(new HttpError(500, 'ERR internal error'));
      }
    }
    this.count(routeName, method, response.status);
    try {
      this.send(res, response);
    } catch (e) {
      // serve() runs detached (`void`): anything thrown here would be an unhandled rejection, which ends the process.
      this.host.log.error({ err: e, method, url: req.url }, 'HTTP response could not be sent');
      if (!res.headersSent) this.send(res, errorResponse(new HttpError(500, 'ERR internal error')));
      else res.destroy();
    }
    const ms = Math.round((performance.now() - started) * 1000) / 1000;
    if (response.status >= 500) this.host.log.warn({ method, route: routeName, status: response.status, ms }, 'HTTP request failed');
    else this.host.log.debug({ method, route: routeName, status: response.status, ms }, 'HTTP request');
  }

  /** Protected mode, then the password; throws the refusal. */
  private admit(req: http.IncomingMessage): void {
    const config = this.host.config;
    if (protectedModeRefuses(config, req.socket.remoteAddress)) throw new HttpError(403, PROTECTED);
    const refusal = checkAuthorization(req.headers.authorization, config.requirepass);
    if (refusal) throw refusal;
  }

  /** The client the request's commands run as: authenticated (the listener checked), RESP3 (maps stay maps). */
  private clientFor(req: http.IncomingMessage): ClientState {
    const s = req.socket;
    const now = Date.now();
    return {
      id: 0, name: 'http', proto: 3, db: 0, authenticated: true, libName: 'http', libVer: '',
      addr: `${s.remoteAddress ?? '?'}:${s.remotePort ?? 0}`, laddr: `${s.localAddress ?? '?'}:${s.localPort ?? 0}`,
      createdAt: now, lastInteraction: now, multi: null, multiDirty: false, closeAfterReply: false,
      lastCommand: '', noEvict: false, noTouch: false,
    };
  }

  private async readJson(req: http.IncomingMessage): Promise<unknown> {
    const text = await this.readText(req);
    if (blankText(text)) throw HttpError.bad('request body must be a JSON object');
    try {
      // In slices: a 16 MB body in one JSON.parse holds the event loop for a third of a second.
      return await parseJsonInSlices(text);
    } catch (e) {
      if (e instanceof JsonBodyError) throw HttpError.bad(`request body is not valid JSON: ${e.message}`);
      throw e;
    }
  }

  /**
   * The body as text, decoded chunk by chunk as it arrives rather than all at once at the end;
   * a large one is left in those pieces (joined, 93 MB took the loop ~70 ms).
   */
  private readText(req: http.IncomingMessage): Promise<JsonText> {
    const limit = this.host.config['http-max-body-bytes'];
    return new Promise((resolve, reject) => {
      const decoder = new StringDecoder('utf8');
      const parts: string[] = [];
      let size = 0;
      let settled = false;
      req.on('data', (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        if (size > limit) { settled = true; reject(tooLarge(limit)); return; }
        parts.push(decoder.write(chunk));
      });
      req.on('end', () => {
        if (settled) return;
        settled = true;
        parts.push(decoder.end());
        resolve(size <= JOIN_MAX_BYTES ? parts.join('') : new JsonPieces(parts));
      });
      req.on('error', (e) => { if (!settled) { settled = true; reject(HttpError.bad(`reading the request body failed: ${e.message}`)); } });
    });
  }

  private send(res: http.ServerResponse, r: ApiResponse): void {
    if (res.headersSent) return;
    // JSON.stringify recurses: fine for what the routes build, which nests a few levels around
    // payloads of at most MAX_PAYLOAD_DEPTH, but not for an older, deeper payload.
    const text = typeof r.body === 'string' ? r.body : (r.deep ? toJsonText(r.body) : JSON.stringify(r.body)) + '\n';
    res.writeHead(r.status, {
      'content-type': r.contentType ?? 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      ...r.headers,
    });
    res.end(text);
  }
}

/** 413; the connection is closed after it, so the rest of the upload is not read. */
function tooLarge(limit: number): HttpError {
  return new HttpError(413, `ERR request body is larger than http-max-body-bytes (${limit} bytes)`, { connection: 'close' });
}

function errorResponse(e: HttpError): ApiResponse {
  const body: Json = { error: e.line, code: e.code };
  return { status: e.status, body, headers: e.headers };
}
