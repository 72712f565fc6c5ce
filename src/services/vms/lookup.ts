/**
 * Turns what a user typed into exactly one VM, or a clear refusal: an exact name first, then a full
 * id, then a unique id prefix of at least MIN_ID_PREFIX characters (like `docker rm`). An ambiguous
 * prefix is refused listing the candidates, so nothing ever acts on a guess.
 *
 * @module
 */
import { badRequest, notFound } from '../../api/errors.js';
import { isPoolName, MIN_ID_PREFIX, VM_ID_PATTERN } from '../../model/vm-name.js';
import type { VMRepo, VMRow } from '../../store/vms.js';

/** A VM the user can name: the warm pool's hidden VMs are not found. */
export function resolveVM(repo: VMRepo, ref: string): VMRow {
  const row = resolveAny(repo, ref);
  if (isPoolName(row.name)) throw notFound(`vm ${JSON.stringify(ref)} not found`, 'the warm pool\'s VMs are banger\'s own: see banger vm pool');
  return row;
}

function resolveAny(repo: VMRepo, ref: string): VMRow {
  const byName = repo.byName(ref);
  if (byName) return byName;
  if (VM_ID_PATTERN.test(ref)) {
    const byId = repo.get(ref);
    if (byId) return byId;
  }
  if (ref.length >= MIN_ID_PREFIX && /^[0-9a-f]+$/.test(ref)) {
    const hits = repo.withIdPrefix(ref);
    if (hits.length === 1) return hits[0]!;
    if (hits.length > 1) {
      throw badRequest(
        `${JSON.stringify(ref)} matches ${hits.length} VMs: ${hits.map((h) => `${h.name} (${h.id})`).join(', ')}`,
        'use the full name or a longer id prefix',
      );
    }
  }
  const names = repo.list().map((r) => r.name).filter((n) => !isPoolName(n));
  const short = /^[0-9a-f]{1,3}$/.test(ref) ? `; an id prefix needs at least ${MIN_ID_PREFIX} characters` : '';
  throw notFound(`vm ${JSON.stringify(ref)} not found${short}`, names.length ? `existing VMs: ${names.join(', ')}` : 'create one with banger vm run');
}
