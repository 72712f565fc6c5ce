/** Turns a stored VM into what the API shows; problems make it `broken` instead of failing the list. */
import type { VMInfo } from '../../api/types.js';
import type { VMRow } from '../../store/vms.js';
import type { ImageResolver } from './deps.js';

export function toInfo(row: VMRow, images: ImageResolver, extra: { pid?: number; problems?: string[] } = {}): VMInfo {
  const info: VMInfo = {
    id: row.id,
    name: row.name,
    state: row.state,
    imageId: row.imageId,
    spec: row.spec,
    dnsName: `${row.name}.vm`,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
  const problems = [...(extra.problems ?? [])];
  try {
    const img = images.byId(row.imageId);
    if (img) info.imageName = img.name;
    else problems.push(`image ${row.imageId} is gone`);
  } catch (err) {
    problems.push(`image lookup failed: ${(err as Error).message}`);
  }
  const rt = row.runtime;
  if (rt.driver) info.driver = rt.driver;
  if (rt.accel) info.accel = rt.accel;
  if (rt.startedAt && row.state === 'running') info.startedAt = rt.startedAt;
  if (row.state === 'running' && rt.sshPort) {
    info.sshHost = rt.sshHost ?? '127.0.0.1';
    info.sshPort = rt.sshPort;
    info.ip = rt.ip ?? `${info.sshHost}:${rt.sshPort}`;
  }
  if (extra.pid !== undefined) info.pid = extra.pid;
  if (row.lastError) info.lastError = row.lastError;
  if (problems.length > 0) {
    info.problems = problems;
    info.state = 'broken';
  }
  return info;
}
