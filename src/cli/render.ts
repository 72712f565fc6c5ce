/** Tables, JSON and error output. */
import { BangerError, causeChain, EXIT_CODES } from '../api/errors.js';
import { DaemonUnreachableError } from '../api/client.js';
import { styleFor, type CliIO } from './io.js';

export function table(rows: string[][], header: string[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : (cell ?? '').padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

export function printJson(io: CliIO, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function elapsed(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

/** Prints an error the way every command does and returns the exit status. --debug adds the causes and the stack. */
export function reportError(io: CliIO, err: unknown, opts: { json?: boolean; debug?: boolean } = {}): number {
  const st = styleFor(io.stderr, io.env);
  if (err instanceof DaemonUnreachableError) {
    err = new BangerError('unavailable', err.message, { hint: 'start it with banger daemon start, or see its log with banger daemon status' });
  }
  if (err instanceof BangerError) {
    if (opts.json) {
      io.stderr.write(JSON.stringify({ error: err.toEnvelope() }) + '\n');
    } else {
      io.stderr.write(`banger: ${err.message}${err.opId ? ' ' + st.dim(`(${err.opId})`) : ''}\n`);
      if (err.hint) io.stderr.write(`${st.dim('hint:')} ${err.hint}\n`);
    }
    if (opts.debug) {
      if (!opts.json) for (const c of err.causeMessages()) io.stderr.write(`${st.dim('cause:')} ${c}\n`);
      if (err.stack) io.stderr.write(st.dim(err.stack) + '\n');
    }
    return EXIT_CODES[err.code];
  }
  const e = err instanceof Error ? err : new Error(String(err));
  io.stderr.write(`banger: ${e.message}\n`);
  if (opts.debug) {
    for (const c of causeChain(e.cause)) io.stderr.write(`${st.dim('cause:')} ${c}\n`);
    if (e.stack) io.stderr.write(st.dim(e.stack) + '\n');
  }
  return EXIT_CODES.internal;
}
