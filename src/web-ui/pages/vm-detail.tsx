/** One VM: spec, image, addresses, workspace and its changes, ports, egress, console tail, snapshots, actions. */
import { useState } from 'preact/hooks';
import type { VMPorts } from '../../api/ports.js';
import type { EgressReport, SnapshotInfo, VMInfo } from '../../api/types.js';
import { api, enc, follow } from '../api.js';
import { ago, bytes } from '../format.js';
import { useLive, vmByName } from '../live.js';
import { Card, ErrorBox, StateBadge, useLoad } from './common.js';
import { WorkspaceChanges } from './workspace-diff.js';

type Action = 'start' | 'stop' | 'restart' | 'delete' | 'fork';

const ACTIONS: Record<Action, { label: string; confirm: (n: string) => string; when: (v: VMInfo) => boolean }> = {
  start: { label: 'Start', confirm: (n) => `Start ${n}?`, when: (v) => ['stopped', 'created', 'error', 'suspended'].includes(v.state) },
  stop: { label: 'Stop', confirm: (n) => `Stop ${n}? Its processes end (the work disk is kept).`, when: (v) => v.state === 'running' || v.state === 'paused' },
  restart: { label: 'Restart', confirm: (n) => `Restart ${n}?`, when: (v) => v.state === 'running' },
  fork: { label: 'Fork', confirm: (n) => `Fork ${n}? It is snapshotted and a child VM is restored from it.`, when: (v) => v.state === 'running' },
  delete: { label: 'Delete', confirm: (n) => `Delete ${n} and its disks? This cannot be undone.`, when: () => true },
};

function Actions({ vm }: { vm: VMInfo }) {
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const act = async (a: Action) => {
    if (!confirm(ACTIONS[a].confirm(vm.name))) return;
    setBusy(a);
    setError(undefined);
    try {
      const path = `/vms/${enc(vm.name)}`;
      const opId =
        a === 'delete' ? await api.start('DELETE', path) : a === 'fork' ? await api.start('POST', `${path}/fork`, { count: 1 }) : await api.start('POST', `${path}/${a}`);
      await follow(opId, () => undefined);
      if (a === 'delete') location.hash = '#/vms';
    } catch (e) {
      setError(e);
    } finally {
      setBusy(undefined);
    }
  };
  return (
    <div class="actions">
      {(Object.keys(ACTIONS) as Action[])
        .filter((a) => ACTIONS[a].when(vm))
        .map((a) => (
          <button key={a} disabled={busy !== undefined} class={a === 'delete' ? 'danger' : ''} onClick={() => void act(a)} data-action={a}>
            {busy === a ? `${ACTIONS[a].label}…` : ACTIONS[a].label}
          </button>
        ))}
      {vm.state === 'running' && (
        <a class="button" href={`#/vms/${enc(vm.name)}/terminal`}>
          Terminal
        </a>
      )}
      <a class="button" href={`#/sessions/${enc(vm.name)}`} data-testid="vm-sessions">
        Sessions
      </a>
      <ErrorBox error={error} />
    </div>
  );
}

