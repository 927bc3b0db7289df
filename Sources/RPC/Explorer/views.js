// The explorer's pages. Each page function takes the context `{node, tip, args}` and resolves to a DOM element;
// RPC failures reject with an RPCError, which the router shows as a message. Text always goes in as text nodes.

import { RPCError } from './rpc.js';
import { barChart, lineChart } from './charts.js';

// ---- DOM helpers -------------------------------------------------------------------------------------------

/** An element with attributes and children (strings become text nodes; null and false are skipped). */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export const a = (href, text, cls) => h('a', { href, class: cls }, text);

/** `0x1234abcd…89ef` for long hex and bech32 strings. */
export function short(s, head = 10, tail = 6) {
  s = String(s);
  return s.length > head + tail + 1 ? `${s.slice(0, head)}…${s.slice(-tail)}` : s;
}

export function when(ms) {
  if (typeof ms !== 'number') return '—';
  const d = new Date(ms);
  const ago = Math.round((Date.now() - ms) / 1000);
  const rel = ago < 0 ? 'in the future' : ago < 90 ? `${ago} s ago` : ago < 5400 ? `${Math.round(ago / 60)} min ago` : `${Math.round(ago / 3600)} h ago`;
  return `${d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} (${rel})`;
}

const addressKeys = new Set(['sender', 'to', 'from', 'proposer', 'worker', 'owner', 'payee', 'prover', 'winner', 'staker', 'validator',
  'address', 'leader', 'payer']);
const heightKeys = new Set(['height', 'blockHeight', 'selectedHeight', 'revealedHeight', 'openedHeight', 'adjudicatedHeight', 'includedHeight',
  'startHeight', 'closeHeight', 'settleHeight', 'finalHeight', 'createdHeight', 'since']);
const blockHashKeys = new Set(['blockHash', 'parent', 'tipHash']);
const txKeys = new Set(['transactionHash', 'revealTransaction']);

const isHash = (v) => typeof v === 'string' && /^0x[0-9a-f]{64}$/i.test(v);

/** A value shown by its member name: addresses, blocks, transactions and tickets become links. */
export function value(key, v, tip) {
  if (v === null || v === undefined) return h('span', { class: 'muted' }, 'null');
  if (typeof v === 'string') {
    if (addressKeys.has(key) && /^[a-z]+1[02-9ac-hj-np-z]{20,}$/.test(v)) return a(`#/address/${v}`, short(v, 12, 8), 'mono');
    if (blockHashKeys.has(key) && isHash(v)) return a(`#/block/${v}`, short(v), 'mono');
    if (txKeys.has(key) && isHash(v)) return a(`#/tx/${v}`, short(v), 'mono');
    if (key === 'ticketId' && isHash(v)) return a(`#/ticket/${v}`, short(v), 'mono');
    if (/^0x[0-9a-f]*$/i.test(v)) return h('span', { class: 'mono', title: v }, v.length > 80 ? short(v, 40, 8) : v);
    return v;
  }
  if (typeof v === 'number') {
    if (heightKeys.has(key) && (tip === undefined || v <= tip)) return a(`#/block/${v}`, String(v));
    if (key === 'timestamp') return when(v);
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.length === 0) return h('span', { class: 'muted' }, 'none');
  if (typeof v === 'object' && v.type === 'worker' && 'pool' in v) return a(`#/pool/${v.pool}`, `worker of pool ${v.pool}`);
  if (typeof v === 'object' && v.type === 'validator' && Object.keys(v).length === 1) return 'validator';
  return h('pre', { class: 'json' }, JSON.stringify(v, null, 1));
}

/** A two-column table of an object's members (`skip` left out). */
export function kv(obj, { skip = [], tip } = {}) {
  const rows = Object.entries(obj).filter(([k]) => !skip.includes(k))
    .map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, value(k, v, tip))));
  return h('table', { class: 'kv' }, h('tbody', {}, rows));
}

/** A table: `cols` are `[title, row => node|string]`. */
export function table(cols, rows, attrs = {}) {
  return h('table', { class: 'list', ...attrs },
    h('thead', {}, h('tr', {}, cols.map(([t]) => h('th', {}, t)))),
    h('tbody', {}, rows.map((r) => h('tr', r && r.height !== undefined ? { 'data-height': r.height, 'data-hash': isHash(r.hash) ? r.hash : null } : {},
      cols.map(([, f]) => h('td', {}, f(r)))))));
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), children);
}

