#!/usr/bin/env node
// Maelstrom "g-set" workload node (doc/workloads.md#workload-g-set).
//
// A state-based grow-only-set CRDT.  Each node holds a set of elements;
// `add` inserts locally and acknowledges at once.  Every tick the node sends
// its whole state to every other node in a fire-and-forget `replicate`
// message; the receiver merges by set union.  Union is commutative,
// associative and idempotent, so lost, duplicated or reordered replicate
// messages are harmless, and periodic re-sending makes the set converge once
// a partition heals.
'use strict';
const readline = require('readline');

const SYNC_INTERVAL_MS = Number(process.env.SYNC_INTERVAL_MS || 300);

const state = {
  self: null,
  peers: [],
  elements: new Map(),   // JSON encoding -> element (elements may be any JSON)
  seq: 0,
};

const log = (...a) => process.stderr.write(`[${state.self}] ${a.join(' ')}\n`);

function write(dest, body) {
  process.stdout.write(JSON.stringify({ src: state.self, dest, body }) + '\n');
}

function reply(req, type, extra = {}) {
  state.seq += 1;
  const body = Object.assign({ type, msg_id: state.seq }, extra);
  if (req.body.msg_id !== undefined) body.in_reply_to = req.body.msg_id;
  write(req.src, body);
}

function merge(list) {
  let added = 0;
  for (const e of list) {
    const k = JSON.stringify(e);
    if (!state.elements.has(k)) { state.elements.set(k, e); added += 1; }
  }
  return added;
}

function sync() {
  if (!state.self || state.elements.size === 0) return;
  const all = Array.from(state.elements.values());
  for (const p of state.peers) write(p, { type: 'replicate', elements: all });
}

function dispatch(msg) {
  const b = msg.body || {};
  switch (b.type) {
    case 'init':
      state.self = b.node_id;
      state.peers = (b.node_ids || []).filter((n) => n !== b.node_id);
      reply(msg, 'init_ok');
      log('peers', JSON.stringify(state.peers));
      break;
    case 'add':
      merge([b.element]);
      reply(msg, 'add_ok');
      break;
    case 'read':
      // workloads.md prose mentions an `elements` key, but the response
      // schema there says `value`; we follow the schema.
      reply(msg, 'read_ok', { value: Array.from(state.elements.values()) });
      break;
    case 'replicate': {
      const n = merge(b.elements || []);
      if (n > 0) log(`merged ${n} new elements from ${msg.src}`);
      break;
    }
    default:
      if (b.msg_id !== undefined && b.in_reply_to === undefined) {
        reply(msg, 'error', { code: 10, text: `unsupported: ${b.type}` });
      }
  }
}

readline.createInterface({ input: process.stdin, terminal: false })
  .on('line', (line) => {
    if (!line.trim()) return;
    try { dispatch(JSON.parse(line)); } catch (e) { log('error handling', line, e.stack); }
  })
  .on('close', () => process.exit(0));

setInterval(sync, SYNC_INTERVAL_MS);
