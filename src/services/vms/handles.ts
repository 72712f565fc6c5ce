/** handles.json: what the daemon needs to find a VM's hypervisor process again after a restart. */
import { readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../../system/atomic-file.js';
import { parseHandle, type VMHandle } from '../../drivers/hypervisor.js';

export function readHandles(path: string): VMHandle | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const h = parseHandle(parsed);
  if (!h) throw new Error(`${path} is not a valid handles file`);
  return h;
}

export function writeHandles(path: string, h: VMHandle): void {
  writeFileAtomic(path, JSON.stringify(h, null, 2) + '\n', 0o600);
}

export function removeHandles(path: string): void {
  rmSync(path, { force: true });
}