export function note(text, cls = 'muted') { return h('p', { class: cls }, text); }

function errorNote(what, err) {
  return h('p', { class: 'error' }, `${what}: ${err && err.message ? err.message : err}`);
}

function page(title, ...children) {
  return h('div', { class: 'page' }, h('h1', {}, title), children);
}

/** Unwraps one answer of a batch: the result, or throws its error. */
function unwrap(answer) {
  if (answer.error) throw answer.error;
  return answer.result;
}

/** Follows a list's cursor up to `pages` pages and returns the items. */
async function listAll(node, method, params, pages = 5) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < pages; i++) {
    const r = await node.call(method, { ...params, limit: 100, ...(cursor ? { cursor } : {}) });
    items.push(...(r.items || []));
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  items.more = Boolean(cursor); // pages left unread
  return items;
}

// ---- Dashboard -----------------------------------------------------------------------------------------------

const RECENT = 15;

const blockCols = [
  ['height', (b) => a(`#/block/${b.height}`, String(b.height))],
  ['hash', (b) => a(`#/block/${b.hash}`, short(b.hash), 'mono')],
  ['txs', (b) => String(b.transactionCount ?? (Array.isArray(b.transactions) ? b.transactions.length : '?'))],
  ['proposer', (b) => value('proposer', b.proposer)],
  ['time', (b) => (typeof b.timestamp === 'number' ? new Date(b.timestamp).toISOString().slice(11, 19) : '—')],
];

/** Transactions per second over the blocks after genesis (by timestamp span), or null with fewer than two. */
export function txRate(blocks) {
  // Genesis carries the genesis time, not a slot's: it does not count.
  const sorted = blocks.filter((b) => b.height > 0 && typeof b.timestamp === 'number').sort((x, y) => x.height - y.height);
  if (sorted.length < 2) return null;
  const span = (sorted[sorted.length - 1].timestamp - sorted[0].timestamp) / 1000;
  if (!(span > 0)) return null;
  const txs = sorted.slice(1).reduce((s, b) => s + (b.transactionCount ?? 0), 0);
  return txs / span;
}

function stat(id, label, content, sub) {
  return h('div', { class: 'stat', id }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, content), sub ? h('div', { class: 'sub' }, sub) : null);
}

