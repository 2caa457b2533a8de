import { MemoryBus } from '../src';
import { runBusConformance } from './conformance';

runBusConformance('MemoryBus', async (opts) => {
  const bus = new MemoryBus(opts);
  return { bus, cleanup: () => bus.close() };
});
