/**
 * Named fault points: one at every step of every multi-step operation, so tests can prove that a
 * crash (or a failure) at any step loses nothing and leaves no debris. They do nothing unless the
 * daemon runs with `BANGER_FAULT=<point>:crash` (the process SIGKILLs itself there) or
 * `BANGER_FAULT=<point>:error` (the step throws operation_failed).
 *
 * FAULT_POINTS is the one list of points, grouped by operation. faultPoint() accepts only names from
 * it (a typo does not compile), and faults.test.ts checks that every listed point is called somewhere
 * in the code exactly once and that the crash loop has a scenario for every operation: a new step
 * cannot be left out of the crash tests.
 *
 * @module
 */
import { operationFailed } from '../api/errors.js';

export const FAULT_POINTS = {
  'vm.create': ['create.reserved', 'create.image', 'create.disks', 'create.starting'],
  'vm.start': ['boot.network', 'boot.seed', 'boot.launched', 'boot.handles', 'boot.ready'],
  'vm.stop': ['stop.stopping', 'stop.ended'],
  'vm.snapshot': ['snapshot.paused', 'snapshot.saved', 'snapshot.frozen', 'snapshot.published'],
  'vm.restore': ['restore.reserved', 'restore.disks'],
  'vm.delete': ['delete.ended', 'delete.released', 'delete.unpinned', 'delete.row', 'delete.files'],
  'image.register': ['register.checked'],
  'image.promote': ['promote.copied', 'promote.guest_bits', 'promote.work_seed', 'promote.published'],
  'image.delete': ['image_delete.row', 'image_delete.moved'],
  'image.build': ['build.tree', 'build.ext4', 'build.published'],
  'image.pull': ['pull.fetched', 'pull.ext4', 'pull.published'],
  'kernel.import': ['kernel_import.copied', 'kernel_import.published'],
  'kernel.pull': ['kernel_pull.downloaded'],
  'kernel.remove': ['kernel_remove.row', 'kernel_remove.moved'],
} as const;

export type FaultOperation = keyof typeof FAULT_POINTS;
export type FaultPoint = (typeof FAULT_POINTS)[FaultOperation][number];
export type FaultMode = 'crash' | 'error';

export const FAULT_ENV = 'BANGER_FAULT';

/** Every point, in declaration order. */
export function allFaultPoints(): FaultPoint[] {
  return Object.values(FAULT_POINTS).flat();
}

/** The point and mode BANGER_FAULT asks for; undefined when unset. A malformed value throws (a test typo must not pass silently). */
export function parseFaultSpec(value: string | undefined): { point: FaultPoint; mode: FaultMode } | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^([a-z0-9_.]+):(crash|error)$/.exec(value);
  const point = m?.[1] as FaultPoint | undefined;
  if (!m || !point || !allFaultPoints().includes(point)) {
    throw new Error(`${FAULT_ENV}=${value} is not <point>:crash or <point>:error with a known point (${allFaultPoints().join(', ')})`);
  }
  return { point, mode: m[2] as FaultMode };
}

/** A step boundary. Inert unless BANGER_FAULT names this point. */
export function faultPoint(point: FaultPoint, env: NodeJS.ProcessEnv = process.env): void {
  const raw = env[FAULT_ENV];
  if (raw === undefined) return;
  const spec = parseFaultSpec(raw);
  if (!spec || spec.point !== point) return;
  if (spec.mode === 'crash') {
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL to ourselves is delivered before the next instruction; never go on with the step.
    for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  }
  throw operationFailed(`fault injected at ${point}`, `unset ${FAULT_ENV} to run normally`);
}
