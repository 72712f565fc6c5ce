/**
 * The key sequence that detaches an interactive attach, in docker's notation: comma-separated keys,
 * each `ctrl-X` (X one of a-z, @, [, \, ], ^, _) or a single character, e.g. `ctrl-p,ctrl-q`.
 */
import { InvalidArgumentError } from 'commander';

export const DEFAULT_DETACH_KEYS = 'ctrl-]';

const CTRL_SPECIAL: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };

/** The bytes of a detach-keys spec; throws InvalidArgumentError (commander's usage error) when it is not one. */
export function parseDetachKeys(spec: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const ctrl = /^ctrl-(.)$/i.exec(key);
    if (ctrl) {
      const c = ctrl[1]!;
      const lower = c.toLowerCase();
      if (lower >= 'a' && lower <= 'z') bytes.push(lower.charCodeAt(0) - 96);
      else if (c in CTRL_SPECIAL) bytes.push(CTRL_SPECIAL[c]!);
      else throw new InvalidArgumentError(`${JSON.stringify(key)} is not a control key (ctrl-a..ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_)`);
    } else if (key.length === 1 && key.charCodeAt(0) < 128) {
      bytes.push(key.charCodeAt(0));
    } else {
      throw new InvalidArgumentError(`${JSON.stringify(key)} is not a key: give ctrl-X or one character, comma-separated (e.g. ctrl-p,ctrl-q)`);
    }
  }
  return Buffer.from(bytes);
}

/** How a detach-keys spec reads to a user, e.g. `Ctrl-]` or `Ctrl-P Ctrl-Q`. Pure. */
export function describeDetachKeys(spec: string): string {
  return spec
    .split(',')
    .map((k) => k.replace(/^ctrl-(.)$/i, (_, c: string) => `Ctrl-${c.toUpperCase()}`))
    .join(' ');
}

/**
 * Watches typed bytes for the detach sequence: `push` returns what to pass on (bytes of a partial
 * match are held back until the next key shows they were not the sequence) and whether it was typed.
 */
export class DetachMatcher {
  private matched = 0;

  constructor(private readonly seq: Buffer) {}

  push(chunk: Buffer): { forward: Buffer; detached: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.seq[this.matched]) {
        this.matched++;
        if (this.matched === this.seq.length) return { forward: Buffer.from(out), detached: true };
        continue;
      }
      if (this.matched > 0) {
        out.push(...this.seq.subarray(0, this.matched));
        this.matched = 0;
      }
      if (b === this.seq[0]) {
        this.matched = 1;
        if (this.seq.length === 1) return { forward: Buffer.from(out), detached: true };
      } else out.push(b);
    }
    return { forward: Buffer.from(out), detached: false };
  }
}
