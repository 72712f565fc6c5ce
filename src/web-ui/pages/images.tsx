/** Images and kernels: lists, OCI pull with byte progress, delete. */
import { useState } from 'preact/hooks';
import type { ImageInfo, KernelInfo } from '../../api/types.js';
import { api, enc, follow } from '../api.js';
import { ago, bytes } from '../format.js';
import { useLive } from '../live.js';
import { ErrorBox, foldStages, Stages, useLoad, type StageRow } from './common.js';

function Pull({ onDone }: { onDone: () => void }) {
  const [ref, setRef] = useState('');
  const [name, setName] = useState('');
  const [stages, setStages] = useState<StageRow[]>([]);
  const [opId, setOpId] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setStages([]);
    try {
      const id = await api.start('POST', '/images/pull', name ? { ref, name } : { ref });
      setOpId(id);
      await follow(id, (ev) => setStages((rows) => foldStages(rows, ev)));
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setOpId(undefined);
    }
  };
  return (
    <form class="form" onSubmit={(e) => void submit(e)}>
      <label>
        OCI reference <input required value={ref} onInput={(e) => setRef(e.currentTarget.value)} placeholder="docker.io/library/debian:bookworm" />
      </label>
      <label>
        name <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="derived from the reference" />
      </label>
      <div class="actions">
        <button type="submit" disabled={opId !== undefined}>
          Pull
        </button>
        {opId && (
          <button type="button" class="danger" onClick={() => void api.cancel(opId)}>
            Cancel
          </button>
        )}
      </div>
      <Stages rows={stages} />
      <ErrorBox error={error} />
    </form>
  );
}

export function Images() {
  const live = useLive();
  const [images, imgErr, reloadImages] = useLoad(() => api.get<ImageInfo[]>('/images'), [live.opsEnded]);
  const [kernels, kErr, reloadKernels] = useLoad(() => api.get<KernelInfo[]>('/kernels'), [live.opsEnded]);
  const [error, setError] = useState<unknown>(undefined);
  const remove = async (kind: 'images' | 'kernels', name: string) => {
    if (!confirm(`Delete ${kind === 'images' ? 'image' : 'kernel'} ${name}?`)) return;
    setError(undefined);
    try {
      await api.del(`/${kind}/${enc(name)}`);
    } catch (e) {
      setError(e);
    }
    reloadImages();
    reloadKernels();
  };
  return (
    <section>
      <h1>Images</h1>
      <ErrorBox error={imgErr ?? error} />
      <table data-testid="images">
        <thead>
          <tr>
            <th>name</th>
            <th>distro</th>
            <th>source</th>
            <th>size</th>
            <th>kernel</th>
            <th>created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(images ?? []).map((i) => (
            <tr key={i.id}>
              <td>{i.name}</td>
              <td>{i.distro}</td>
              <td class="muted">{i.source}</td>
              <td>{bytes(i.sizeBytes)}</td>
              <td>{i.kernelRef ?? ''}</td>
              <td>{ago(i.createdAt)}</td>
              <td>
                <button class="danger small" onClick={() => void remove('images', i.name)}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Pull an image</h2>
      <Pull onDone={reloadImages} />
      <h1>Kernels</h1>
      <ErrorBox error={kErr} />
      {(kernels ?? []).length === 0 ? (
        <p class="muted">No kernels imported (images may carry their own).</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>name</th>
              <th>version</th>
              <th>distro</th>
              <th>imported</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(kernels ?? []).map((k) => (
              <tr key={k.name}>
                <td>{k.name}</td>
                <td>{k.kernelVersion}</td>
                <td>{k.distro}</td>
                <td>{ago(k.importedAt)}</td>
                <td>
                  <button class="danger small" onClick={() => void remove('kernels', k.name)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
