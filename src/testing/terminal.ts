/**
 * banger run in a real terminal for tests: a fresh pty made by util-linux `script`, of a given size,
 * TERM=xterm-256color. What banger writes is collected; keys are typed into it; the window can be
 * resized as a terminal emulator does (the kernel then sends banger SIGWINCH).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { shellJoin } from '../drivers/ssh/client.js';
import { run, spawnPiped, which } from '../system/exec.js';
import type { CliHarness } from './cli-harness.js';

const BANGER = fileURLToPath(new URL('../bin/banger.js', import.meta.url));

export interface InTerminal {
  output: () => string;
  write: (s: string) => void;
  /** Sets the terminal's size, as resizing its window does. */
  resize: (rows: number, cols: number) => Promise<void>;
  exit: Promise<number | null>;
}

export const hasScript = (): boolean => which('script') !== undefined;

/** Runs `banger ARGS` in a new pty of `rows` by `cols`; `env` adds to banger's environment. */
export function inTerminal(h: CliHarness, args: string[], size = { rows: 43, cols: 132 }, env: NodeJS.ProcessEnv = {}): InTerminal {
  const line = `stty rows ${size.rows} cols ${size.cols}; exec ${shellJoin([process.execPath, BANGER, ...args])}`;
  const child = spawnPiped(['script', '-qefc', line, '/dev/null'], { env: { ...h.env, TERM: 'xterm-256color', ...env } });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const pty = () => {
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
    return readlinkSync(`/proc/${kids[0]}/fd/0`);
  };
  return {
    output: () => out,
    write: (s) => child.stdin.write(s),
    resize: async (rows, cols) => {
      await run(['stty', '-F', pty(), 'rows', String(rows), 'cols', String(cols)]);
    },
    exit: new Promise((r) => child.once('close', (code) => r(code))),
  };
}

/** Waits until `fn` holds (polling every 100 ms), failing after `ms`. */
export async function until(what: string, fn: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
