/** Images and kernels: lists, build from a recipe, OCI pull and kernel catalog pull with live stages and byte progress, delete. */
import { useState } from 'preact/hooks';
import type { CatalogKernelInfo, ImageInfo, KernelInfo, RecipeInfo } from '../../api/types.js';
import { api, enc } from '../api.js';
import { ago, bytes } from '../format.js';
import { useLive } from '../live.js';
import { ErrorBox, OperationView, useLoad, useOperation } from './common.js';

function Build({ onDone }: { onDone: () => void }) {
  const [recipes, err] = useLoad(() => api.get<RecipeInfo[]>('/images/recipes'), []);
  const [recipe, setRecipe] = useState('');
  const [name, setName] = useState('');
  const op = useOperation<ImageInfo>();
  const chosen = recipe || recipes?.[0]?.name || '';
  const submit = async (e: Event) => {
    e.preventDefault();
    if (await op.run(() => api.start('POST', '/images/build', name ? { recipe: chosen, name } : { recipe: chosen }))) onDone();
  };
  return (
    <form class="form" onSubmit={(e) => void submit(e)} data-testid="build-form">
      <ErrorBox error={err} />
      <label>
        recipe
        <select name="recipe" value={chosen} onChange={(e) => setRecipe(e.currentTarget.value)}>
          {(recipes ?? []).map((r) => (
            <option key={r.name} value={r.name}>
              {r.name}
            </option>
          ))}
        </select>
        <span class="muted">{recipes?.find((r) => r.name === chosen)?.description ?? ''}</span>
      </label>
      <label>
        name <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="the recipe's name" />
      </label>
      <div class="actions">
        <button type="submit" disabled={op.opId !== undefined || !chosen}>
          Build
        </button>
      </div>
      <OperationView op={op} label="building (needs a root daemon and the Debian mirror; minutes)" />
      {op.result && <p class="ok">Built image {op.result.name}.</p>}
    </form>
  );
}

function Pull({ onDone }: { onDone: () => void }) {
  const [ref, setRef] = useState('');
  const [name, setName] = useState('');
  const op = useOperation<ImageInfo>();
  const submit = async (e: Event) => {
    e.preventDefault();
    if (await op.run(() => api.start('POST', '/images/pull', name ? { ref, name } : { ref }))) onDone();
  };
  return (
    <form class="form" onSubmit={(e) => void submit(e)} data-testid="pull-form">
      <label>
        OCI reference <input required value={ref} onInput={(e) => setRef(e.currentTarget.value)} placeholder="docker.io/library/debian:bookworm" />
      </label>
      <label>
        name <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="derived from the reference" />
      </label>
      <div class="actions">
        <button type="submit" disabled={op.opId !== undefined}>
          Pull
        </button>
      </div>
      <OperationView op={op} label="pulling" />
    </form>
  );
}

function KernelCatalog({ version, onDone }: { version: number; onDone: () => void }) {
  const [catalog, err] = useLoad(() => api.get<CatalogKernelInfo[]>('/catalog/kernels'), [version]);
  const [pulling, setPulling] = useState('');
  const op = useOperation<KernelInfo>();
  const pull = async (k: CatalogKernelInfo) => {
    if (k.pulled && !confirm(`Download kernel ${k.name} again and replace it?`)) return;
    setPulling(k.name);
    if (await op.run(() => api.start('POST', `/kernels/${enc(k.name)}/pull`, k.pulled ? { force: true } : {}))) onDone();
  };
  return (
    <div data-testid="kernel-catalog">
      <ErrorBox error={err} />
      {catalog && (
        <table>
          <thead>
            <tr>
              <th>name</th>
              <th>version</th>
              <th>description</th>
              <th>size</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {catalog.map((k) => (
              <tr key={k.name} data-kernel={k.name}>
                <td>
                  {k.name}
                  {k.default ? <span class="muted"> (default)</span> : null}
                </td>
                <td>{k.version ?? ''}</td>
                <td class="muted">{k.description}</td>
                <td>{bytes(k.sizeBytes)}</td>
                <td>
                  <button class="small" disabled={op.opId !== undefined} onClick={() => void pull(k)}>
                    {k.pulled ? 'Pull again' : 'Pull'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {catalog && <p class="muted">from the catalog: {catalog[0]?.catalog ?? 'empty'}</p>}
      <OperationView op={op} label={`pulling kernel ${pulling}`} />
      {op.result && <p class="ok">Pulled kernel {op.result.name} ({op.result.kernelVersion}).</p>}
    </div>
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
      <h2>Build an image from a recipe</h2>
      <Build onDone={reloadImages} />
      <h2>Pull an image</h2>
      <Pull onDone={reloadImages} />
      <h1>Kernels</h1>
      <ErrorBox error={kErr} />
      {(kernels ?? []).length === 0 ? (
        <p class="muted">No kernels imported (images may carry their own).</p>
      ) : (
        <table data-testid="kernels">
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
      <h2>Pull a kernel from the catalog</h2>
      <KernelCatalog version={live.opsEnded} onDone={reloadKernels} />
    </section>
  );
}
