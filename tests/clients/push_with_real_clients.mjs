// Sends log records to sample_host with real third-party clients: the
// OpenTelemetry JS logs SDK through the OTLP/HTTP JSON exporter and the
// OTLP/HTTP protobuf exporter (gzip), and winston-loki in its protobuf+snappy
// mode and its JSON mode. Each client writes to its own tenant so that the
// test reading them back can tell them apart.
//
// usage: node push_with_real_clients.mjs http://127.0.0.1:PORT BASE_MS
// BASE_MS is the Unix time in milliseconds of the first record; records
// follow it 1 ms apart. Prints one line per client and exits 0 when every
// client reported success.

import { context, trace, TraceFlags } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as JsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import winston from 'winston';
import LokiTransport from 'winston-loki';

const [base, baseMsText] = process.argv.slice(2);
if (!base || !base.startsWith('http://127.0.0.1:') || !baseMsText) {
  console.error('usage: push_with_real_clients.mjs http://127.0.0.1:PORT BASE_MS');
  process.exit(2);
}
const baseMs = Number(baseMsText);

// A whole run must end well within the test's timeout.
const watchdog = setTimeout(() => {
  console.error('clients did not finish within 60 s');
  process.exit(3);
}, 60_000);

const hrTime = (ms) => [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];

/** Emits the same three records through one OTLP exporter. */
async function sendOtlp(exporter, tenantLabel) {
  let failure = null;
  const recording = {
    export(records, done) {
      exporter.export(records, (result) => {
        if (result.code !== 0) failure = result.error ?? new Error('export failed');
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  };
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({
      'service.name': 'checkout',
      'service.namespace': 'shop',
      'deployment.environment': 'test',
      'service.version': '1.2.3',
      'host.name': 'node-1',
    }),
    processors: [new BatchLogRecordProcessor({ exporter: recording })],
  });
  const logger = provider.getLogger('checkout-logger', '2.0.0');
  const traced = trace.setSpanContext(context.active(), {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
  });
  logger.emit({
    timestamp: hrTime(baseMs),
    observedTimestamp: hrTime(baseMs + 500),
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: 'order 7 placed',
    attributes: { 'http.method': 'GET', 'user.id': 42, 'cart.ratio': 0.5, 'cart.ok': true },
    context: traced,
  });
  logger.emit({
    timestamp: hrTime(baseMs + 1),
    observedTimestamp: hrTime(baseMs + 501),
    severityNumber: SeverityNumber.ERROR2,
    severityText: 'ERROR',
    body: { order: 7, items: ['book', 'pen'] },
    attributes: { tags: ['a', 'b'] },
  });
  logger.emit({
    timestamp: hrTime(baseMs + 2),
    observedTimestamp: hrTime(baseMs + 502),
    severityNumber: SeverityNumber.WARN,
    body: 'stock low',
  });
  await provider.forceFlush();
  await provider.shutdown();
  if (failure) throw failure;
  console.log(`${tenantLabel}: sent 3 records`);
}

/** Logs two lines through winston-loki; `json` picks its JSON mode. */
async function sendWinston(json, tenant) {
  const transport = new LokiTransport({
    host: base,
    labels: { app: 'shop', env: 'test' },
    json,
    replaceTimestamp: false,
    headers: { 'X-Scope-OrgID': tenant },
    onConnectionError: (error) => {
      console.error(`${tenant}: ${error}`);
      process.exitCode = 1;
    },
  });
  const logger = winston.createLogger({ transports: [transport] });
  logger.info('user logged in', { timestamp: baseMs, user: 'ann', attempt: 2 });
  logger.warn('disk almost full', { timestamp: baseMs + 1 });
  await transport.close();
  console.log(`${tenant}: sent 2 lines`);
}

try {
  await sendOtlp(
    new JsonExporter({ url: `${base}/otlp/v1/logs`, headers: { 'X-Scope-OrgID': 'otel-json' } }),
    'otel-json');
  await sendOtlp(
    new ProtoExporter({
      url: `${base}/otlp/v1/logs`,
      headers: { 'X-Scope-OrgID': 'otel-proto' },
      compression: 'gzip',
    }),
    'otel-proto');
  await sendWinston(false, 'winston-proto');
  await sendWinston(true, 'winston-json');
} catch (error) {
  console.error(`a client failed: ${error?.stack ?? error}`);
  process.exitCode = 1;
}
clearTimeout(watchdog);
