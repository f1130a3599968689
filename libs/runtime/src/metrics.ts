/** The per-service Prometheus registry: default process metrics and build info, defined once. */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * A registry with prom-client's default metrics under `prefix` (e.g. `tessera_coordinator_`) and a
 * `tessera_build_info{service,version}` gauge. prom-client's active handles/requests/resources are
 * gauges named `*_total`, which `promtool check metrics` rejects, so they are left out.
 */
export function createServiceRegistry(service: string, prefix: string, version: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(`${prefix}${n}`);
  }
  new Gauge({
    name: 'tessera_build_info',
    help: 'Always 1; labels say which service and version is running.',
    labelNames: ['service', 'version', 'node'],
    registers: [registry],
  }).set({ service, version, node: process.version }, 1);
  return registry;
}
