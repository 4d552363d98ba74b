// Lists and calls every tool of the real sample_host with the official MCP
// TypeScript SDK, over stdio and over Streamable HTTP on 127.0.0.1, and checks
// each structuredContent against the tool's outputSchema with Ajv.
// usage: node mcp_sdk_client_test.mjs BUILD_DIR CLIENTS_DIR
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const [buildDir, clientsDir] = process.argv.slice(2);
const require = createRequire(path.join(clientsDir, 'package.json'));
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const Ajv2020 = require('ajv/dist/2020').default;

const host = path.join(buildDir, 'bin', 'sample_host');
const data = mkdtempSync(path.join(tmpdir(), 'lognurse-sdk-'));
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};

// Arguments for each tool; a tool the server lists without an entry here fails the test.
const day = { start: '2026-12-02T00:00:00Z', end: '2026-12-03T00:00:00Z' };
const calls = {
  nurse_monitor_log_aggregation: {},
  nurse_query_logs: { query: '{service_name="payments"} |= "failed"', ...day },
  nurse_search_logs: { filters: { service: 'payments' }, time_range: day },
  nurse_get_log_metrics: day,
  nurse_list_labels: day,
  nurse_label_values: { name: 'service_name', ...day },
  nurse_get_trace_logs: { trace_id: 'abc123', ...day },
  nurse_find_error_patterns: day,
  nurse_tail_logs: { selector: '{service_name="payments"}', limit: 2, ...day },
};

async function exercise(client, transportName) {
  const { tools } = await client.listTools();
  check(tools.length >= 4, `${transportName}: tools/list returned ${tools.length} tools`);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  for (const tool of tools) {
    const where = `${transportName} ${tool.name}`;
    check(typeof tool.title === 'string' && tool.title.length > 0, `${where}: no title`);
    check(tool.annotations?.readOnlyHint === true, `${where}: readOnlyHint is not true`);
    check(tool.outputSchema?.type === 'object', `${where}: no outputSchema`);
    if (!(tool.name in calls)) {
      failures.push(`${where}: the test has no arguments for this tool`);
      continue;
    }
    // The SDK itself validates structuredContent against outputSchema and throws on a mismatch.
    const result = await client.callTool({ name: tool.name, arguments: calls[tool.name] });
    if (result.isError !== false) {
      failures.push(`${where}: isError ${JSON.stringify(result.content)}`);
      continue;
    }
    check(result.content?.[0]?.type === 'text', `${where}: no text content`);
    const validate = ajv.compile(tool.outputSchema);
    check(validate(result.structuredContent),
          `${where}: structuredContent does not match outputSchema: ${ajv.errorsText(validate.errors)}`);
    check(JSON.stringify(JSON.parse(result.content[0].text)) === JSON.stringify(result.structuredContent),
          `${where}: the text content is not the structured content`);
  }
  const failing = await client.callTool({ name: 'nurse_query_logs', arguments: {} });
  check(failing.isError === true, `${transportName}: a call without a query did not fail`);
  check(failing.content?.[0]?.text?.startsWith('tool.invalid_arguments: '),
        `${transportName}: wrong error text ${JSON.stringify(failing.content)}`);
}

async function overStdio() {
  const transport = new StdioClientTransport({
    command: host, args: ['mcp', '--data-dir', data], stderr: 'ignore' });
  const client = new Client({ name: 'lognurse-sdk-test', version: '1.0.0' });
  await client.connect(transport);
  check(client.getServerVersion()?.name === 'lognurse', 'stdio: server name');
  await exercise(client, 'stdio');
  await client.close();
}

async function overHttp() {
  const server = spawn(host, ['serve', '--listen', '127.0.0.1:0', '--data-dir', data],
                       { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const port = await new Promise((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`no port after 30 s: ${seen}`)), 30000);
      server.stdout.on('data', (chunk) => {
        seen += chunk;
        const match = /listening on port (\d+)\n/.exec(seen);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      server.on('exit', (code) => reject(new Error(`sample_host exited with ${code}`)));
    });
    const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`));
    const client = new Client({ name: 'lognurse-sdk-test', version: '1.0.0' });
    await client.connect(transport);
    check(transport.sessionId?.length === 32, 'http: no session id');
    await exercise(client, 'http');
    await transport.terminateSession();
    await client.close();
  } finally {
    server.kill('SIGTERM');
  }
}

try {
  const log = path.join(data, 'payments.log');
  writeFileSync(log, '2026-12-02T08:00:00Z payment failed card=declined trace_id=abc123\n' +
                     '2026-12-02T08:00:05Z payment ok trace_id=abc123\n');
  const ingest = spawnSync(host, ['ingest', '--data-dir', data, '--labels',
                                  'service_name=payments', log], { encoding: 'utf8' });
  if (ingest.status !== 0) throw new Error(`ingest failed: ${ingest.stderr}`);
  await overStdio();
  await overHttp();
} catch (error) {
  failures.push(`unexpected: ${error.stack ?? error}`);
} finally {
  rmSync(data, { recursive: true, force: true });
}
if (failures.length > 0) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log('every tool listed and called over stdio and Streamable HTTP');
