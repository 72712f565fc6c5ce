/**
 * A small QMP client: JSON lines over QEMU's unix control socket. Commands carry an id so replies
 * are matched even when asynchronous events arrive in between.
 *
 * QEMU serves one QMP client per socket at a time; a second client waits until the first one
 * disconnects. Keep connections short ({@link withQmp}).
 *
 * @module
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package: string };
  capabilities: string[];
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpStatus {
  status: string;
  running: boolean;
}

export class QmpError extends Error {
  constructor(
    /** QMP's error class (GenericError, CommandNotFound, ...), or 'Timeout' / 'Disconnected'. */
    readonly errorClass: string,
    readonly desc: string,
    readonly command?: string,
  ) {
    super(command ? `qmp ${command}: ${desc}` : `qmp: ${desc}`);
    this.name = 'QmpError';
  }
}

export interface QmpConnectOptions {
  timeoutMs?: number;
}

export interface QmpExecuteOptions {
  timeoutMs?: number;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT_MS = 5000;
const MAX_KEPT_EVENTS = 100;

export class QmpClient {
  greeting: QmpGreeting | undefined;
  /** The most recent events, oldest first. */
  readonly events: QmpEvent[] = [];
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(e: QmpEvent) => void>();
  private buffer = '';
  private nextId = 1;
  private closedError: QmpError | undefined;
  private greetingWaiter: ((g: QmpGreeting) => void) | undefined;
  private quitting = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose());
  }

  /** Connects, reads the greeting and leaves capabilities negotiation mode. */
  static async connect(path: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const socket = connect({ path });
    const client = new QmpClient(socket);
    let timer: NodeJS.Timeout | undefined;
    try {
      const greeting = await Promise.race([
        new Promise<QmpGreeting>((resolve, reject) => {
          client.greetingWaiter = resolve;
          socket.once('error', (err) => reject(new QmpError('Disconnected', `cannot connect to ${path}: ${err.message}`)));
          socket.once('close', () => reject(new QmpError('Disconnected', `${path} closed before the greeting`)));
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new QmpError('Timeout', `no greeting from ${path} within ${timeoutMs}ms`)), timeoutMs);
        }),
      ]);
      client.greeting = greeting;
      await client.execute('qmp_capabilities', undefined, { timeoutMs });
      return client;
    } catch (err) {
      client.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  get isClosed(): boolean {
    return this.closedError !== undefined;
  }

  /** Runs a command and resolves with its `return` value. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: QmpExecuteOptions = {}): Promise<T> {
    if (this.closedError) return Promise.reject(new QmpError('Disconnected', this.closedError.desc, command));
    const id = `banger-${this.nextId++}`;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError('Timeout', `no reply within ${timeoutMs}ms`, command));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      const msg: Record<string, unknown> = { execute: command, id };
      if (args !== undefined) msg.arguments = args;
      this.socket.write(`${JSON.stringify(msg)}\n`);
    });
  }

  queryStatus(opts?: QmpExecuteOptions): Promise<QmpStatus> {
    return this.execute<QmpStatus>('query-status', undefined, opts);
  }

  /** Presses the ACPI power button. */
  async systemPowerdown(opts?: QmpExecuteOptions): Promise<void> {
    await this.execute('system_powerdown', undefined, opts);
  }

  /** Asks QEMU to exit now. Resolves when QEMU acknowledged or hung up. */
  async quit(opts?: QmpExecuteOptions): Promise<void> {
    this.quitting = true;
    try {
      await this.execute('quit', undefined, opts);
    } catch (err) {
      if (!(err instanceof QmpError && err.errorClass === 'Disconnected')) throw err;
    }
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the next event of that name (or one already seen since `since`, an index into events). */
  waitForEvent(name: string, timeoutMs: number, since = this.events.length): Promise<QmpEvent> {
    const seen = this.events.slice(since).find((e) => e.event === name);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new QmpError('Timeout', `no ${name} event within ${timeoutMs}ms`));
      }, timeoutMs);
      const off = this.onEvent((e) => {
        if (e.event !== name) return;
        clearTimeout(timer);
        off();
        resolve(e);
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if ('QMP' in msg) {
      this.greetingWaiter?.(msg.QMP as QmpGreeting);
      this.greetingWaiter = undefined;
      return;
    }
    if (typeof msg.event === 'string') {
      const event = msg as unknown as QmpEvent;
      this.events.push(event);
      if (this.events.length > MAX_KEPT_EVENTS) this.events.shift();
      for (const l of [...this.listeners]) l(event);
      return;
    }
    if (!('return' in msg) && !('error' in msg)) return;
    const pending = this.takePending(msg.id);
    if (!pending) return;
    clearTimeout(pending.timer);
    if ('error' in msg) {
      const e = (msg.error ?? {}) as { class?: string; desc?: string };
      pending.reject(new QmpError(e.class ?? 'GenericError', e.desc ?? 'unknown error', pending.command));
    } else {
      pending.resolve(msg.return);
    }
  }

  /** The command a reply belongs to: by id, or the oldest one when QEMU could not echo an id. */
  private takePending(id: unknown): Pending | undefined {
    const key = typeof id === 'string' && this.pending.has(id) ? id : this.pending.keys().next().value;
    if (key === undefined) return undefined;
    const p = this.pending.get(key);
    this.pending.delete(key);
    return p;
  }

  private onClose(): void {
    this.closedError = new QmpError('Disconnected', this.quitting ? 'qemu quit' : 'connection closed');
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new QmpError('Disconnected', this.closedError.desc, p.command));
    }
    this.pending.clear();
  }
}

/** Connects, runs fn, and always disconnects. */
export async function withQmp<T>(
  path: string,
  fn: (qmp: QmpClient) => Promise<T>,
  opts: QmpConnectOptions = {},
): Promise<T> {
  const qmp = await QmpClient.connect(path, opts);
  try {
    return await fn(qmp);
  } finally {
    qmp.close();
  }
}

/**
 * Retries connecting until QMP answers or the deadline passes. `stillStarting` is polled between
 * attempts; when it returns false (the process died) waiting stops at once.
 */
export async function waitForQmp(
  path: string,
  opts: { timeoutMs: number; stillStarting?: () => boolean },
): Promise<QmpClient> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      return await QmpClient.connect(path, { timeoutMs: Math.min(left, 2000) });
    } catch (err) {
      last = err;
    }
    if (opts.stillStarting && !opts.stillStarting()) break;
    await sleep(Math.min(100, Math.max(1, deadline - Date.now())));
  }
  const why = last instanceof Error ? last.message : 'timed out';
  throw new QmpError('Timeout', `qmp at ${path} did not answer within ${opts.timeoutMs}ms (${why})`);
}
