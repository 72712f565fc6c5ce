/**
 * Guest sessions: long-running commands in a VM that outlive the CLI and the daemon. Their names, and
 * where a session keeps its files in the guest (the guest is the source of truth for its status).
 *
 * @module
 */
import { badRequest } from '../api/errors.js';

export const MAX_SESSION_NAME_LEN = 32;

/** A session's files in the guest, relative to the guest user's home (/root). */
export const GUEST_SESSIONS_DIR = '.cache/banger/sessions';

/** The systemd unit a session runs as in a guest with systemd. */
export const sessionUnit = (name: string): string => `banger-session-${name}`;

/** Returns the rule a session name breaks, or undefined when it is valid. */
export function sessionNameProblem(name: string): string | undefined {
  if (name === '') return 'session name is required';
  if (name.length > MAX_SESSION_NAME_LEN) return `session name ${JSON.stringify(name)} is ${name.length} characters; max is ${MAX_SESSION_NAME_LEN}`;
  if (name.startsWith('-') || name.endsWith('-')) return `session name ${JSON.stringify(name)} cannot start or end with '-'`;
  const bad = /[^a-z0-9-]/.exec(name);
  if (bad) {
    return `session name ${JSON.stringify(name)} has invalid character ${JSON.stringify(bad[0])} at position ${bad.index} (allowed: lowercase a-z, 0-9, '-')`;
  }
  return undefined;
}

export function validateSessionName(name: string): string {
  const problem = sessionNameProblem(name);
  if (problem) throw badRequest(problem, 'pick a name like "server" or "agent-1", or leave --name out to get a generated one');
  return name;
}
