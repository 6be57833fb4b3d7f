#!/usr/bin/env node
// Maelstrom "broadcast" workload node (doc/workloads.md#workload-broadcast,
// Gossip Glomers challenge 3a-3e).
//
// Design:
//  * every value ever seen is kept in `seen` (keyed by its JSON encoding so
//    that any JSON value works as a broadcast message);
//  * the `topology` message picks our neighbours; if it names none for us we
//    fall back to every other node in the cluster;
//  * for every neighbour we keep an "outbox" of values it has not yet
//    acknowledged.  A timer periodically sends each neighbour one `gossip`
//    message carrying its whole outbox; the neighbour answers `gossip_ok`
//    and only then do we drop those values from the outbox.  Lost messages
//    (e.g. during a network partition) are therefore simply re-sent on the
//    next tick until the partition heals.
'use strict';
const readline = require('readline');

const GOSSIP_INTERVAL_MS = Number(process.env.GOSSIP_INTERVAL_MS || 150);
const INFLIGHT_TIMEOUT_MS = 1000;
// A value already sent to a neighbour is re-sent only after this long
// without an acknowledgement.
const RETRY_MS = Number(process.env.RETRY_MS || 500);

let nodeId = null;
let nodeIds = [];
let neighbours = [];
let nextId = 0;

const seen = new Map();       // json -> value
const outbox = new Map();     // neighbour -> Map(json -> last send time)
const inflight = new Map();   // msg_id -> {to, keys, sentAt}

function log(...args) { process.stderr.write(`[${nodeId}] ` + args.join(' ') + '\n'); }

function emit(dest, body) {
  process.stdout.write(JSON.stringify({ src: nodeId, dest, body }) + '\n');
}
function freshId() { nextId += 1; return nextId; }
function respond(req, body) {
  body.msg_id = freshId();
  if (req.body.msg_id !== undefined) body.in_reply_to = req.body.msg_id;
  emit(req.src, body);
}

function setNeighbours(list) {
  neighbours = list.filter((n) => n !== nodeId);
  for (const n of neighbours) {
    if (!outbox.has(n)) {
      // A neighbour we just learned about gets everything we already know.
      outbox.set(n, new Map(Array.from(seen.keys(), (k) => [k, 0])));
    }
  }
  log('neighbours are', JSON.stringify(neighbours));
}

// Record a value; if new, schedule it for every neighbour except `from`.
function learn(value, from) {
  const key = JSON.stringify(value);
  if (seen.has(key)) return false;
  seen.set(key, value);
  for (const n of neighbours) {
    if (n !== from) outbox.get(n).set(key, 0);
  }
  return true;
}

function gossipTick() {
  if (nodeId === null) return;
  const now = Date.now();
  // forget requests that were never answered; their contents stay queued
  for (const [id, rec] of inflight) {
    if (now - rec.sentAt > INFLIGHT_TIMEOUT_MS) inflight.delete(id);
  }
  for (const n of neighbours) {
    const box = outbox.get(n);
    if (!box || box.size === 0) continue;
    const keys = [];
    for (const [k, last] of box) {
      if (now - last >= RETRY_MS) { keys.push(k); box.set(k, now); }
    }
    if (keys.length === 0) continue;
    const id = freshId();
    inflight.set(id, { to: n, keys, sentAt: now });
    emit(n, { type: 'gossip', msg_id: id, messages: keys.map((k) => seen.get(k)) });
  }
}

const handlers = {
  init(msg) {
    nodeId = msg.body.node_id;
    nodeIds = msg.body.node_ids || [];
    setNeighbours(nodeIds);   // default until a topology arrives
    respond(msg, { type: 'init_ok' });
  },
  topology(msg) {
    const topo = msg.body.topology || {};
    if (Array.isArray(topo[nodeId]) && topo[nodeId].length > 0) {
      // Drop outboxes of nodes that are no longer neighbours: we only relay
      // through the declared topology from now on.
      const fresh = topo[nodeId];
      for (const n of Array.from(outbox.keys())) {
        if (!fresh.includes(n)) outbox.delete(n);
      }
      setNeighbours(fresh);
    } else {
      log('topology has no neighbours for us; keeping all-to-all');
    }
    respond(msg, { type: 'topology_ok' });
  },
  broadcast(msg) {
    learn(msg.body.message, null);
    respond(msg, { type: 'broadcast_ok' });
  },
  read(msg) {
    respond(msg, { type: 'read_ok', messages: Array.from(seen.values()) });
  },
  gossip(msg) {
    // A peer we did not list as neighbour may still talk to us (asymmetric
    // topology); we answer anyway and do not send back to it.
    const box = outbox.get(msg.src);
    for (const v of msg.body.messages || []) {
      learn(v, msg.src);
      if (box) box.delete(JSON.stringify(v));   // sender obviously has it
    }
    respond(msg, { type: 'gossip_ok' });
  },
  gossip_ok(msg) {
    const rec = inflight.get(msg.body.in_reply_to);
    if (!rec) return;
    inflight.delete(msg.body.in_reply_to);
    const box = outbox.get(rec.to);
    if (box) for (const k of rec.keys) box.delete(k);
  },
  broadcast_ok() {},
  init_ok() {},
  error(msg) { log('peer error', JSON.stringify(msg.body)); },
};

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let msg;
  try { msg = JSON.parse(line); } catch (e) { log('bad json', line); return; }
  const type = msg.body && msg.body.type;
  const h = handlers[type];
  if (h) h(msg);
  else if (msg.body && msg.body.msg_id !== undefined && msg.body.in_reply_to === undefined) {
    respond(msg, { type: 'error', code: 10, text: `unsupported message type ${type}` });
  }
});
rl.on('close', () => process.exit(0));
setInterval(gossipTick, GOSSIP_INTERVAL_MS);
