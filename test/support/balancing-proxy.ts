import { Server, Socket, createConnection, createServer } from 'node:net';

/**
 * A loopback TCP proxy in front of several HTTP servers (a stand-in for a load balancer): each new
 * connection goes to the next target, round robin, skipping targets that refuse. Tests cut the
 * connections to one target to simulate a dropped network path or a dead replica.
 */
export interface BalancingProxy {
  url: string;
  port: number;
  /** Open client connections per target port. */
  connectionsTo(port: number): number;
  /** Destroys every open connection (both sides) to the target `port`, or to every target. */
  cut(port?: number): number;
  /** Replaces the targets (e.g. without a stopped replica). */
  setTargets(ports: number[]): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  port: number;
}

export async function startBalancingProxy(targets: number[]): Promise<BalancingProxy> {
  let ports = [...targets];
  let next = 0;
  const pairs = new Set<Pair>();

  const connect = (client: Socket, tried: number) => {
    if (ports.length === 0 || tried >= ports.length) {
      client.destroy();
      return;
    }
    const port = ports[next++ % ports.length]!;
    const upstream = createConnection({ host: '127.0.0.1', port });
    const pair: Pair = { client, upstream, port };
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', () => {
      if (!connected) connect(client, tried + 1);
      else client.destroy();
    });
    upstream.on('close', () => {
      pairs.delete(pair);
      if (connected) client.destroy();
    });
    client.on('close', () => {
      pairs.delete(pair);
      upstream.destroy();
    });
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    client.on('error', () => undefined);
    connect(client, 0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connectionsTo: (target) => [...pairs].filter((p) => p.port === target).length,
    cut(target) {
      let count = 0;
      for (const pair of [...pairs]) {
        if (target !== undefined && pair.port !== target) continue;
        pair.client.destroy();
        pair.upstream.destroy();
        pairs.delete(pair);
        count += 1;
      }
      return count;
    },
    setTargets(newPorts) {
      ports = [...newPorts];
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
