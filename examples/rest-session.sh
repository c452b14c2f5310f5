#!/usr/bin/env bash
# A scripted session with mcpbus's LiteLLM-style REST endpoints. Start mcpbus first (pnpm demo).
set -euo pipefail
BASE="${MCPBUS_URL:-http://127.0.0.1:4000}"
KEY="${MCPBUS_KEY:-sk-mcpbus-demo}"
say() { printf '\n$ %s\n' "$*"; }

say "curl $BASE/mcp/enabled"
curl -s "$BASE/mcp/enabled" -H "x-litellm-api-key: Bearer $KEY"; echo

say "curl '$BASE/mcp-rest/tools/list?server_id=local'"
curl -s "$BASE/mcp-rest/tools/list?server_id=local" -H "x-litellm-api-key: Bearer $KEY"; echo

say "curl -X POST $BASE/mcp-rest/tools/call -d '{\"name\":\"fixture-add\",\"arguments\":{\"a\":2,\"b\":40}}'"
curl -s -X POST "$BASE/mcp-rest/tools/call" -H "x-litellm-api-key: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"name":"fixture-add","arguments":{"a":2,"b":40}}'; echo

say "curl -X POST $BASE/mcp/tools/call -d '{\"name\":\"fixture-add\",\"arguments\":{\"a\":\"two\"}}'   # bad arguments: 400"
curl -s -w ' (HTTP %{http_code})' -X POST "$BASE/mcp/tools/call" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"name":"fixture-add","arguments":{"a":"two"}}'; echo

say "curl -X POST $BASE/mcp/tools/call -d '{\"name\":\"fixture-nope\"}'   # unknown tool: 404"
curl -s -w ' (HTTP %{http_code})' -X POST "$BASE/mcp/tools/call" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"name":"fixture-nope","arguments":{}}'; echo

say "curl $BASE/mcp/tools/list   # no key: 401"
curl -s -w ' (HTTP %{http_code})' "$BASE/mcp/tools/list"; echo
