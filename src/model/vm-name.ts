/** VM names are DNS labels: they become hostnames, `<name>.vm` records and path fragments. */
import { badRequest } from '../api/errors.js';

export const MAX_VM_NAME_LEN = 63;

/** VM ids are 12 lower-case hex characters. */
export const VM_ID_PATTERN = /^[0-9a-f]{12}$/;
/** The shortest id prefix a reference may use. */
export const MIN_ID_PREFIX = 4;

/** Returns the rule a name breaks, or undefined when it is valid. */
export function vmNameProblem(name: string): string | undefined {
  if (name === '') return 'vm name is required';
  if (name.length > MAX_VM_NAME_LEN) {
    return `vm name ${JSON.stringify(name)} is ${name.length} characters; max is ${MAX_VM_NAME_LEN} (DNS label limit)`;
  }
  if (name.startsWith('-') || name.endsWith('-')) return `vm name ${JSON.stringify(name)} cannot start or end with '-'`;
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (!/[a-z0-9-]/.test(c)) {
      return `vm name ${JSON.stringify(name)} has invalid character ${JSON.stringify(c)} at position ${i} (allowed: lowercase a-z, 0-9, '-')`;
    }
  }
  if (VM_ID_PATTERN.test(name)) {
    return `vm name ${JSON.stringify(name)} looks like a VM id (12 hex characters); names must not, so that a reference is never ambiguous`;
  }
  return undefined;
}

export function validateVMName(name: string): string {
  const problem = vmNameProblem(name);
  if (problem) throw badRequest(problem, 'pick a name like "dev-box" or leave --name out to get a generated one');
  return name;
}

/**
 * Names of the warm pool's hidden VMs and templates: the '_' no user name may contain keeps them apart
 * from every name a user can pick; they never show in vm list or snapshot list.
 */
export const POOL_NAME_PREFIX = '_pool-';

export function isPoolName(name: string): boolean {
  return name.startsWith(POOL_NAME_PREFIX);
}

/** The hostname a VM's guest gets: its name, or for a pool VM the same without the '_' (not valid in hostnames). */
export function guestHostname(name: string): string {
  return isPoolName(name) ? name.slice(1) : name;
}
