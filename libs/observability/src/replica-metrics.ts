import cluster from 'node:cluster';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';

/**
 * Metrics of a whole replica when it runs as several processes (node:cluster, FANOUT_WORKERS): a
 * worker answering /metrics asks the primary, which collects every worker's registry and sums them
 * (prom-client's AggregatorRegistry), so one scrape of any worker sees the whole replica.
 */

const REQUEST = 'fanout:replica-metrics-request';
const ANSWER = 'fanout:replica-metrics-answer';
const ASK_TIMEOUT_MS = 5000;

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}

interface MetricsAnswer {
  type: typeof ANSWER;
  id: number;
  text?: string;
  error?: string;
}

/**
 * The /metrics text of this process's replica: its own registry, or in a node:cluster worker the
 * sum over every worker (asked of the primary). In a worker it also registers `fanout_workers`
 * (1 per worker, so the sum counts the workers that answered).
 */
export function replicaMetrics(registry: Registry): () => Promise<string> {
  if (!cluster.isWorker) return () => registry.metrics();
  new Gauge({ name: 'fanout_workers', help: 'Worker processes of this replica that answered the scrape', registers: [registry] }).set(1);
  // Answers the primary's AggregatorRegistry with this registry (the constructor installs the listener).
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();

  let nextId = 0;
  const waiting = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
  process.on('message', (message: MetricsAnswer) => {
    if (message?.type !== ANSWER) return;
    const waiter = waiting.get(message.id);
    if (!waiter) return;
    waiting.delete(message.id);
    if (message.error !== undefined) waiter.reject(new Error(message.error));
    else waiter.resolve(message.text ?? '');
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the primary did not answer with the replica's metrics within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      waiting.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      const request: MetricsRequest = { type: REQUEST, id };
      process.send!(request);
    });
}

/** In the node:cluster primary: answers workers' requests for the replica's metrics. */
export function serveReplicaMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: MetricsRequest) => {
    if (message?.type !== REQUEST) return;
    const reply = (answer: Omit<MetricsAnswer, 'type' | 'id'>): void => {
      if (worker.isConnected()) worker.send({ type: ANSWER, id: message.id, ...answer } satisfies MetricsAnswer);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: Error) => reply({ error: error.message }),
    );
  });
}
