/** A VM's workspace changes since the prepare: files with lines added and deleted, and the patch on demand. */
import { useState } from 'preact/hooks';
import type { VMInfo, WorkspaceDiff } from '../../api/types.js';
import { api, enc } from '../api.js';
import { bytes } from '../format.js';
import { ErrorBox, useLoad } from './common.js';

function lineClass(line: string): string {
  if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff --git')) return 'file';
  if (line.startsWith('@@')) return 'hunk';
  if (line.startsWith('+')) return 'add';
  if (line.startsWith('-')) return 'del';
  return '';
}

function Patch({ vm }: { vm: VMInfo }) {
  const [diff, err] = useLoad(() => api.get<WorkspaceDiff>(`/vms/${enc(vm.name)}/workspace/diff?patch=1`), [vm.name]);
  if (err) return <ErrorBox error={err} />;
  if (!diff) return <p class="muted">reading the patch in the guest…</p>;
  return (
    <>
      {diff.truncated && (
        <p class="muted">
          The first {bytes(diff.patchLimit)} only; all of it: <code>banger vm workspace export {vm.name}</code>
        </p>
      )}
      <pre class="diff" data-testid="diff-patch">
        {(diff.patch ?? '').split('\n').map((l, i) => (
          <span key={i} class={lineClass(l)}>
            {l}
            {'\n'}
          </span>
        ))}
      </pre>
    </>
  );
}

export function WorkspaceChanges({ vm }: { vm: VMInfo }) {
  const running = vm.state === 'running';
  const [n, setN] = useState(0);
  const [open, setOpen] = useState(false);
  const [diff, err, reload] = useLoad(
    () => (running ? api.get<WorkspaceDiff>(`/vms/${enc(vm.name)}/workspace/diff`) : Promise.resolve(undefined)),
    [vm.name, running, vm.workspace?.preparedAt],
  );
  if (!running) return <p class="muted">The changes are read from the running guest.</p>;
  if (err) return <ErrorBox error={err} />;
  if (!diff) return <p class="muted">asking the guest…</p>;
  const refresh = () => {
    reload();
    setN((x) => x + 1);
  };
  return (
    <div data-testid="workspace-diff">
      <div class="actions">
        <span data-testid="diff-stat">
          {diff.files.length === 0 ? (
            'no changes since the prepare'
          ) : (
            <>
              {diff.files.length} file{diff.files.length === 1 ? '' : 's'} changed, <span class="added">+{diff.added}</span> <span class="deleted">−{diff.deleted}</span>
            </>
          )}
        </span>
        <button class="small" onClick={refresh}>
          Refresh
        </button>
      </div>
      {diff.files.length > 0 && (
        <>
          <table class="diffstat">
            <tbody>
              {diff.files.map((f) => (
                <tr key={f.path} data-file={f.path}>
                  <td>{f.from !== undefined ? `${f.from} → ${f.path}` : f.path}</td>
                  <td class="added">{f.binary ? 'binary' : `+${f.added}`}</td>
                  <td class="deleted">{f.binary ? '' : `−${f.deleted}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <details onToggle={(e) => setOpen(e.currentTarget.open)}>
            <summary data-testid="diff-toggle">Patch</summary>
            {open && <Patch key={n} vm={vm} />}
          </details>
        </>
      )}
    </div>
  );
}
