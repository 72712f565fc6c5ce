/** Every VM with its live state (server-sent events; no polling). */
import { enc } from '../api.js';
import { ago, bytes } from '../format.js';
import { useLive } from '../live.js';
import { StateBadge } from './common.js';

export function VMList() {
  const live = useLive();
  const vms = [...live.vms.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  return (
    <section>
      <h1>
        VMs <a class="button" href="#/create">Create</a>
      </h1>
      {vms.length === 0 ? (
        <p class="muted">No VMs yet. Create one here, or run <code>banger vm run</code>.</p>
      ) : (
        <table data-testid="vm-table">
          <thead>
            <tr>
              <th>name</th>
              <th>state</th>
              <th>image</th>
              <th>vCPU</th>
              <th>memory</th>
              <th>address</th>
              <th>created</th>
            </tr>
          </thead>
          <tbody>
            {vms.map((v) => (
              <tr key={v.id} data-vm={v.name}>
                <td>
                  <a href={`#/vms/${enc(v.name)}`}>{v.name}</a>
                </td>
                <td>
                  <StateBadge state={v.state} />
                </td>
                <td>{v.imageName ?? v.imageId.slice(0, 12)}</td>
                <td>{v.spec.vcpu}</td>
                <td>{bytes(v.spec.memoryMiB * 1024 * 1024)}</td>
                <td>{v.state === 'running' ? (v.ip ?? v.sshHost ?? '') : ''}</td>
                <td>{ago(v.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
