/**
 * The fake VMM's control channel: a Unix socket speaking one JSON object per line.
 *
 *     -> {"cmd":"status"}      <- {"ok":true,"status":"running"}     (running | paused | shutdown)
 *     -> {"cmd":"powerdown"}   <- {"ok":true,"status":"shutdown"}    then the VMM exits shortly after
 *     -> {"cmd":"pause"}       <- {"ok":true,"status":"paused"}
 *     -> {"cmd":"cont"}        <- {"ok":true,"status":"running"}
 *
 * Anything else gets {"ok":false,"error":"..."}.
 *
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import { socketRequest } from '../socket-request.js';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export const CONTROL_COMMANDS = ['status', 'powerdown', 'pause', 'cont'] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];
export type GuestState = 'running' | 'paused' | 'shutdown';

export interface ControlReply {
  ok: boolean;
  status?: GuestState;
  error?: string;
}

/** Sends one command and resolves with the reply. Rejects when the socket does not answer in time. */
export function controlRequest(socketPath: string, cmd: ControlCommand, opts: { timeoutMs: number }): Promise<ControlReply> {
  return socketRequest({
    path: socketPath,
    line: JSON.stringify({ cmd }),
    timeoutMs: opts.timeoutMs,
    answer: (received) => {
      const nl = received.indexOf('\n');
      return nl < 0 ? undefined : parseReply(received.slice(0, nl));
    },
    errors: {
      timeout: () => new Error(`${socketPath} did not answer ${cmd} within ${opts.timeoutMs}ms`),
      closed: () => new Error(`${socketPath} closed without answering ${cmd}`),
      socket: (err) => err,
      cancelled: () => new Error('cancelled'),
    },
  });
}

function parseReply(line: string): ControlReply {
  const v = JSON.parse(line) as unknown;
  if (typeof v !== 'object' || v === null || typeof (v as ControlReply).ok !== 'boolean') throw new Error(`bad control reply: ${line}`);
  return v as ControlReply;
}

/**
 * Polls the socket with `status` until it answers; rejects on timeout, or as soon as
 * stillStarting() says the process is gone.
 */
export async function waitForControl(socketPath: string, opts: { timeoutMs: number; stillStarting: () => boolean }): Promise<GuestState> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!opts.stillStarting()) throw new Error('the process exited before its control socket answered');
    try {
      const r = await controlRequest(socketPath, 'status', { timeoutMs: Math.max(100, Math.min(2000, deadline - Date.now())) });
      if (r.ok && r.status) return r.status;
      last = new Error(r.error ?? 'no status in reply');
    } catch (err) {
      last = err;
    }
    await sleep(25);
  }
  throw new Error(`no answer on ${socketPath} within ${opts.timeoutMs}ms${last instanceof Error ? ` (${last.message})` : ''}`);
}

/** Listens on socketPath and answers each request line with handle(cmd). */
export function serveControl(socketPath: string, handle: (cmd: ControlCommand) => ControlReply): Promise<Server> {
  const server = createServer((sock: Socket) => {
    sock.on('error', () => sock.destroy());
    const lines = createInterface({ input: sock, crlfDelay: Infinity });
    // A client that gave up before the answer (EPIPE) is not the VMM's problem.
    lines.on('error', () => sock.destroy());
    lines.on('line', (line) => {
      let reply: ControlReply;
      try {
        const req = JSON.parse(line) as { cmd?: unknown };
        const cmd = req.cmd;
        reply = (CONTROL_COMMANDS as readonly unknown[]).includes(cmd)
          ? handle(cmd as ControlCommand)
          : { ok: false, error: `unknown command ${JSON.stringify(cmd)}` };
      } catch {
        reply = { ok: false, error: 'request is not JSON' };
      }
      if (sock.writable) sock.write(`${JSON.stringify(reply)}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
