import { RedisBus, RedisBusOptions } from '../src';
import { waitFor } from '../../../test/support/wait';

/**
 * A RedisBus whose subscription path is up. A fresh bus tells nothing on `onConnection` (that is for
 * losses and recoveries), so readiness is what the gateway's /readyz uses: a probe that went round.
 */
export async function openReadyRedisBus(options: RedisBusOptions): Promise<RedisBus> {
  const bus = new RedisBus(options);
  try {
    await waitFor('the bus to pass a probe', () => bus.probe(1000).then(() => true), 10_000, 5);
  } catch (error) {
    await bus.close();
    throw error;
  }
  return bus;
}
