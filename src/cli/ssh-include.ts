/**
 * The opt-in `Include` of banger's ssh_config in the user's ~/.ssh/config (`banger ssh-config
 * --install`): the only place banger edits the user's ssh setup, so it runs client-side, as the user.
 * Only the marker-fenced block is ever added or removed; every other byte of the user's file is kept.
 */
import { join } from 'node:path';
import { readTextIfExists, rewriteFileAtomic } from '../system/atomic-file.js';

export const BLOCK_BEGIN = '# >>> banger >>>';
export const BLOCK_END = '# <<< banger <<<';

/** The line ~/.ssh/config needs to use banger's ssh_config. */
export function includeLine(sshConfigPath: string): string {
  if (!sshConfigPath.startsWith('/')) throw new TypeError(`ssh_config path must be absolute: ${sshConfigPath}`);
  if (/[*?[]/.test(sshConfigPath)) throw new TypeError(`ssh_config path must not contain glob characters: ${sshConfigPath}`);
  if (/["\n\r]|\$\{/.test(sshConfigPath)) throw new TypeError(`ssh_config path cannot be used in an Include: ${JSON.stringify(sshConfigPath)}`);
  // Double-quoted, `%` escaped against token expansion.
  return `Include "${sshConfigPath.replace(/%/g, '%%')}"`;
}

/** The fenced block, ending with a newline. */
export function includeBlock(sshConfigPath: string, eol = '\n'): string {
  return [BLOCK_BEGIN, includeLine(sshConfigPath), BLOCK_END, ''].join(eol);
}

interface Span {
  start: number;
  end: number;
}

/** Byte ranges (start of BEGIN line to end of END line, newline included) of every managed block. */
function findBlocks(text: string): Span[] {
  const spans: Span[] = [];
  let pos = 0;
  let open: number | undefined;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const lineEnd = nl === -1 ? text.length : nl + 1;
    const line = text.slice(pos, lineEnd).trim();
    if (line === BLOCK_BEGIN) {
      if (open !== undefined) throw new Error(`unbalanced banger block in ssh config: "${BLOCK_BEGIN}" appears twice`);
      open = pos;
    } else if (line === BLOCK_END) {
      if (open === undefined) throw new Error(`unbalanced banger block in ssh config: "${BLOCK_END}" without a start`);
      spans.push({ start: open, end: lineEnd });
      open = undefined;
    }
    pos = lineEnd;
  }
  if (open !== undefined) throw new Error(`unbalanced banger block in ssh config: "${BLOCK_BEGIN}" without an end`);
  return spans;
}

function eolOf(text: string): string {
  return /\r\n/.test(text) ? '\r\n' : '\n';
}

/**
 * `text` with the managed Include block present. A new block goes first in the file, because an Include
 * after a `Host` or `Match` line would only apply inside that section. An existing block is rewritten in
 * place; a file already up to date is returned unchanged. Pure.
 */
export function installIncludeText(text: string, sshConfigPath: string): string {
  const eol = eolOf(text);
  const block = includeBlock(sshConfigPath, eol);
  const spans = findBlocks(text);
  if (spans.length === 0) return block + text;
  let out = '';
  let pos = 0;
  spans.forEach((s, i) => {
    out += text.slice(pos, s.start);
    if (i === 0) out += block;
    pos = s.end;
  });
  out += text.slice(pos);
  return out;
}

/** `text` without any managed block. Pure. */
export function uninstallIncludeText(text: string): string {
  const spans = findBlocks(text);
  let out = '';
  let pos = 0;
  for (const s of spans) {
    out += text.slice(pos, s.start);
    pos = s.end;
  }
  return out + text.slice(pos);
}

export interface ChangeResult {
  /** The file that was (or would have been) changed. */
  path: string;
  changed: boolean;
}

/** The user's ssh client config under `home`. */
export function userSSHConfigPath(home: string): string {
  return join(home, '.ssh', 'config');
}

/** Adds the Include of `sshConfigPath` to `<home>/.ssh/config`. Idempotent. */
export async function installInclude(home: string, sshConfigPath: string): Promise<ChangeResult> {
  const path = userSSHConfigPath(home);
  const before = await readTextIfExists(path);
  const after = installIncludeText(before ?? '', sshConfigPath);
  if (after === before) return { path, changed: false };
  await rewriteFileAtomic(path, after);
  return { path, changed: true };
}

/** Removes the Include block from `<home>/.ssh/config`, if present. A missing file is left missing. */
export async function uninstallInclude(home: string): Promise<ChangeResult> {
  const path = userSSHConfigPath(home);
  const before = await readTextIfExists(path);
  if (before === undefined) return { path, changed: false };
  const after = uninstallIncludeText(before);
  if (after === before) return { path, changed: false };
  await rewriteFileAtomic(path, after);
  return { path, changed: true };
}

/** Whether `<home>/.ssh/config` has the managed block. */
export async function isIncludeInstalled(home: string): Promise<boolean> {
  const text = await readTextIfExists(userSSHConfigPath(home));
  return text !== undefined && findBlocks(text).length > 0;
}