export async function dashboard(ctx) {
  const { node } = ctx;
  const first = await node.batch([['chain_blockNumber'], ['chain_getFinality'], ['net_peerCount'], ['mempool_status'], ['node_status']]);
  const tip = unwrap(first[0]);
  if (!Number.isSafeInteger(tip) || tip < 0) throw new RPCError(`the node reports an impossible height: ${String(tip).slice(0, 30)}`);
  ctx.tip = tip;
  const heights = [];
  for (let n = tip; n >= 0 && n > tip - RECENT; n--) heights.push(n);
  const statuses = ['awaitingReveal', 'revealed', 'withheld', 'fraudProven', 'upheld', 'voided', 'reused'];
  const [blockAnswers, windowsR, ticketAnswers, proofsR] = await Promise.all([
    node.batch(heights.map((n) => ['chain_getBlockByNumber', [n]])),
    listAll(node, 'window_list', { pool: 0 }).then((r) => ({ r }), (e) => ({ e })),
    node.batch(statuses.map((s) => ['ticket_list', { status: s, limit: 100 }])).then((r) => ({ r }), (e) => ({ e })),
    node.call('proof_list', { limit: 100 }).then((r) => ({ r }), (e) => ({ e })),
  ]);
  const blocks = blockAnswers.filter((x) => x.result).map((x) => x.result);

  // Summary cards.
  const stats = h('div', { class: 'stats' });
  const fin = first[1].result;
  const status = first[4].result;
  stats.append(
    stat('stat-height', 'height', a(`#/block/${tip}`, String(tip)), status ? `${status.chainName} · slot ${status.slot}` : null),
    stat('stat-finality', 'finalized / justified', fin && fin.finalized && fin.justified ? h('span', {}, a(`#/block/${fin.finalized.height}`, String(fin.finalized.height)), ' / ',
      a(`#/block/${fin.justified.height}`, String(fin.justified.height))) : errorNote('finality', first[1].error ?? 'unexpected answer'), fin ? `safe ${fin.safeHeight} · checkpoint every ${fin.checkpointBlocks}` : null),
    stat('stat-peers', 'peers', first[2].result !== undefined ? String(first[2].result) : '?'),
    stat('stat-tps', 'tx/s (recent blocks)', txRate(blocks) === null ? '—' : txRate(blocks).toFixed(2), `over the last ${blocks.length} blocks`),
    stat('stat-mempool', 'mempool', first[3].result ? `${first[3].result.transactions} txs` : '?', first[3].result ? `${first[3].result.bytes} bytes` : null),
  );

  // Recent blocks (the live head prepends rows here).
  const recent = section('Latest blocks', table(blockCols, blocks, { id: 'recent-blocks' }));

  // Revenue and paid shares per window of pool 0.
  let windowsChart;
  if (windowsR.e) windowsChart = errorNote('windows', windowsR.e);
  else {
    const ws = windowsR.r.slice(-24);
    windowsChart = barChart({
      title: 'Pool 0: revenue and paid shares per window',
      labels: ws.map((w) => `w${w.window}`),
      series: [{ name: 'earned (revenue)', values: ws.map((w) => w.earned) }, { name: 'paid to workers', values: ws.map((w) => w.paid) },
        { name: 'refunded', values: ws.map((w) => w.refunded) }],
      link: (i) => `#/window/0/${ws[i].window}`,
    });
  }

  // Tickets and fraud proofs over time (cumulative, by height).
  let ticketsChart, proofsChart;
  if (ticketAnswers.e) ticketsChart = errorNote('tickets', ticketAnswers.e);
  else {
    const tickets = ticketAnswers.r.flatMap((x) => (x.result ? x.result.items : []));
    const cumulative = (hs) => {
      const sorted = hs.filter((x) => typeof x === 'number').sort((p, q) => p - q);
      return sorted.map((x, i) => [x, i + 1]);
    };
    const selected = cumulative(tickets.map((t) => t.selectedHeight));
    // Tickets are pruned once their window pays out: the chart starts a little before the oldest one kept.
    const from = selected.length ? Math.max(0, selected[0][0] - 5) : 0;
    ticketsChart = lineChart({
      title: 'Tickets over time (those still in state)', x0: from, x1: tip,
      series: [{ name: 'selected', points: selected },
        { name: 'revealed', points: cumulative(tickets.map((t) => t.revealedHeight)) }],
    });
  }
  if (proofsR.e) proofsChart = errorNote('fraud cases', proofsR.e);
  else {
    const cases = proofsR.r.items || [];
    const cumulative = (hs) => hs.filter((x) => typeof x === 'number').sort((p, q) => p - q).map((x, i) => [x, i + 1]);
    proofsChart = lineChart({
      title: 'Fraud cases over time', x0: 0, x1: tip,
      series: [{ name: 'opened', points: cumulative(cases.map((c) => c.openedHeight)) },
        { name: 'proven fraud', points: cumulative(cases.filter((c) => c.fraud === true).map((c) => c.adjudicatedHeight)) }],
    });
  }

  const view = page('Dashboard', stats, h('div', { class: 'grid2' }, recent,
    section('Economy', h('div', { class: 'charts' }, windowsChart, ticketsChart, proofsChart))));
  view.latestHead = blocks[0] ?? null;
  const refreshCards = (height) => {
    const hv = view.querySelector('#stat-height .value');
    if (hv) hv.replaceChildren(a(`#/block/${height}`, String(height)));
    const tv = view.querySelector('#stat-tps .value');
    const rate = txRate(blocks);
    if (tv) tv.textContent = rate === null ? '—' : rate.toFixed(2);
  };
  // Live: a new head goes on top of the table and into the height and tx/s cards.
  view.onHead = (head) => {
    const tbody = view.querySelector('#recent-blocks tbody');
    if (!tbody || tbody.querySelector(`tr[data-height="${head.height}"]`)) return;
    const top = tbody.firstElementChild ? Number(tbody.firstElementChild.dataset.height) : -1;
    if (head.height <= top) return; // only newer blocks go on top (a reorg first removes the rows above its fork point)
    blocks.unshift(head);
    if (blocks.length > RECENT) blocks.length = RECENT;
    const row = h('tr', { 'data-height': head.height, 'data-hash': head.hash, class: 'fresh' }, blockCols.map(([, f]) => h('td', {}, f(head))));
    tbody.prepend(row);
    while (tbody.children.length > RECENT) tbody.lastElementChild.remove();
    refreshCards(head.height);
  };
  // A reorg: the rows above the fork point belong to the old branch. They go at once; the new branch's blocks come
  // as the `newHeads` that follow, and are also read here (a reorg deeper than the table, or heads missed meanwhile).
  let reorgSeq = 0;
  view.onReorg = async (reorg) => {
    const seq = ++reorgSeq;
    const fork = reorg.commonAncestor.height;
    const tbody = view.querySelector('#recent-blocks tbody');
    if (!tbody) return;
    for (const row of [...tbody.children]) if (Number(row.dataset.height) > fork) row.remove();
    for (let i = blocks.length - 1; i >= 0; i--) if (blocks[i].height > fork) blocks.splice(i, 1);
    refreshCards(fork);
    const newHeight = typeof reorg.newHeight === 'number' ? reorg.newHeight : fork;
    const heights = [];
    for (let n = Math.max(fork + 1, newHeight - RECENT + 1); n <= newHeight; n++) heights.push(n);
    // Older rows the table now lacks (a reorg that shortened it) come back below the fork point.
    const have = tbody.children.length + heights.length;
    const missing = [];
    for (let n = tbody.lastElementChild ? Number(tbody.lastElementChild.dataset.height) - 1 : fork; n >= 0 && have + missing.length < RECENT; n--) {
      missing.push(n);
    }
    try {
      const answers = await node.batch([...missing, ...heights].map((n) => ['chain_getBlockByNumber', [n]]));
      if (seq !== reorgSeq) return; // another reorg meanwhile: its own handler reads its branch
      const got = answers.filter((x) => x.result).map((x) => x.result);
      for (const b of got.filter((b) => b.height <= fork).sort((x, y) => y.height - x.height)) {
        if (tbody.querySelector(`tr[data-height="${b.height}"]`)) continue;
        blocks.push(b);
        tbody.append(h('tr', { 'data-height': b.height, 'data-hash': b.hash }, blockCols.map(([, f]) => h('td', {}, f(b)))));
      }
      blocks.sort((x, y) => y.height - x.height);
      if (blocks.length > RECENT) blocks.length = RECENT;
      while (tbody.children.length > RECENT) tbody.lastElementChild.remove();
      for (const b of got.filter((b) => b.height > fork).sort((x, y) => x.height - y.height)) view.onHead(b);
    } catch { /* the next head fills in */ }
  };
  view.onFinalized = async () => {
    try {
      const f = await node.call('chain_getFinality');
      const fv = view.querySelector('#stat-finality .value');
      if (fv) fv.replaceChildren(a(`#/block/${f.finalized.height}`, String(f.finalized.height)), ' / ', a(`#/block/${f.justified.height}`, String(f.justified.height)));
    } catch { /* the next event retries */ }
  };
  return view;
}

