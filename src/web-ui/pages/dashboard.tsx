/** Host resources, the hypervisor in use and why, counts, recent operations. */
import type { HostInfo, HypervisorVerdictInfo } from '../../api/types.js';
import { api } from '../api.js';
import { ago, bytes } from '../format.js';
import { useLive } from '../live.js';
import { Card, ErrorBox, useLoad } from './common.js';

export function Dashboard() {
  const live = useLive();
  const [host, hostErr] = useLoad(() => api.get<HostInfo>('/host'), [live.opsEnded, live.vms.size]);
  const [hv] = useLoad(() => api.get<HypervisorVerdictInfo>('/hypervisor'), [live.opsEnded]);
  const vms = [...live.vms.values()];
  const running = vms.filter((v) => v.state === 'running').length;
  const ops = [...live.ops.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt)).slice(0, 10);
  const drivers = [...new Set(vms.filter((v) => v.driver).map((v) => `${v.driver}${v.accel ? `+${v.accel}` : ''}`))];
  return (
    <section>
      <h1>Dashboard</h1>
      <ErrorBox error={hostErr} />
      <div class="cards" data-testid="dashboard">
        <Card title="Host">
          {host ? (
            <dl>
              <dt>name</dt>
              <dd>{host.hostname}</dd>
              <dt>CPU</dt>
              <dd>
                {host.cpus} cores, load {host.loadAvg.map((l) => l.toFixed(2)).join(' ')}
              </dd>
              <dt>memory</dt>
              <dd>
                {bytes(host.memoryAvailableBytes)} available of {bytes(host.memoryTotalBytes)}
                <meter min={0} max={host.memoryTotalBytes} value={host.memoryTotalBytes - host.memoryAvailableBytes} />
              </dd>
              <dt>disk</dt>
              <dd>
                {bytes(host.disk.freeBytes)} free of {bytes(host.disk.totalBytes)} <span class="muted">({host.disk.path})</span>
                <meter min={0} max={host.disk.totalBytes} value={host.disk.totalBytes - host.disk.freeBytes} />
              </dd>
            </dl>
          ) : (
            <p class="muted">loading…</p>
          )}
        </Card>
        <Card title="Hypervisor">
          <dl>
            <dt>driver</dt>
            <dd>{host?.driver ?? '…'}{drivers.length > 0 && <span class="muted"> (in use: {drivers.join(', ')})</span>}</dd>
            <dt>acceleration</dt>
            <dd>{hv === undefined ? '…' : hv.probed ? `${hv.accel.toUpperCase()}${hv.current ? '' : ' (to be probed again)'}` : 'not probed yet (decided at the first VM start)'}</dd>
            {hv?.probed && (
              <>
                <dt>why</dt>
                <dd>{hv.reason}</dd>
              </>
            )}
            <dt>network</dt>
            <dd>{host?.networkMode ?? '…'}</dd>
          </dl>
        </Card>
        <Card title="Counts">
          <dl>
            <dt>VMs</dt>
            <dd data-testid="vm-count">
              {vms.length} ({running} running)
            </dd>
            <dt>images</dt>
            <dd>{host?.images ?? '…'}</dd>
            <dt>kernels</dt>
            <dd>{host?.kernels ?? '…'}</dd>
          </dl>
        </Card>
      </div>
      <h2>Recent operations</h2>
      {ops.length === 0 ? (
        <p class="muted">No operations in the last 15 minutes.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>kind</th>
              <th>target</th>
              <th>state</th>
              <th>stage</th>
              <th>started</th>
            </tr>
          </thead>
          <tbody>
            {ops.map((o) => (
              <tr key={o.id}>
                <td>{o.kind}</td>
                <td>{o.target ?? ''}</td>
                <td>
                  <span class={`state state-${o.state}`}>{o.state}</span>
                  {o.error && <div class="muted">{o.error.message}</div>}
                </td>
                <td>{o.stage ?? ''}</td>
                <td>{ago(o.startedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
