/**
 * The HTTP API (`http-port`) and the Prometheus endpoint (`/metrics` on the
 * API port, or alone on `metrics-port`). Both listen before the dataset is
 * loaded, so /healthz can answer 503 meanwhile, and stop before persistence
 * flushes the WAL at shutdown.
 */
import { HttpFront } from './listener.js';
import { routes, type ApiHost } from './api.js';
import { openapiDocument } from './openapi.js';
import type { Json } from './json-reply.js';
import type { MetricsWriter } from '../core/metrics.js';
import type { FeatureModule, ModuleHost } from '../core/module.js';

/** The HTTP front ends of a server, for tests and INFO (ports are 0 when off). */
export interface HttpState { front: HttpFront; httpPort: number; metricsPort: number }
const states = new WeakMap<ModuleHost, HttpState>();
export function httpState(server: ModuleHost): HttpState | undefined { return states.get(server); }

function requestCounters(front: HttpFront, w: MetricsWriter): void {
  w.family('astronaut_http_requests_total', 'counter', 'HTTP requests answered, by route, method and status.');
  for (const [k, n] of front.requests) {
    const [route, method, status] = k.split('\t');
    w.sample('astronaut_http_requests_total', n, { route, method, status });
  }
}

export const httpModule: FeatureModule = {
  name: 'http',
  create(host) {
    const { config, log } = host;
    if (config['http-port'] === 0 && config['metrics-port'] === 0) return {};
    let doc: Json | null = null;
    const api: ApiHost = {
      get loading() { return host.loading; },
      dispatch: (client, argv) => host.dispatch(client, argv),
      runBatch: (client, queued) => host.runBatch(client, queued),
      writeRefusal: () => host.refuseWrites()?.line() ?? null,
      metrics: () => host.renderMetrics((w) => requestCounters(front, w)),
      openapi: () => (doc ??= openapiDocument(host.version)),
    };
    const front = new HttpFront(host, routes(api));
    const state: HttpState = { front, httpPort: 0, metricsPort: 0 };
    states.set(host, state);
    return {
      start: async () => {
        if (config['http-port'] > 0) {
          state.httpPort = await front.listen(config['http-port'], config.bind, false);
          log.info({ port: state.httpPort, addresses: front.addresses }, 'HTTP API listening');
        }
        if (config['metrics-port'] > 0) {
          state.metricsPort = await front.listen(config['metrics-port'], config.bind, true);
          log.info({ port: state.metricsPort }, 'Prometheus metrics listening');
        }
      },
      stop: () => front.close(),
      connections: () => front.connectionCount,
      onConfig: { 'http-request-timeout': () => front.timeoutsChanged() },
    };
  },
};