// ---- Block, transaction, address -----------------------------------------------------------------------------

export async function block(ctx) {
  const id = ctx.args[0] ?? '';
  const { node } = ctx;
  let b;
  if (/^\d+$/.test(id)) b = await node.call('chain_getBlockByNumber', [Number(id), true]);
  else if (isHash(id)) b = await node.call('chain_getBlockByHash', [id, true]);
  else throw new RPCError(`'${short(id, 20, 4)}' is neither a height nor a block hash`);
  const txs = Array.isArray(b.transactions) ? b.transactions : [];
  const nav = h('p', { class: 'nav' },
    b.height > 0 ? a(`#/block/${b.height - 1}`, '← previous') : null, ' ',
    ctx.tip === undefined || b.height < ctx.tip ? a(`#/block/${b.height + 1}`, 'next →') : null);
  const txTable = txs.length === 0 ? note('No transactions.') : table([
    ['#', (t) => String(t.position ?? txs.indexOf(t))],
    ['hash', (t) => a(`#/tx/${t.hash}`, short(t.hash), 'mono')],
    ['kind', (t) => t.kind],
    ['sender', (t) => value('sender', t.sender)],
    ['fee', (t) => t.fee],
  ], txs, { id: 'block-txs' });
  let events = null;
  try {
    const r = await node.call('chain_getBlockReceipts', [b.hash]);
    const ev = r.receipts.flatMap((rc) => (rc.events || []).map((e) => ({ ...e, _tx: rc.transactionHash })));
    events = ev.length === 0 ? note('No events.') : eventsTable(ev);
  } catch (e) {
    events = e.code === -32004 ? note('Receipts not kept for this block.') : errorNote('receipts', e);
  }
  return page(`Block ${b.height}`, nav, section('Header', kv(b, { skip: ['transactions'], tip: ctx.tip })),
    section(`Transactions (${txs.length})`, txTable), section('Events', events));
}

