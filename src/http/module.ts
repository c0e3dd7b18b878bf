/**
 * The HTTP API (`http-port`) and the Prometheus endpoint (`/metrics` on the
 * API port, or alone on `metrics-port`). Both listen before the dataset is
 * loaded, so /healthz can answer 503 meanwhile, and stop first at shutdown,
 * before persistence flushes the WAL.
 */
import { HttpFront } from './listener.js';
import { routes, type ApiHost } from './api.js';
import { openapiDocument } from './openapi.js';
import type { Json } from './json-reply.js';
import { renderMetrics, type MetricsWriter } from '../core/metrics.js';
import type { ServerModule } from '../core/module.js';
import type { Server } from '../core/server.js';

/** The HTTP front ends of a server, for tests and INFO (ports are 0 when off). */
export interface HttpState { front: HttpFront; httpPort: number; metricsPort: number }
const states = new WeakMap<Server, HttpState>();
export function httpState(server: Server): HttpState | undefined { return states.get(server); }

function requestCounters(front: HttpFront, w: MetricsWriter): void {
  w.family('astronaut_http_requests_total', 'counter', 'HTTP requests answered, by route, method and status.');
  for (const [k, n] of front.requests) {
    const [route, method, status] = k.split('\t');
    w.sample('astronaut_http_requests_total', n, { route, method, status });
  }
}

export const httpModule: ServerModule = {
  name: 'http',
  async attach(server) {
    if (server.config['http-port'] === 0 && server.config['metrics-port'] === 0) return;
    let doc: Json | null = null;
    const host: ApiHost = {
      get loading() { return server.loading; },
      dispatch: (client, argv) => server.dispatcher.dispatch(client, argv),
      writeRefusal: () => server.dispatcher.writeLog?.refuseWrites()?.line() ?? null,
      metrics: () => renderMetrics(server, (w) => requestCounters(front, w)),
      openapi: () => (doc ??= openapiDocument(server.version)),
    };
    const front = new HttpFront(server, routes(host));
    const state: HttpState = { front, httpPort: 0, metricsPort: 0 };
    states.set(server, state);
    server.shutdownHooks.push(() => front.close());
  },
  async started(server) {
    const state = states.get(server);
    if (!state) return;
    const { config, log } = server;
    if (config['http-port'] > 0) {
      state.httpPort = await state.front.listen(config['http-port'], config.bind, false);
      log.info({ port: state.httpPort, addresses: state.front.addresses }, 'HTTP API listening');
    }
    if (config['metrics-port'] > 0) {
      state.metricsPort = await state.front.listen(config['metrics-port'], config.bind, true);
      log.info({ port: state.metricsPort }, 'Prometheus metrics listening');
    }
  },
};
