/** Paths inside an ext4 image, checked before they reach a debugfs command line. */
import { badRequest } from '../../api/errors.js';

/** Characters debugfs cannot take safely inside a double-quoted argument. */
const UNSAFE = /["\\\n\r\t\0]/;

/** Returns the rule a guest path breaks, or undefined when it can be used. */
export function guestPathProblem(path: string): string | undefined {
  if (typeof path !== 'string' || path === '') return 'path is empty';
  if (!path.startsWith('/')) return `path ${JSON.stringify(path)} is not absolute`;
  if (UNSAFE.test(path)) return `path ${JSON.stringify(path)} contains a quote, backslash or control character`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) return `path ${JSON.stringify(path)} contains a control character`;
  const parts = path.split('/').slice(1);
  if (path !== '/' && parts.some((p) => p === '' || p === '.' || p === '..')) {
    return `path ${JSON.stringify(path)} has an empty, "." or ".." component`;
  }
  if (parts.some((p) => Buffer.byteLength(p) > 255)) return `path ${JSON.stringify(path)} has a component longer than 255 bytes`;
  return undefined;
}

export function checkGuestPath(path: string): string {
  const problem = guestPathProblem(path);
  if (problem) throw badRequest(`invalid guest path: ${problem}`, 'use an absolute path without "..", quotes or control characters');
  return path;
}

/** Quotes a checked path for a debugfs command line. */
export function quote(path: string): string {
  return `"${checkGuestPath(path)}"`;
}

/** Quotes a symlink target (it may be relative, but the same character rules apply). */
export function quoteTarget(target: string): string {
  if (target === '' || UNSAFE.test(target) || target.split('/').some((p) => Buffer.byteLength(p) > 255)) {
    throw badRequest(`invalid symlink target ${JSON.stringify(target)}`);
  }
  return `"${target}"`;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Every ancestor of a path, shallow first, without "/" itself: /a/b/c -> [/a, /a/b]. */
export function ancestorsOf(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push('/' + parts.slice(0, i).join('/'));
  return out;
}

export function depthOf(path: string): number {
  return path === '/' ? 0 : path.split('/').length - 1;
}