function eventsTable(events) {
  return table([
    ['event', (e) => e.type],
    ['transaction', (e) => (e._tx ? a(`#/tx/${e._tx}`, short(e._tx), 'mono') : h('span', { class: 'muted' }, 'block'))],
    ['details', (e) => {
      const rest = Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'type' && k !== '_tx'));
      return h('div', { class: 'inline-kv' }, Object.entries(rest).map(([k, v]) => h('span', {}, h('b', {}, `${k} `), value(k, v))));
    }],
  ], events);
}

export async function transaction(ctx) {
  const hash = ctx.args[0] ?? '';
  if (!isHash(hash)) throw new RPCError(`'${short(hash, 20, 4)}' is not a transaction hash`);
  const [txA, rcA] = await ctx.node.batch([['tx_getByHash', [hash]], ['tx_getReceipt', [hash]]]);
  const tx = unwrap(txA);
  const body = tx.body || {};
  let receipt;
  if (rcA.error) receipt = rcA.error.notFound ? note(tx.status === 'pending' ? 'Pending: no receipt yet.' : 'No receipt.') : errorNote('receipt', rcA.error);
  else {
    const rc = rcA.result;
    receipt = h('div', {}, kv(rc, { skip: ['events'], tip: ctx.tip }), h('h3', {}, 'Events'), (rc.events || []).length ? eventsTable(rc.events.map((e) => ({ ...e, _tx: hash }))) : note('No events.'));
  }
  const extra = [];
  if (body.ticketId) extra.push(a(`#/ticket/${body.ticketId}`, 'ticket'), ' ');
  if (body.pool !== undefined && body.window !== undefined) extra.push(a(`#/window/${body.pool}/${body.window}`, `window ${body.window} of pool ${body.pool}`));
  return page(`Transaction ${short(hash)}`, h('p', { class: 'nav' }, extra),
    section(`${tx.kind} · ${tx.status}`, kv(tx, { skip: ['body'], tip: ctx.tip })), section('Body', kv(body, { tip: ctx.tip })), section('Receipt', receipt));
}

export async function address(ctx) {
  const addr = ctx.args[0] ?? '';
  const cursor = ctx.query.get('cursor');
  const [accA, txsA] = await ctx.node.batch([['account_get', [addr]],
    ['account_getTransactions', { address: addr, limit: 25, ...(cursor ? { cursor } : {}) }]]);
  const acc = unwrap(accA);
  const stakes = (acc.stakes || []).map((s) => h('li', {}, value('role', s.role), `: stake ${s.stake}, ${s.status}`,
    s.role && s.role.type === 'validator' ? [' · ', a(`#/validator/${acc.address}`, 'validator page')] : null));
  let txs;
  if (txsA.error) txs = errorNote('transactions', txsA.error);
  else {
    const page1 = txsA.result;
    txs = h('div', {}, page1.items.length === 0 ? note('No transactions.') : table([
      ['block', (t) => a(`#/block/${t.blockHeight}`, String(t.blockHeight))],
      ['position', (t) => String(t.position)],
      ['hash', (t) => a(`#/tx/${t.hash}`, short(t.hash), 'mono')],
    ], page1.items, { id: 'address-txs' }),
    page1.nextCursor ? h('p', {}, a(`#/address/${acc.address}?cursor=${encodeURIComponent(page1.nextCursor)}`, 'older →')) : null);
  }
  return page(`Address ${short(acc.address, 14, 8)}`,
    section('Account', kv(acc, { skip: ['stakes'], tip: ctx.tip })),
    section('Stakes', stakes.length ? h('ul', {}, stakes) : note('No stake.')),
    section('Transactions', txs));
}

