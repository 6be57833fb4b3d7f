#!/usr/bin/env node
// Maelstrom "echo" workload node (doc/workloads.md#workload-echo).
// Reads newline-delimited JSON messages on stdin, writes replies on stdout,
// logs diagnostics on stderr.
'use strict';
const readline = require('readline');

let nodeId = null;
let nodeIds = [];
let counter = 0;

function log(...args) { process.stderr.write(args.join(' ') + '\n'); }

function emit(dest, body) {
  const msg = { src: nodeId, dest, body };
  process.stdout.write(JSON.stringify(msg) + '\n');
}

function respond(request, body) {
  counter += 1;
  body.msg_id = counter;
  if (request.body.msg_id !== undefined) body.in_reply_to = request.body.msg_id;
  emit(request.src, body);
}

const handlers = {
  init(msg) {
    nodeId = msg.body.node_id;
    nodeIds = msg.body.node_ids || [];
    log(`initialised as ${nodeId} in cluster [${nodeIds.join(',')}]`);
    respond(msg, { type: 'init_ok' });
  },
  echo(msg) {
    respond(msg, { type: 'echo_ok', echo: msg.body.echo });
  },
};

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let msg;
  try { msg = JSON.parse(line); } catch (e) { log('unparseable input:', line); return; }
  const type = msg.body && msg.body.type;
  const h = handlers[type];
  if (h) {
    h(msg);
  } else if (msg.body && msg.body.in_reply_to === undefined && msg.body.msg_id !== undefined) {
    respond(msg, { type: 'error', code: 10, text: `unsupported message type ${type}` });
  } else {
    log('ignoring', line);
  }
});
rl.on('close', () => process.exit(0));
