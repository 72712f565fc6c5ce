/** Small network helpers that spawn nothing. */
import { createServer } from 'node:net';

/** Binds host:port (0 = the kernel picks) and closes again; resolves the port, or rejects with the bind error. */
function bindOnce(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port, exclusive: true }, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(got));
    });
  });
}

/** A free TCP port on `host` (default 127.0.0.1), found by letting the kernel pick one. */
export function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  return bindOnce(host, 0);
}

/**
 * Whether this process can listen on host:port right now: false when the port is taken, or privileged
 * and this process may not bind it (not root, no CAP_NET_BIND_SERVICE, above ip_unprivileged_port_start).
 */
export async function canListen(host: string, port: number): Promise<boolean> {
  try {
    await bindOnce(host, port);
    return true;
  } catch {
    return false;
  }
}