// ---- Validators, pools, windows ------------------------------------------------------------------------------

export async function validators(ctx) {
  const items = await listAll(ctx.node, 'validator_list', {}, 3);
  return page('Validators', section(`${items.length}${items.more ? '+' : ''} validators`, table([
    ['address', (v) => a(`#/validator/${v.address}`, short(v.address, 14, 8), 'mono')],
    ['stake', (v) => v.stake], ['status', (v) => v.status], ['since', (v) => value('since', v.since, ctx.tip)],
  ], items)));
}

export async function validator(ctx) {
  const addr = ctx.args[0] ?? '';
  const v = await ctx.node.call('validator_get', [addr]);
  return page(`Validator ${short(v.address, 14, 8)}`, h('p', { class: 'nav' }, a(`#/address/${v.address}`, 'account')),
    section('Validator', kv(v, { tip: ctx.tip })));
}

export async function pool(ctx) {
  const id = Number(ctx.args[0] ?? 0);
  const [poolA] = await ctx.node.batch([['pool_get', [id]]]);
  const p = unwrap(poolA);
  let windows;
  try {
    const ws = await listAll(ctx.node, 'window_list', { pool: id });
    const last = ws.slice(-24);
    windows = h('div', {}, barChart({ title: 'Revenue and paid shares per window', labels: last.map((w) => `w${w.window}`),
      series: [{ name: 'earned', values: last.map((w) => w.earned) }, { name: 'paid', values: last.map((w) => w.paid) },
        { name: 'refunded', values: last.map((w) => w.refunded) }], link: (i) => `#/window/${id}/${last[i].window}` }),
    table([
      ['window', (w) => a(`#/window/${id}/${w.window}`, String(w.window))], ['status', (w) => w.status],
      ['blocks', (w) => `${w.startHeight}–${w.closeHeight}`], ['earned', (w) => w.earned], ['paid', (w) => w.paid],
      ['refunded', (w) => w.refunded], ['commitments', (w) => String(w.commitments)], ['tickets', (w) => String(w.tickets)],
    ], [...ws].reverse(), { id: 'pool-windows' }));
  } catch (e) {
    windows = errorNote('windows', e);
  }
  return page(`Pool ${id}`, section('Windows', windows), section('Parameters', kv(p, { skip: ['encoded'], tip: ctx.tip })));
}

