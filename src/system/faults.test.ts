import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allFaultPoints, faultPoint, FAULT_ENV, parseFaultSpec } from './faults.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

test('every declared fault point is placed in the code exactly once, and every call names a declared point', () => {
  const calls = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bfaultPoint\(\s*'([^']+)'/g)) {
      calls.set(m[1]!, [...(calls.get(m[1]!) ?? []), file.slice(SRC.length)]);
    }
  }
  const declared = allFaultPoints();
  assert.ok(declared.length >= 20, 'the list is read from the code');
  for (const p of declared) assert.equal(calls.get(p)?.length, 1, `fault point ${p} is called ${calls.get(p)?.length ?? 0} times (${calls.get(p)?.join(', ') ?? 'nowhere'})`);
  for (const p of calls.keys()) assert.ok((declared as string[]).includes(p), `faultPoint('${p}') is not in FAULT_POINTS`);
  assert.equal(new Set(declared).size, declared.length, 'no point is declared twice');
});

test('BANGER_FAULT values: unset is inert, a typo is refused, error mode throws operation_failed at that point only', () => {
  assert.equal(parseFaultSpec(undefined), undefined);
  assert.deepEqual(parseFaultSpec('create.disks:crash'), { point: 'create.disks', mode: 'crash' });
  for (const point of allFaultPoints()) assert.deepEqual(parseFaultSpec(`${point}:error`), { point, mode: 'error' }, `${point} can be asked for`);
  assert.throws(() => parseFaultSpec('create.disk:crash'), /not <point>:crash or <point>:error with a known point/);
  assert.throws(() => parseFaultSpec('create.disks:explode'), /BANGER_FAULT=create.disks:explode/);
  assert.doesNotThrow(() => faultPoint('create.disks', {}));
  assert.doesNotThrow(() => faultPoint('create.image', { [FAULT_ENV]: 'create.disks:error' }));
  assert.throws(() => faultPoint('create.disks', { [FAULT_ENV]: 'create.disks:error' }), (err: Error & { code?: string }) => err.code === 'operation_failed' && /fault injected at create\.disks/.test(err.message));
});
