import Redis from 'ioredis';

function endpointOf(connection: Redis): string | undefined {
  const socket = connection.stream as { remoteAddress?: string; remotePort?: number } | undefined;
  return socket?.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`;
}

/**
 * On a Sentinel-managed master, the safety net under ioredis's failover detector: the command
 * connection must be on a node that says it is the master, and the subscription path on the same
 * node (a demoted master keeps receiving what its new master replicates, so a subscriber left on it
 * would look healthy). Otherwise the connection that is wrong is dropped (it reconnects through the
 * sentinels to the master of the moment, and the subscription path recovers as after a restart)
 * and this throws: not ready.
 */
export async function assertOnTheMaster(command: Redis, subscriber: Redis): Promise<void> {
  const [role] = (await command.role()) as [string, ...unknown[]];
  if (role !== 'master') {
    command.disconnect(true);
    throw new Error(`the store's node is a ${role}, not the master: reconnecting through the sentinels`);
  }
  const store = endpointOf(command);
  const path = endpointOf(subscriber);
  if (store !== undefined && path !== undefined && store !== path) {
    subscriber.disconnect(true);
    throw new Error(`the subscription path is on ${path}, not on the master ${store}: reconnecting through the sentinels`);
  }
}
