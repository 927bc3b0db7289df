// The explorer's entry point: hash routes, search, the header's live tip, and live updates over the WebSocket.
// Any failure becomes a message on the page; nothing is left blank and nothing is thrown to the console.

import { NodeRPC, Live, RPCError, rpcEndpoint, webSocketEndpoint } from './rpc.js';
import * as views from './views.js';

const started = performance.now();
const rpcURL = rpcEndpoint();
const node = new NodeRPC(rpcURL);
const view = document.getElementById('view');
const state = { tip: undefined, current: null, generation: 0, lastHeadAt: 0, reorgs: 0, lastReorg: null, lastHead: null, wasLive: false };

/** What tests and curious users can read: first render time, the latest head, the live state, and how often the page
 * re-read itself because it could have missed a branch switch (a reconnect, or a switch the polling found). */
const probe = { firstRenderMs: null, firstReadyAtMs: null, renders: 0, heads: 0, reorgs: 0, rereads: 0, live: 'connecting', errors: [] };
window.sharechainExplorer = probe;

const routes = {
  '': views.dashboard,
  block: views.block,
  tx: views.transaction,
  address: views.address,
  validators: views.validators,
  validator: views.validator,
  pool: views.pool,
  window: views.window_,
  tickets: views.tickets,
  ticket: views.ticket,
  proofs: views.proofs,
  proof: views.proof,
};

function parseRoute() {
  const raw = window.location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter((p) => p !== '').map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return { name: parts[0] ?? '', args: parts.slice(1), query: new URLSearchParams(query) };
}

function showError(err, name) {
  const message = err instanceof RPCError || (err && err.message) ? err.message : String(err);
  probe.errors.push(message);
  const box = views.h('div', { class: 'page' },
    views.h('h1', {}, name ? `Cannot show this ${name}` : 'Something went wrong'),
    views.h('p', { class: 'error', id: 'error' }, message),
    views.h('p', {}, views.a('#/', 'Back to the dashboard')));
  view.replaceChildren(box);
  view.dataset.ready = 'error';
}

async function render() {
  const generation = ++state.generation;
  const { name, args, query } = parseRoute();
  const pageFn = routes[name];
  view.dataset.page = name || 'dashboard';
  view.dataset.ready = 'false';
  if (!pageFn) {
    showError(new RPCError(`there is no page '${name}'`));
    return;
  }
  if (!view.firstElementChild || !view.firstElementChild.classList.contains('loading')) {
    view.prepend(views.h('p', { class: 'loading' }, 'Loading…'));
  }
  try {
    const ctx = { node, tip: state.tip, args, query };
    const reorgsBefore = state.reorgs;
    const element = await pageFn(ctx);
    if (generation !== state.generation) return; // the user moved on meanwhile
    state.current = element;
    // The newest block the page shows, for the polling's branch check (poll).
    if (element.latestHead && typeof element.latestHead.height === 'number') noteHead(element.latestHead);
    // A reorg while the page loaded: what it read above the fork point may be the old branch's.
    if (state.reorgs !== reorgsBefore && typeof element.onReorg === 'function') element.onReorg(state.lastReorg);
    if (ctx.tip !== undefined) {
      const missed = state.tip !== undefined && state.tip > ctx.tip && typeof element.onHead === 'function';
      const through = state.tip;
      setTip(ctx.tip);
      // Heads that arrived while the page was loading.
      if (missed) catchUp(ctx.tip + 1, through);
    }
    view.replaceChildren(element);
    view.dataset.ready = 'true';
    probe.renders += 1;
    if (probe.firstRenderMs === null) {
      probe.firstRenderMs = Math.round(performance.now() - started);
      probe.firstReadyAtMs = Math.round(performance.now()); // from the navigation's start
    }
    window.scrollTo(0, 0);
  } catch (err) {
    if (generation !== state.generation) return;
    state.current = null;
    showError(err, name || null);
  }
}

function setTip(height, force = false) {
  if (!Number.isSafeInteger(height) || (!force && state.tip !== undefined && height < state.tip)) return;
  state.tip = height;
  const link = document.getElementById('tip-height');
  link.textContent = String(height);
  link.setAttribute('href', `#/block/${height}`);
}

// The WebSocket came back after it was down: notifications of the gap (new heads, a branch switch) are lost, so the
// page reads itself again rather than trust what it showed.
function setLive(s) {
  const reconnected = s === 'live' && state.wasLive && probe.live !== 'live';
  if (s === 'live') state.wasLive = true;
  probe.live = s;
  const box = document.getElementById('live');
  box.dataset.state = s;
  document.getElementById('live-text').textContent = s === 'live' ? 'live' : s === 'connecting' ? 'connecting' : 'polling';
  if (reconnected) reread();
}

