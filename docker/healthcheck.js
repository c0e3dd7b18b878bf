#!/usr/bin/env node
// The container's health check: plain Node, no packages, so the slim image needs nothing extra.
//
// Healthy (exit 0) when GET /healthz on the HTTP port answers 200 (the dataset is
// loaded; "degraded" while the disk refuses writes still counts: reads work).
// When the HTTP API is off (ASTRONAUT_HTTP_PORT=0) or not listening, a RESP
// PING must answer +PONG (with AUTH first when a password is known from
// ASTRONAUT_REQUIREPASS or ASTRONAUT_REQUIREPASS_FILE). Anything else, or no
// answer within the timeout, is unhealthy (exit 1). Docker keeps the printed line.
//
// Ports come from ASTRONAUT_PORT / ASTRONAUT_HTTP_PORT (defaults 6379 / 8080), the
// host from ASTRONAUT_HEALTHCHECK_HOST (default 127.0.0.1).
import net from 'node:net';
import http from 'node:http';
import { readFileSync } from 'node:fs';

const env = process.env;
const host = env.ASTRONAUT_HEALTHCHECK_HOST || '127.0.0.1';
const respPort = Number(env.ASTRONAUT_PORT || 6379);
const httpPort = Number(env.ASTRONAUT_HTTP_PORT ?? 8080);
const TIMEOUT_MS = Number(env.ASTRONAUT_HEALTHCHECK_TIMEOUT_MS || 3000);

function password() {
  if (env.ASTRONAUT_REQUIREPASS) return env.ASTRONAUT_REQUIREPASS;
  if (env.ASTRONAUT_REQUIREPASS_FILE) {
    try { return readFileSync(env.ASTRONAUT_REQUIREPASS_FILE, 'utf8').replace(/\r?\n$/, ''); } catch { return ''; }
  }
  return '';
}

function done(healthy, message) {
  process.stdout.write(`${healthy ? 'healthy' : 'unhealthy'}: ${message}\n`);
  process.exit(healthy ? 0 : 1);
}

/** GET /healthz: resolves with [status, body], or null when nothing listens there. */
function healthz() {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: httpPort, path: '/healthz', timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve([res.statusCode, body.trim()]));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from http://${host}:${httpPort}/healthz in ${TIMEOUT_MS} ms`)));
    req.on('error', (e) => (e.code === 'ECONNREFUSED' ? resolve(null) : reject(e)));
  });
}

function bulk(s) { const b = Buffer.from(s); return `$${b.length}\r\n${b}\r\n`; }

/** PING over RESP (after AUTH when a password is known): resolves with the replies' text. */
function ping() {
  const pass = password();
  const request = (pass ? `*2\r\n${bulk('AUTH')}${bulk(pass)}` : '') + `*1\r\n${bulk('PING')}`;
  const expected = pass ? 2 : 1;
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port: respPort });
    let out = '';
    s.setTimeout(TIMEOUT_MS, () => s.destroy(new Error(`no answer from ${host}:${respPort} in ${TIMEOUT_MS} ms`)));
    s.on('connect', () => s.write(request));
    s.on('data', (d) => {
      out += d;
      if (out.split('\r\n').length > expected) { s.end(); resolve(out); }
    });
    s.on('error', reject);
    s.on('close', () => resolve(out));
  });
}

try {
  const h = httpPort > 0 ? await healthz() : null;
  if (h) {
    const [status, body] = h;
    done(status === 200, `GET /healthz ${status} ${body}`);
  }
  const replies = (await ping()).split('\r\n').filter(Boolean);
  const last = replies[replies.length - 1] ?? '(no reply)';
  done(last === '+PONG', `PING ${last}`);
} catch (e) {
  done(false, e instanceof Error ? e.message : String(e));
}
