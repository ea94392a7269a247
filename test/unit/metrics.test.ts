import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { BucketHistogram, createWorkerMetrics, type MetricsSnapshot } from '../../src/introspection/metrics.ts';

const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Values on, just below and just above every bound, zero, past the last bound, and random ones. */
function sampleValues(): number[] {
  const values = [0, 1e-9, 61, 1000];
  for (const bound of buckets) values.push(bound, bound * (1 - 1e-12), bound * (1 + 1e-12), bound / 3);
  for (let i = 0; i < 5000; i++) values.push(Math.random() ** 4 * 70);
  return values;
}

test('BucketHistogram gives the snapshot prom-client\'s Histogram gives for the same observations', async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const a = new BucketHistogram({ name: 'h_seconds', help: 'A histogram.', buckets, registers: [ours] });
  const b = new Histogram({ name: 'h_seconds', help: 'A histogram.', buckets, registers: [theirs] });
  // Empty, then after each batch of observations.
  assert.deepStrictEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
  for (const value of sampleValues()) {
    a.observe(value);
    b.observe(value);
  }
  assert.deepStrictEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
  assert.equal(await ours.metrics(), await theirs.metrics());
  // As the supervisor sees it: over IPC (JSON) and aggregated across workers.
  const viaIpc = async (r: Registry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as MetricsSnapshot;
  const aggregated = async (r: Registry) => AggregatorRegistry.aggregate([await viaIpc(r), await viaIpc(r)]).metrics();
  assert.equal(await aggregated(ours), await aggregated(theirs));
  a.reset();
  b.reset();
  b.zero({}); // prom-client's reset drops the empty label set; zero() brings it back as ours keeps it
  assert.deepStrictEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
});

test('worker metrics: the request counter and histograms match prom-client observed per request', async () => {
  const metrics = createWorkerMetrics(1);
  // The reference: what createWorkerMetrics did before (prom-client, per request).
  const reference = new Registry();
  const requests = new Counter({ name: 'ballast_requests_total', help: 'Responses sent, by status class.', labelNames: ['status_class'] as const, registers: [reference] });
  const duration = new Histogram({ name: 'ballast_request_duration_seconds', help: 'Time from request arrival to response end (queue wait included).', buckets, registers: [reference] });
  const queueWait = new Histogram({ name: 'ballast_queue_wait_seconds', help: 'Time requests waited for an admission slot.', buckets, registers: [reference] });
  for (const c of ['1xx', '2xx', '3xx', '4xx', '5xx']) requests.labels(c).inc(0);

  const compared = new Set(['ballast_requests_total', 'ballast_request_duration_seconds', 'ballast_queue_wait_seconds']);
  const pick = (snapshot: MetricsSnapshot) => snapshot.filter((m) => compared.has(m.name));
  const compare = async () => assert.deepStrictEqual(pick(await metrics.registry.getMetricsAsJSON()), await reference.getMetricsAsJSON());
  await compare();
  const statuses = [100, 200, 204, 301, 404, 499, 500, 503, 599, 99, 600];
  for (let round = 0; round < 3; round++) {
    for (const [i, ms] of sampleValues().map((v) => v * 1000).entries()) {
      const status = statuses[i % statuses.length]!;
      const waitMs = i % 4 === 0 ? ms / 2 : 0;
      metrics.observeRequest(status, ms, waitMs);
      requests.labels(['1xx', '2xx', '3xx', '4xx', '5xx'][Math.min(4, Math.max(0, Math.floor(status / 100) - 1))]!).inc();
      duration.observe(ms / 1000);
      queueWait.observe(waitMs / 1000);
    }
    // Read twice: what is collected once is not counted again.
    await compare();
    await compare();
  }
});
