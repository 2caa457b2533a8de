import { createGatewayMetrics, createPublisherMetrics, createRegistry } from '../src';

describe('metrics of a process that has served nothing yet', () => {
  test('every documented label value of the contract has a series at 0', async () => {
    const registry = createRegistry();
    createGatewayMetrics(registry, { subscriptionCount: () => 0, answerBytes: () => 0 });
    createPublisherMetrics(registry);
    const text = await registry.metrics();
    for (const kind of ['job', 'pack-run', 'run', 'multi', 'subjects']) {
      expect(text).toContain(`fanout_gateway_connections{kind="${kind}"} 0`);
      expect(text).toContain(`fanout_gateway_events_delivered_total{kind="${kind}"} 0`);
    }
    for (const reason of ['client_closed', 'completed', 'idle_timeout', 'slow_consumer', 'shutdown', 'token_expired']) {
      expect(text).toContain(`fanout_gateway_disconnects_total{reason="${reason}"} 0`);
    }
    for (const result of ['accepted', 'duplicate', 'rejected']) expect(text).toContain(`fanout_publisher_events_total{result="${result}"} 0`);
    expect(text).toContain('fanout_gateway_replayed_events_total 0');
    expect(text).toContain('fanout_gateway_heartbeats_total 0');
    expect(text).toContain('fanout_gateway_subscriptions 0');
  });
});