export async function window_(ctx) {
  const poolId = Number(ctx.args[0]);
  const w = Number(ctx.args[1]);
  if (!Number.isInteger(poolId) || !Number.isInteger(w)) throw new RPCError('a window page is #/window/POOL/WINDOW');
  const [winA, payA, shareA] = await ctx.node.batch([['window_get', [poolId, w]], ['window_getPayouts', { pool: poolId, window: w, limit: 100 }],
    ['share_list', { pool: poolId, window: w, limit: 100 }]]);
  const win = unwrap(winA);
  const nav = h('p', { class: 'nav' }, a(`#/pool/${poolId}`, `pool ${poolId}`), ' · ', w > 0 ? a(`#/window/${poolId}/${w - 1}`, '← previous') : null, ' ',
    a(`#/window/${poolId}/${w + 1}`, 'next →'));
  // Settlement split: what each worker was paid and refunded.
  let split;
  if (payA.error) split = errorNote('payouts', payA.error);
  else {
    const items = payA.result.items || [];
    const big = (x) => { try { return BigInt(x); } catch { return 0n; } };
    const paidTotal = items.reduce((s, p) => s + big(p.paid), 0n);
    const refundedTotal = items.reduce((s, p) => s + big(p.refunded), 0n);
    const total = paidTotal + refundedTotal;
    const colorOf = new Map(items.filter((p) => big(p.paid) > 0n).map((p, i) => [p.worker, `s${i % 5}`]));
    const segment = (cls, amount, title) => {
      const seg = h('span', { class: `seg ${cls}`, title });
      seg.style.width = `${total > 0n ? Number((amount * 10000n) / total) / 100 : 0}%`;
      return seg;
    };
    split = items.length === 0 ? note(`No payouts yet (window ${payA.result.windowStatus}).`) : h('div', {},
      h('div', { class: 'split', role: 'img', 'aria-label': 'settlement split: paid per worker, then refunded to clients' },
        items.filter((p) => big(p.paid) > 0n).map((p) => segment(colorOf.get(p.worker), big(p.paid), `${p.worker}: paid ${p.paid}`)),
        refundedTotal > 0n ? segment('refund', refundedTotal, `refunded to clients: ${refundedTotal}`) : null),
      h('p', { class: 'muted' }, `paid to workers ${paidTotal}, refunded to clients ${refundedTotal}`, payA.result.nextCursor ? ' (first 100 payouts only: more payouts exist)' : ''),
      table([
        ['worker', (p) => h('span', {}, h('i', { class: `swatch seg ${colorOf.get(p.worker) ?? 'refund'}` }), value('worker', p.worker))],
        ['paid', (p) => p.paid], ['refunded', (p) => p.refunded],
        ['share of paid', (p) => (paidTotal > 0n ? `${(Number((big(p.paid) * 1000n) / paidTotal) / 10).toFixed(1)} %` : '—')],
        ['height', (p) => value('height', p.height, ctx.tip)],
      ], items, { id: 'window-payouts' }));
  }
  let shares = null;
  if (shareA.result && (shareA.result.items || []).length) {
    shares = section('Unpaid work', table([
      ['worker', (s) => value('worker', s.worker)], ['earned', (s) => s.earned], ['payers', (s) => String(s.payers)],
      ['shards', (s) => (s.shards || []).map((x) => `#${x.shard}: ${x.paidTokens} tokens`).join(', ')],
    ], shareA.result.items));
  }
  return page(`Window ${w} of pool ${poolId}`, nav, section(`Settlement split (${win.status})`, split), shares,
    section('Window', kv(win, { skip: ['encoded'], tip: ctx.tip })));
}

// ---- Tickets, fraud cases ------------------------------------------------------------------------------------

const ticketStatuses = ['open', 'revealed', 'adjudicated', 'awaitingReveal', 'withheld', 'fraudProven', 'upheld', 'voided', 'reused'];

export async function tickets(ctx) {
  const status = ctx.args[0] && ticketStatuses.includes(ctx.args[0]) ? ctx.args[0] : 'revealed';
  const cursor = ctx.query.get('cursor');
  const r = await ctx.node.call('ticket_list', { status, limit: 100, ...(cursor ? { cursor } : {}) });
  const more = r.nextCursor ? h('p', {}, a(`#/tickets/${status}?cursor=${encodeURIComponent(r.nextCursor)}`, 'more →')) : null;
  const tabs = h('p', { class: 'tabs' }, ticketStatuses.map((s) => a(`#/tickets/${s}`, s, s === status ? 'active' : null)));
  return page('Tickets', tabs, section(`${status} (${r.items.length}${r.nextCursor ? '+' : ''})`, more, r.items.length === 0 ? (r.nextCursor ? note('None on this page.') : note('None.')) : table([
    ['ticket', (t) => a(`#/ticket/${t.ticketId}`, short(t.ticketId), 'mono')], ['worker', (t) => value('worker', t.worker)],
    ['window', (t) => a(`#/window/${t.pool}/${t.window}`, `${t.pool}/${t.window}`)], ['selected', (t) => value('selectedHeight', t.selectedHeight, ctx.tip)],
    ['status', (t) => t.status],
  ], r.items, { id: 'ticket-list' })));
}

