import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fillPath, ROUTE_LIST, ROUTES, routesForPath } from './routes.js';

describe('route table', () => {
  it('has unique ids and unique method+path pairs', () => {
    assert.equal(new Set(ROUTE_LIST.map((r) => r.id)).size, ROUTE_LIST.length);
    assert.equal(new Set(ROUTE_LIST.map((r) => `${r.method} ${r.path}`)).size, ROUTE_LIST.length);
  });

  it('says for every operation whether it can be cancelled, and for no other route', () => {
    for (const r of ROUTE_LIST) {
      if (r.kind === 'operation') assert.equal(typeof r.cancellable, 'boolean', r.id);
      else assert.equal(r.cancellable, undefined, r.id);
    }
  });

  it('makes every VM lifecycle step that can take more than a second an operation', () => {
    for (const r of [ROUTES.vmCreate, ROUTES.vmStart, ROUTES.vmRestart, ROUTES.vmStop, ROUTES.vmKill, ROUTES.vmDelete, ROUTES.vmPrune, ROUTES.vmSet, ROUTES.vmPause, ROUTES.vmResume, ROUTES.vmSuspend]) {
      assert.equal(r.kind, 'operation', r.id);
    }
  });

  it('lists static paths before the parameter paths that would shadow them', () => {
    const at = (method: string, path: string) => ROUTE_LIST.findIndex((r) => r.method === method && r.path === path);
    assert.ok(at('GET', '/images/recipes') < at('GET', '/images/:name'));
  });

  it('fills path parameters, encoding them', () => {
    assert.equal(fillPath(ROUTES.vmStop.path, { name: 'a b/c' }), '/vms/a%20b%2Fc/stop');
    assert.equal(fillPath(ROUTES.vmList.path, {}), '/vms');
  });

  it('finds the routes of a concrete path whatever the method', () => {
    assert.deepEqual(routesForPath('/vms/dev').map((r) => r.method).sort(), ['DELETE', 'GET', 'PATCH']);
    assert.deepEqual(routesForPath('/nope'), []);
  });
});
