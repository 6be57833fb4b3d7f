#!/usr/bin/env bash
# Hand tests: pipe a few scripted JSON lines into one node and print what it
# writes.  Inspect the output by eye (expected results are in the comments).
# Each test keeps stdin open briefly (sleep) so timer-driven gossip shows up.
cd "$(dirname "$0")"
INIT3='{"src":"c1","dest":"n0","body":{"type":"init","msg_id":1,"node_id":"n0","node_ids":["n0","n1","n2"]}}'
j() { printf '%s\n' "$@"; }

echo "### echo.js: expect init_ok, echo_ok with the same payload, error code 10"
j "$INIT3" \
  '{"src":"c2","dest":"n0","body":{"type":"echo","msg_id":7,"echo":{"a":[1,"x"]}}}' \
  '{"src":"c2","dest":"n0","body":{"type":"bogus","msg_id":8}}' | ./echo.js 2>/dev/null

echo "### unique_ids.py: expect two different ids"
j "$INIT3" '{"src":"c1","dest":"n0","body":{"type":"generate","msg_id":2}}' \
           '{"src":"c2","dest":"n0","body":{"type":"generate","msg_id":2}}' | ./unique_ids.py 2>/dev/null

echo "### broadcast.js: read shows [42,43,7]; gossip of 43 (not 42, n1 had it) to n1 repeats until acked"
( j "$INIT3" \
  '{"src":"c1","dest":"n0","body":{"type":"topology","msg_id":2,"topology":{"n0":["n1"],"n1":["n0","n2"],"n2":["n1"]}}}' \
  '{"src":"c1","dest":"n0","body":{"type":"broadcast","msg_id":3,"message":42}}' \
  '{"src":"c1","dest":"n0","body":{"type":"broadcast","msg_id":4,"message":43}}' \
  '{"src":"n1","dest":"n0","body":{"type":"gossip","msg_id":9,"messages":[7,42]}}' \
  '{"src":"c1","dest":"n0","body":{"type":"read","msg_id":5}}'
  sleep 1.2
  j '{"src":"n1","dest":"n0","body":{"type":"gossip_ok","in_reply_to":7}}' \
    '{"src":"n1","dest":"n0","body":{"type":"gossip_ok","in_reply_to":8}}' \
    '{"src":"n1","dest":"n0","body":{"type":"gossip_ok","in_reply_to":9}}'
  sleep 1 ) | ./broadcast.js 2>/dev/null

echo "### g-set.js: read value [5,1,2]; replicate messages to n1 and n2"
( j "$INIT3" \
  '{"src":"c1","dest":"n0","body":{"type":"add","msg_id":2,"element":5}}' \
  '{"src":"c1","dest":"n0","body":{"type":"add","msg_id":3,"element":5}}' \
  '{"src":"n1","dest":"n0","body":{"type":"replicate","elements":[1,2,5]}}' \
  '{"src":"c1","dest":"n0","body":{"type":"read","msg_id":4}}'; sleep 0.9 ) | ./g-set.js 2>/dev/null

echo "### pn_counter.py: read value 7 (5 - 7 + 10 - 1; the stale n1 state p=4 is ignored)"
( j "$INIT3" \
  '{"src":"c1","dest":"n0","body":{"type":"add","msg_id":2,"delta":5}}' \
  '{"src":"c1","dest":"n0","body":{"type":"add","msg_id":3,"delta":-7}}' \
  '{"src":"n1","dest":"n0","body":{"type":"pn_state","p":{"n1":10},"n":{"n1":1}}}' \
  '{"src":"n1","dest":"n0","body":{"type":"pn_state","p":{"n1":4},"n":{}}}' \
  '{"src":"c1","dest":"n0","body":{"type":"read","msg_id":4}}'; sleep 0.9 ) | ./pn_counter.py 2>/dev/null

echo "### g_counter_seqkv.py (we play seq-kv by hand): add_ok after cas_ok; read_ok value 12 (5 own + 7 for n1)"
( j '{"src":"c1","dest":"n0","body":{"type":"init","msg_id":1,"node_id":"n0","node_ids":["n0","n1"]}}'; sleep 1.0
  j '{"src":"seq-kv","dest":"n0","body":{"type":"error","code":20,"in_reply_to":2}}' \
    '{"src":"c1","dest":"n0","body":{"type":"add","msg_id":2,"delta":5}}'; sleep 0.2
  j '{"src":"seq-kv","dest":"n0","body":{"type":"cas_ok","in_reply_to":3}}'; sleep 0.2
  j '{"src":"c1","dest":"n0","body":{"type":"read","msg_id":3}}'; sleep 0.1
  j '{"src":"seq-kv","dest":"n0","body":{"type":"write_ok","in_reply_to":5}}'; sleep 0.1
  j '{"src":"seq-kv","dest":"n0","body":{"type":"read_ok","value":7,"in_reply_to":6}}'; sleep 0.3
) | POLL_INTERVAL=100 KV_TIMEOUT=5 ./g_counter_seqkv.py 2>/dev/null
