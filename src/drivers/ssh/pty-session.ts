/**
 * An interactive shell in a VM over SSH with a PTY (the ssh2 library, so the daemon can resize the
 * terminal and carry bytes to a websocket without a local pty). The host key must equal the VM's
 * pinned key: there is no trust on first use here either.
 */
import { Client, type ClientChannel } from 'ssh2';

export interface PtyTarget {
  host: string;
  port: number;
  user: string;
  /** The client's private key (OpenSSH format). */
  privateKey: string;
  /** The pinned host key, `type base64`. */
  pinnedHostKey: string;
}

export interface PtySession {
  write(data: Uint8Array | string): void;
  resize(cols: number, rows: number): void;
  onData(fn: (data: Buffer) => void): void;
  /** Called once, when the shell ends or the connection drops. */
  onClose(fn: () => void): void;
  close(): void;
}

export const clampSize = (n: number, max: number): number => (Number.isInteger(n) && n >= 1 ? Math.min(n, max) : 80);

export function openPtySession(t: PtyTarget, size: { cols: number; rows: number }, timeoutMs = 15_000): Promise<PtySession> {
  const [, pinned] = t.pinnedHostKey.trim().split(/\s+/);
  if (!pinned) return Promise.reject(new Error('no pinned host key for this VM'));
  const expected = Buffer.from(pinned, 'base64');
  return new Promise((resolve, reject) => {
    const conn = new Client();
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      conn.end();
      reject(err);
    };
    conn.on('error', fail);
    conn.on('ready', () => {
      conn.shell({ term: 'xterm-256color', cols: clampSize(size.cols, 1000), rows: clampSize(size.rows, 1000) }, (err, ch: ClientChannel) => {
        if (err) return fail(err);
        settled = true;
        const closers: (() => void)[] = [];
        let closed = false;
        const done = () => {
          if (closed) return;
          closed = true;
          conn.end();
          for (const fn of closers) fn();
        };
        ch.on('close', done);
        conn.on('close', done);
        resolve({
          write: (d) => ch.write(d),
          resize: (cols, rows) => ch.setWindow(clampSize(rows, 1000), clampSize(cols, 1000), 0, 0),
          onData: (fn) => {
            ch.on('data', fn);
            ch.stderr.on('data', fn);
          },
          onClose: (fn) => {
            if (closed) fn();
            else closers.push(fn);
          },
          close: done,
        });
      });
    });
    conn.connect({
      host: t.host,
      port: t.port,
      username: t.user,
      privateKey: t.privateKey,
      readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => key.equals(expected),
    });
  });
}
