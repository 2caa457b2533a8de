import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';

const POLL_MS = 500;
const SHELLS = new Set(['sh', 'dash', 'bash']);

function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function parentOf(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `npx fanout gateway` runs the server under `npm exec` → `sh -c fanout`: npm forwards SIGTERM to
 * the shell, and a shell that does not exec its command (Debian's dash) dies alone, leaving the
 * server running with its port. Under npm exec, the server therefore watches that shell and npm
 * from its start: when either is gone (already, or later) it stops itself as on SIGTERM (draining
 * once it serves). Run any other way, it watches nothing.
 */
export function stopWhenNpxEnds(env: NodeJS.ProcessEnv, onEnded: (launcher: string) => void): void {
  if (env['npm_command'] !== 'exec' || cluster.isWorker || process.platform !== 'linux') return;
  const parent = process.ppid;
  const grandparent = SHELLS.has(commandName(parent)) ? parentOf(parent) : undefined;
  // Gone before this process got here: it was handed to init (pid 1), or its shell was, unless pid
  // 1 is npm itself (a container whose command is npx).
  const orphaned = parent === 1 || (grandparent === 1 && !/^(npm|node)/.test(commandName(1)));
  if (orphaned) {
    onEnded('the npm exec (npx) that started it had ended');
    return;
  }
  const watched = grandparent !== undefined && grandparent > 1 ? [parent, grandparent] : [parent];
  const timer = setInterval(() => {
    if (process.ppid === parent && watched.every(alive)) return;
    clearInterval(timer);
    onEnded(`the npm exec (npx) that started it (pid ${watched[watched.length - 1]}) ended`);
  }, POLL_MS);
  timer.unref();
}
