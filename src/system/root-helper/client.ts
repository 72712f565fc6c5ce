/** The daemon's side of the root helper: one request per connection, answered or refused with a HelperError. */
import { createConnection } from 'node:net';
import { HelperError, type HelperErrorCode, type HelperRequest, type HelperResponse } from './protocol.js';

const CODES: readonly HelperErrorCode[] = ['peer_refused', 'unknown_op', 'bad_request', 'invalid_name', 'outside_banger', 'failed'];

export class HelperClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 60_000,
  ) {}

  /** Sends one request; resolves its result, rejects with HelperError when refused or failed, Error when the helper is unreachable. */
  call<T = unknown>(req: HelperRequest | Record<string, unknown>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const sock = createConnection(this.socketPath);
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`banger's root helper at ${this.socketPath} did not answer within ${Math.round(this.timeoutMs / 1000)}s`));
      }, this.timeoutMs);
      sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
      sock.on('data', (b: Buffer) => chunks.push(b));
      sock.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(`cannot reach banger's root helper at ${this.socketPath}: ${err.code ?? err.message}`));
      });
      sock.on('end', () => {
        clearTimeout(timer);
        let res: HelperResponse;
        try {
          res = JSON.parse(Buffer.concat(chunks).toString('utf8')) as HelperResponse;
        } catch {
          reject(new Error(`banger's root helper at ${this.socketPath} sent no valid answer`));
          return;
        }
        if (res.ok) resolve(res.result as T);
        else reject(new HelperError(CODES.includes(res.code) ? res.code : 'failed', res.message));
      });
    });
  }
}
