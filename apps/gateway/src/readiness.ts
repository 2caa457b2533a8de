import { Bus } from '@fanout/bus';
import { Logger } from '@fanout/observability';

const PROBE_INTERVAL_MS = 1000;
const READY_WINDOW_MS = 2000;

/**
 * Readiness proven, not assumed: a canary goes through the store and back over this replica's own
 * subscription path every second; ready while the last one returned within the last 2 s and the
 * subscription connection has not been lost since.
 */
export class CanaryReadiness {
  private lastSuccessAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private everReady = false;

  constructor(
    private readonly bus: Bus,
    private readonly logger: Logger,
  ) {
    // A lost subscription connection is known at once: not ready until a canary goes through again.
    bus.onConnection((event) => {
      if (event === 'down') this.lastSuccessAt = 0;
    });
  }

  start(): void {
    const tick = async (): Promise<void> => {
      try {
        await this.bus.probe(PROBE_INTERVAL_MS);
        this.lastSuccessAt = Date.now();
        if (this.failing && this.everReady) this.logger.info('canary delivered again: ready');
        else if (!this.everReady) this.logger.info('canary delivered: ready');
        this.everReady = true;
        this.failing = false;
      } catch (error) {
        // Before the first canary the connections are still being set up: that is no warning.
        if (!this.failing && this.everReady) this.logger.warn({ err: (error as Error).message }, 'canary failed: not ready');
        this.failing = true;
      }
      if (this.timer) this.timer = setTimeout(() => void tick(), this.failing ? 100 : PROBE_INTERVAL_MS);
    };
    this.timer = setTimeout(() => void tick(), 0);
  }

  isReady(now = Date.now()): boolean {
    return now - this.lastSuccessAt < READY_WINDOW_MS;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
