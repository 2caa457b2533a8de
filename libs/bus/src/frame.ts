import { formatEventId } from './event-id';

/** The SSE frame of a stored event, as the Lua append builds it too. */
export function eventFrame(epoch: string, seq: number, type: string, json: string): string {
  return `id: ${formatEventId(epoch, seq)}\nevent: ${type}\ndata: ${json}\n\n`;
}
