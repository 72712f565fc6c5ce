/**
 * A client for Firecracker's REST API: HTTP/1.1 with JSON bodies on the unix socket given by
 * `--api-sock`. A refused request (400 and the like) becomes a {@link FirecrackerApiError} carrying
 * the API's own `fault_message`, so the user reads what Firecracker said.
 *
 * @module
 */
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  BootSource,
  Drive,
  InstanceActionInfo,
  InstanceInfo,
  Logger,
  MachineConfiguration,
  Metrics,
  NetworkInterface,
  SnapshotCreateParams,
  SnapshotLoadParams,
  VmState,
  Vsock,
} from './types.js';

export class FirecrackerApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    /** HTTP status, or 0 when the socket did not answer. */
    readonly status: number,
    /** Firecracker's fault_message (or what went wrong on the socket). */
    readonly fault: string,
  ) {
    super(`firecracker ${method} ${path}: ${fault}`);
    this.name = 'FirecrackerApiError';
  }
}

export interface ApiOptions {
  /** Per request (default 5 s). */
  timeoutMs?: number;
}

export class FirecrackerApi {
  constructor(
    readonly socketPath: string,
    private readonly opts: ApiOptions = {},
  ) {}

  /** Sends one request; resolves with the parsed body (undefined for 204), rejects with FirecrackerApiError. */
  call(method: 'GET' | 'PUT' | 'PATCH', path: string, body?: object): Promise<unknown> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const timeoutMs = this.opts.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: {
            Accept: 'application/json',
            ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(new FirecrackerApiError(method, path, 0, err.message)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            if (status >= 200 && status < 300) return resolve(parsed);
            const fault =
              typeof parsed === 'object' && parsed !== null && typeof (parsed as { fault_message?: unknown }).fault_message === 'string'
                ? (parsed as { fault_message: string }).fault_message
                : text.trim() || `HTTP ${status}`;
            reject(new FirecrackerApiError(method, path, status, fault));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
      req.on('error', (err) => reject(new FirecrackerApiError(method, path, 0, err.message)));
      req.end(payload);
    });
  }

  describe(): Promise<InstanceInfo> {
    return this.call('GET', '/') as Promise<InstanceInfo>;
  }
  version(): Promise<{ firecracker_version: string }> {
    return this.call('GET', '/version') as Promise<{ firecracker_version: string }>;
  }
  putMachineConfig(body: MachineConfiguration): Promise<unknown> {
    return this.call('PUT', '/machine-config', body);
  }
  putBootSource(body: BootSource): Promise<unknown> {
    return this.call('PUT', '/boot-source', body);
  }
  putDrive(body: Drive): Promise<unknown> {
    return this.call('PUT', `/drives/${encodeURIComponent(body.drive_id)}`, body);
  }
  putNetworkInterface(body: NetworkInterface): Promise<unknown> {
    return this.call('PUT', `/network-interfaces/${encodeURIComponent(body.iface_id)}`, body);
  }
  putVsock(body: Vsock): Promise<unknown> {
    return this.call('PUT', '/vsock', body);
  }
  putLogger(body: Logger): Promise<unknown> {
    return this.call('PUT', '/logger', body);
  }
  putMetrics(body: Metrics): Promise<unknown> {
    return this.call('PUT', '/metrics', body);
  }
  action(body: InstanceActionInfo): Promise<unknown> {
    return this.call('PUT', '/actions', body);
  }
  createSnapshot(body: SnapshotCreateParams): Promise<unknown> {
    return this.call('PUT', '/snapshot/create', body);
  }
  loadSnapshot(body: SnapshotLoadParams): Promise<unknown> {
    return this.call('PUT', '/snapshot/load', body);
  }
  patchVm(body: VmState): Promise<unknown> {
    return this.call('PATCH', '/vm', body);
  }
}

/**
 * Waits until the API socket answers GET /. Rejects early when stillStarting() turns false (the
 * process died) and with a timeout otherwise; the caller names the log file in its error.
 */
export async function waitForApi(
  socketPath: string,
  opts: { timeoutMs: number; stillStarting?: () => boolean; pollMs?: number },
): Promise<InstanceInfo> {
  const api = new FirecrackerApi(socketPath, { timeoutMs: 1000 });
  const deadline = Date.now() + opts.timeoutMs;
  let last = 'the socket did not appear';
  for (;;) {
    try {
      return await api.describe();
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (opts.stillStarting && !opts.stillStarting()) throw new ApiWaitError('exited', last);
    if (Date.now() >= deadline) throw new ApiWaitError('timeout', last);
    await sleep(opts.pollMs ?? 50);
  }
}

export class ApiWaitError extends Error {
  constructor(
    readonly reason: 'exited' | 'timeout',
    readonly last: string,
  ) {
    super(reason === 'exited' ? `firecracker exited before its API answered (${last})` : `the API socket did not answer in time (${last})`);
    this.name = 'ApiWaitError';
  }
}