/** Re-reads the current page from the node: what it showed may belong to a branch the node has left. */
function reread() {
  probe.rereads += 1;
  state.lastHead = null;
  node.call('chain_blockNumber').then((tip) => setTip(tip, true), () => { /* the page shows errors */ });
  render();
}

function noteHead(head) {
  if (head && typeof head.hash === 'string' && (!state.lastHead || head.height >= state.lastHead.height)) {
    state.lastHead = { height: head.height, hash: head.hash };
  }
}

function onHead(head) {
  if (!head || !Number.isSafeInteger(head.height)) return;
  probe.heads += 1;
  state.lastHeadAt = Date.now();
  noteHead(head);
  setTip(head.height);
  if (state.current && typeof state.current.onHead === 'function') state.current.onHead(head);
}

async function catchUp(from, through) {
  const heights = [];
  for (let n = Math.max(from, through - 9); n <= through; n++) heights.push(n);
  try {
    const answers = await node.batch(heights.map((n) => ['chain_getBlockByNumber', [n]]));
    for (const ans of answers) if (ans.result) onHead(ans.result);
  } catch { /* the next head fills in */ }
}

// The node switched branches (Specs/rpc.md §8): blocks above `commonAncestor` are gone. The `newHeads` of the new
// branch follow this notification; the page drops what it showed above the fork point and re-reads the new branch.
function onReorg(reorg) {
  if (!reorg || !reorg.commonAncestor || typeof reorg.commonAncestor.height !== 'number') return;
  state.reorgs += 1;
  state.lastReorg = reorg;
  probe.reorgs = state.reorgs;
  state.lastHead = null; // the new branch's heads follow
  if (typeof reorg.newHeight === 'number') setTip(reorg.newHeight, true);
  if (state.current && typeof state.current.onReorg === 'function') state.current.onReorg(reorg);
  // Any other page may show blocks, receipts or records of the branch the node left: it reads itself again.
  else if (state.current) reread();
}

function onEvent(kind, result) {
  if (kind === 'newHeads') onHead(result);
  else if (kind === 'reorg') onReorg(result);
  else if (kind === 'finalized' && state.current && typeof state.current.onFinalized === 'function') state.current.onFinalized(result);
}

// While the WebSocket is down (a remote node that does not list this origin, a proxy without WebSocket), poll the tip.
// Each poll also reads the block at the height of the newest head the page shows: a different hash (or none) means
// the node switched branches meanwhile, and no `reorg` notification will say so; the page then reads itself again.
async function poll() {
  if (probe.live !== 'live' && Date.now() - state.lastHeadAt > 4000) {
    try {
      const seen = state.lastHead;
      const calls = [['chain_blockNumber']];
      if (seen) calls.push(['chain_getBlockByNumber', [seen.height]]);
      const first = await node.batch(calls);
      if (first[0].error) throw first[0].error;
      const tip = first[0].result;
      if (!Number.isSafeInteger(tip)) throw new RPCError('impossible height');
      const now = seen ? first[1] : null;
      if (seen && !now.error && (!now.result || now.result.hash !== seen.hash)) {
        if (state.lastHead === seen) reread();
      } else if (state.tip === undefined || tip > state.tip) {
        const from = state.tip === undefined ? tip : Math.max(state.tip + 1, tip - 9);
        const heights = [];
        for (let n = from; n <= tip; n++) heights.push(n);
        const answers = await node.batch(heights.map((n) => ['chain_getBlockByNumber', [n]]));
        for (const ans of answers) if (ans.result) onHead(ans.result);
      }
    } catch { /* the page shows errors; the header just keeps its last tip */ }
  }
  setTimeout(poll, 5000);
}

document.getElementById('search').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = document.getElementById('search-input');
  try {
    const target = await views.resolveSearch(node, input.value);
    if (window.location.hash === target) render(); else window.location.hash = target;
  } catch (err) {
    state.generation++;
    showError(err, null);
    view.dataset.page = 'search';
  }
});

window.addEventListener('hashchange', () => { render(); });
window.addEventListener('unhandledrejection', (e) => {
  e.preventDefault();
  showError(e.reason);
});
window.addEventListener('error', (e) => {
  e.preventDefault();
  showError(e.error || e.message);
});

document.getElementById('rpc-url').textContent = rpcURL;
render();
// The header's tip on every page from the start (the dashboard sets it too; live heads keep it current).
node.call('chain_blockNumber').then(setTip, () => { /* the page shows the error */ });
new Live(webSocketEndpoint(rpcURL), ['newHeads', 'reorg', 'finalized'], onEvent, setLive).start();
setTimeout(poll, 5000);
