// JSON-RPC over HTTP (POST, batches) and the WebSocket subscriptions of a sharechain node (Specs/rpc.md).
// Every failure is an RPCError with a readable message; nothing here throws anything else.

/** JSON.parse, except that integers beyond 2^53 become decimal strings (shown exactly, never rounded). */
export function parseExact(text) {
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < n && '0123456789.eE+-'.includes(text[j])) j++;
      const tok = text.slice(i, j);
      out += /^-?\d+$/.test(tok) && !Number.isSafeInteger(Number(tok)) ? `"${tok}"` : tok;
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out);
}

/** A failed call: a JSON-RPC error object, or a transport failure (code null). */
export class RPCError extends Error {
  constructor(message, code = null, data = null) {
    super(message);
    this.name = 'RPCError';
    this.code = code;
    this.data = data;
  }
  /** Whether the node said "not found" (-32000). */
  get notFound() { return this.code === -32000; }
}

/** The node's JSON-RPC endpoint: the page's own origin unless the meta tag names another. */
export function rpcEndpoint() {
  const meta = document.querySelector('meta[name="sharechain-rpc"]');
  const configured = meta && meta.content ? meta.content.trim() : '';
  try {
    return new URL(configured || '/', window.location.href).href;
  } catch {
    return new URL('/', window.location.href).href;
  }
}

/** The WebSocket URL beside an HTTP JSON-RPC URL (`/ws` on the same host). */
export function webSocketEndpoint(httpURL) {
  const u = new URL(httpURL);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = '/ws';
  u.search = '';
  u.hash = '';
  return u.href;
}

/** A node's JSON-RPC over HTTP. */
export class NodeRPC {
  constructor(url, timeoutMs = 20000) {
    this.url = url;
    this.timeoutMs = timeoutMs;
    this.nextId = 1;
  }

  /** One call; resolves to the result or rejects with an RPCError. */
  async call(method, params = []) {
    const [answer] = await this.batch([[method, params]]);
    if (answer.error) throw answer.error;
    return answer.result;
  }

  /** Several calls in one request (at most 100): one `{result}` or `{error: RPCError}` per call, in order. */
  async batch(calls) {
    if (calls.length === 0) return [];
    const ids = calls.map(() => this.nextId++);
    const body = calls.map(([method, params], i) => ({ jsonrpc: '2.0', id: ids[i], method, params: params ?? [] }));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    let response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: controller.signal,
        cache: 'no-store',
      });
    } catch (e) {
      const crossOrigin = new URL(this.url).origin !== window.location.origin;
      throw new RPCError(controller.signal.aborted ? `the node did not answer within ${this.timeoutMs / 1000} s`
        : `cannot reach the node at ${this.url} (${e && e.message ? e.message : e})` +
          (crossOrigin ? `; a node called from another origin must allow it: --rpc-cors-origin ${window.location.origin}` : ''));
    } finally {
      clearTimeout(timer);
    }
    let decoded;
    try {
      decoded = parseExact(await response.text());
    } catch {
      throw new RPCError(`the node answered HTTP ${response.status} without JSON`);
    }
    const list = Array.isArray(decoded) ? decoded : [decoded];
    const byId = new Map();
    for (const a of list) if (a && typeof a === 'object') byId.set(a.id, a);
    return ids.map((id) => {
      const a = byId.get(id) ?? (list.length === 1 && list[0] && list[0].id === null ? list[0] : null);
      if (!a) return { error: new RPCError(`no answer (HTTP ${response.status})`) };
      if (a.error) {
        const e = a.error;
        return { error: new RPCError(`${e.message ?? 'error'} (${e.code})`, e.code ?? null, e.data ?? null) };
      }
      return { result: a.result };
    });
  }
}

/**
 * Live notifications: subscribes to `kinds` over the WebSocket and calls `onEvent(kind, result)`; reconnects with
 * backoff and reports its state (`live`, `connecting`, `down`) through `onState`.
 */
export class Live {
  constructor(wsURL, kinds, onEvent, onState) {
    this.wsURL = wsURL;
    this.kinds = kinds;
    this.onEvent = onEvent;
    this.onState = onState;
    this.backoffMs = 1000;
    this.socket = null;
    this.stopped = false;
  }

  start() {
    if (this.stopped) return;
    this.onState('connecting');
    let socket;
    try {
      socket = new WebSocket(this.wsURL);
    } catch {
      this.retry();
      return;
    }
    this.socket = socket;
    const pending = new Map();
    let id = 1;
    socket.addEventListener('open', () => {
      this.backoffMs = 1000;
      for (const kind of this.kinds) {
        const rid = id++;
        pending.set(rid, kind);
        socket.send(JSON.stringify({ jsonrpc: '2.0', id: rid, method: 'sub_subscribe', params: [kind] }));
      }
    });
    socket.addEventListener('message', (m) => {
      let msg;
      try { msg = parseExact(m.data); } catch { return; }
      if (msg && msg.method === 'sub_notification' && msg.params) {
        try { this.onEvent(msg.params.kind, msg.params.result); } catch (e) { this.onState('down', String(e)); }
      } else if (msg && pending.has(msg.id)) {
        pending.delete(msg.id);
        if (msg.error) this.onState('down', msg.error.message);
        else if (pending.size === 0) this.onState('live');
      }
    });
    socket.addEventListener('error', () => { /* the close event follows */ });
    socket.addEventListener('close', () => {
      if (this.socket === socket) this.socket = null;
      this.retry();
    });
  }

  retry() {
    if (this.stopped) return;
    this.onState('down');
    setTimeout(() => this.start(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 30000);
  }

  get connected() { return this.socket !== null && this.socket.readyState === WebSocket.OPEN; }
}
