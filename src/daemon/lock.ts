/** One daemon per socket: a pid lock beside the socket, and stale-socket recovery. */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { pidAlive } from '../system/proc.js';

export class AlreadyRunningError extends Error {
  constructor(
    readonly socketPath: string,
    readonly pid?: number,
  ) {
    super(`bangerd is already running on ${socketPath}${pid ? ` (pid ${pid})` : ''}`);
    this.name = 'AlreadyRunningError';
  }
}

/** Takes the lock file, or throws AlreadyRunningError when a live daemon holds it. */
export function acquireLock(lockPath: string, socketPath: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(lockPath, 'utf8').trim() === String(process.pid)) rmSync(lockPath, { force: true });
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let pid: number | undefined;
      try {
        pid = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
      } catch {
        pid = undefined;
      }
      if (pid && pid !== process.pid && pidAlive(pid)) throw new AlreadyRunningError(socketPath, pid);
      rmSync(lockPath, { force: true });
    }
  }
  throw new AlreadyRunningError(socketPath);
}

/** True when something answers on the socket. */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (v: boolean) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