export async function ticket(ctx) {
  const id = ctx.args[0] ?? '';
  const t = await ctx.node.call('ticket_get', [id]);
  const links = [a(`#/window/${t.pool}/${t.window}`, `window ${t.window} of pool ${t.pool}`)];
  if (t.fraudCase) links.push(' · ', a(`#/proof/${t.ticketId}`, 'fraud case'));
  return page(`Ticket ${short(t.ticketId)}`, h('p', { class: 'nav' }, links),
    section(`Ticket (${t.status})`, kv(t, { skip: ['encoded', 'input', 'commitment', 'fraudCase', 'leaf', 'check', 'sealedInput'], tip: ctx.tip })),
    section('Revealed leaf', t.leaf ? kv(t.leaf) : note('Not revealed.')),
    t.check ? checkSection(t.check, t.sealedInput, ctx) : null,
    t.fraudCase ? section('Fraud case', kv(t.fraudCase, { skip: ['encoded'], tip: ctx.tip })) : null);
}

/** A sealed ticket's checkers (pools with checkers): who was assigned, who answered what, and the outcome. */
function checkSection(check, sealedInput, ctx) {
  const summary = kv({
    status: check.status, revealHeight: check.revealHeight, unblindedOutputHash: check.unblindedOutputHash,
    keyDeadline: check.keyDeadline,
    sealedInput: sealedInput ? `${(sealedInput.length - 2) / 2} bytes of ciphertext for the checkers` : 'not kept (check over)',
  }, { tip: ctx.tip });
  const answers = table([
    ['checker', (c) => value('checker', c.checker)],
    ['committed', (c) => (c.committed ? 'yes' : 'no')],
    ['answer', (c) => (c.answer === null ? '—' : value('answer', c.answer))],
    ['matches output', (c) => (c.matches === null ? '—' : (c.matches ? 'yes' : 'no'))],
  ], check.checkers, { id: 'ticket-checkers' });
  return section(`Checkers (${check.status})`, summary, answers);
}

export async function proofs(ctx) {
  const items = await listAll(ctx.node, 'proof_list', {}, 3);
  return page('Fraud cases', section(`${items.length}${items.more ? '+' : ''} cases`, items.length === 0 ? note('None.') : table([
    ['ticket', (c) => a(`#/proof/${c.ticketId}`, short(c.ticketId), 'mono')], ['worker', (c) => value('worker', c.worker)],
    ['status', (c) => c.status], ['fraud', (c) => (c.fraud === null ? 'pending' : String(c.fraud))], ['slashed', (c) => c.slashed],
    ['bounty', (c) => c.bounty], ['opened', (c) => value('openedHeight', c.openedHeight, ctx.tip)],
  ], items, { id: 'proof-list' })));
}

export async function proof(ctx) {
  const id = ctx.args[0] ?? '';
  const c = await ctx.node.call('proof_get', [id]);
  return page(`Fraud case ${short(c.ticketId)}`, h('p', { class: 'nav' }, a(`#/ticket/${c.ticketId}`, 'ticket'), ' · ',
    a(`#/window/${c.pool}/${c.window}`, `window ${c.window} of pool ${c.pool}`)),
  section(`Case (${c.status})`, kv(c, { skip: ['encoded'], tip: ctx.tip })));
}

// ---- Search --------------------------------------------------------------------------------------------------

/** Where a search goes: a route, or an RPCError saying nothing matched. */
export async function resolveSearch(node, raw) {
  const q = raw.trim();
  if (q === '') throw new RPCError('type a block height or hash, a transaction hash or an address');
  if (/^\d+$/.test(q)) return `#/block/${q}`;
  if (/^[a-z]+1[02-9ac-hj-np-z]{20,}$/i.test(q)) return `#/address/${q.toLowerCase()}`;
  if (isHash(q)) {
    const id = q.toLowerCase();
    const [b, t, k, p, acc] = await node.batch([['chain_getBlockByHash', [id]], ['tx_getByHash', [id]], ['ticket_get', [id]], ['proof_get', [id]],
      ['account_get', [id]]]);
    if (b.result) return `#/block/${id}`;
    if (t.result) return `#/tx/${id}`;
    if (p.result) return `#/proof/${id}`;
    if (k.result) return `#/ticket/${id}`;
    if (acc.result && (acc.result.nonce > 0 || acc.result.balance !== '0')) return `#/address/${acc.result.address}`;
    throw new RPCError(`nothing on this chain has the hash ${short(id)}`);
  }
  throw new RPCError(`'${short(q, 20, 4)}' is not a height, a 0x hash or an address`);
}