function Ports({ vm }: { vm: VMInfo }) {
  const [ports, err] = useLoad(() => (vm.state === 'running' ? api.get<VMPorts>(`/vms/${enc(vm.name)}/ports`) : Promise.resolve(undefined)), [vm.name, vm.state]);
  if (vm.state !== 'running') return <p class="muted">Ports are read from the running guest.</p>;
  if (err) return <ErrorBox error={err} />;
  if (!ports) return <p class="muted">asking the guest…</p>;
  return (
    <table>
      <tbody>
        {ports.sockets.map((s) => (
          <tr key={`${s.proto}${s.address}${s.port}`}>
            <td>{s.proto}</td>
            <td>
              {s.address}:{s.port}
            </td>
            <td>{s.process ?? ''}</td>
            <td>
              {s.url ? <a href={s.url} target="_blank" rel="noopener noreferrer">{s.url}</a> : (s.endpoint ?? '')}
              {s.forward && s.forward !== s.endpoint ? ` (published on ${s.forward})` : ''}
            </td>
            <td class="muted">{s.warning ?? ''}</td>
          </tr>
        ))}
        {ports.published.length > 0 && (
          <tr>
            <td colSpan={5} class="muted">
              published{ports.hostAddr ? ` on ${ports.hostAddr}` : ''}: {ports.published.map((p) => `${p.hostPort}:${p.guestPort}`).join(', ')}
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function Egress({ vm }: { vm: VMInfo }) {
  const [eg, err] = useLoad(() => api.get<EgressReport>(`/vms/${enc(vm.name)}/egress`), [vm.name, vm.state]);
  if (err) return <ErrorBox error={err} />;
  if (!eg) return null;
  return (
    <div>
      <p>
        {eg.nat ? 'outbound access' : 'no outbound access'}
        {eg.allow ? `, allowlist: ${eg.allow.join(', ')}` : ''} <span class="muted">({eg.note})</span>
      </p>
      {eg.denied.length + eg.allowed.length > 0 && (
        <ul class="log">
          {[...eg.allowed.map((r) => ({ ...r, ok: true })), ...eg.denied.map((r) => ({ ...r, ok: false }))].map((r, i) => (
            <li key={i} class={r.ok ? '' : 'denied'}>
              {r.ok ? 'allowed' : 'denied'} {r.name} <span class="muted">×{r.count}, last {ago(r.last)}{r.addresses ? ` -> ${r.addresses.join(', ')}` : ''}</span>
            </li>
          ))}
        </ul>
      )}
      {eg.refusedConnections && eg.refusedConnections.length > 0 && (
        <ul class="log">
          {eg.refusedConnections.map((r, i) => (
            <li key={`c${i}`} class="denied">
              refused {r.address} {r.protocol}
              {r.port !== undefined ? `/${r.port}` : ''} <span class="muted">×{r.count}, last {ago(r.last)}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function ConsoleTail({ vm }: { vm: VMInfo }) {
  const [text, err, reload] = useLoad(() => api.text(`/vms/${enc(vm.name)}/logs`), [vm.name, vm.state]);
  const lines = (text ?? '').split('\n').slice(-60).join('\n');
  return (
    <div>
      <button onClick={reload}>Refresh</button>
      <ErrorBox error={err} />
      <pre class="console" data-testid="console">{lines || '(empty)'}</pre>
    </div>
  );
}

function Snapshots({ vm }: { vm: VMInfo }) {
  const live = useLive();
  const [snaps, err] = useLoad(() => api.get<SnapshotInfo[]>('/snapshots'), [vm.name, live.opsEnded]);
  const mine = (snaps ?? []).filter((s) => s.sourceVm === vm.name);
  if (err) return <ErrorBox error={err} />;
  if (mine.length === 0) return <p class="muted">No snapshots of this VM.</p>;
  return (
    <ul>
      {mine.map((s) => (
        <li key={s.id}>
          {s.name} <span class="muted">({bytes(s.sizeBytes)}, {ago(s.createdAt)}{s.usedBy.length ? `, used by ${s.usedBy.join(', ')}` : ''})</span>
        </li>
      ))}
    </ul>
  );
}

export function VMDetail({ name }: { name: string }) {
  useLive();
  const vm = vmByName(name);
  if (!vm) {
    return (
      <section>
        <h1>{name}</h1>
        <p class="muted">No VM named {name} (it may have been deleted). <a href="#/vms">All VMs</a></p>
      </section>
    );
  }
  return (
    <section>
      <h1>
        {vm.name} <StateBadge state={vm.state} />
      </h1>
      {vm.lastError && <div class="error">{vm.lastError}</div>}
      <Actions vm={vm} />
      <div class="cards">
        <Card title="Machine">
          <dl>
            <dt>id</dt>
            <dd>{vm.id}</dd>
            <dt>image</dt>
            <dd>{vm.imageName ?? vm.imageId}</dd>
            <dt>vCPU / memory</dt>
            <dd>
              {vm.spec.vcpu} / {bytes(vm.spec.memoryMiB * 1024 * 1024)}
            </dd>
            <dt>work disk</dt>
            <dd>{bytes(vm.spec.diskSizeBytes)}</dd>
            <dt>driver</dt>
            <dd>{vm.driver ? `${vm.driver}${vm.accel ? ` (${vm.accel})` : ''}` : '-'}</dd>
            {vm.stoppedReason && (
              <>
                <dt>stopped</dt>
                <dd>{vm.stoppedReason}</dd>
              </>
            )}
          </dl>
        </Card>
        <Card title="Network">
          <dl>
            <dt>name</dt>
            <dd>{vm.dnsName}</dd>
            <dt>address</dt>
            <dd>{vm.ip ?? vm.sshHost ?? '-'}</dd>
            <dt>mode</dt>
            <dd>{vm.networkMode ?? vm.spec.network ?? 'default'}</dd>
            <dt>ssh</dt>
            <dd>
              <code>banger vm ssh {vm.name}</code>
            </dd>
          </dl>
        </Card>
        <Card title="Workspace">
          {vm.workspace ? (
            <dl>
              <dt>from</dt>
              <dd>{vm.workspace.sourcePath}</dd>
              <dt>in guest</dt>
              <dd>{vm.workspace.guestPath}</dd>
              <dt>base</dt>
              <dd>{vm.workspace.headCommit.slice(0, 12)}</dd>
              <dt>prepared</dt>
              <dd>{ago(vm.workspace.preparedAt)}</dd>
            </dl>
          ) : (
            <p class="muted">No workspace copied in.</p>
          )}
        </Card>
      </div>
      {vm.workspace && (
        <>
          <h2>Workspace changes</h2>
          <WorkspaceChanges vm={vm} />
        </>
      )}
      <h2>Ports</h2>
      <Ports vm={vm} />
      <h2>Egress</h2>
      <Egress vm={vm} />
      <h2>Snapshots</h2>
      <Snapshots vm={vm} />
      <h2>Console log</h2>
      <ConsoleTail vm={vm} />
    </section>
  );
}
