// Distributed tracing (docs/architecture.md, "Tracing"): W3C trace context from the gateway to the subgraphs, into
// the event log, to the sync jobs and webhook deliveries those events cause, and the trace id in every log line.
//
// `startTracing` (once per process: the OpenTelemetry API is global) always installs the AsyncLocalStorage context
// manager and the W3C `traceparent` propagator, so that an incoming traceparent is followed, or a trace id minted,
// and logs correlate even when nothing is exported. The SDK (a TracerProvider, a batch processor and an OTLP/HTTP
// exporter) is loaded only when the standard variables ask for it: OTEL_TRACES_EXPORTER=otlp, or
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set (OTEL_TRACES_EXPORTER=none and
// OTEL_SDK_DISABLED=true turn it off). The exporter reads its own OTEL_EXPORTER_OTLP_* variables (endpoint, headers,
// timeout, compression, certificates); this module reads the protocol, the sampler and the batch settings, which
// the trace SDK no longer reads itself. Spans exist only at the edges: HTTP requests served, subgraph calls, sync
// jobs and webhook deliveries; never per field.
//
// One process may host several components (`npm run start:single`, tests): each names itself (`gateway`, `oa`,
// `archive`, `sync`), and its spans carry that name as service.name unless OTEL_SERVICE_NAME says otherwise.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Context, DiagLogLevel, ROOT_CONTEXT, type Span, SpanKind, type SpanOptions, SpanStatusCode, TraceFlags, type Tracer, context, diag, isSpanContextValid, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator, parseTraceParent } from '@opentelemetry/core';
import type { Sampler, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Logger } from './logger.ts';

export { SpanKind, SpanStatusCode, context, trace, type Span, type Context };

/** The header that carries the trace context, on internal calls and on webhook deliveries (W3C Trace Context). */
export const TRACEPARENT = 'traceparent';

export interface Tracing {
  /** Whether spans are recorded and exported (the SDK is loaded). */
  readonly enabled: boolean;
  /** Exports every span ended so far. */
  forceFlush(): Promise<void>;
  /** Exports what is left and stops exporting. */
  shutdown(): Promise<void>;
}

interface Sdk {
  processor: SpanProcessor;
  tracer(component: string): Tracer;
}

let sdk: Sdk | null = null;
let started: Promise<Tracing> | null = null;

type Env = Readonly<Record<string, string | undefined>>;

const set = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';

/** What the standard variables ask for: export over OTLP/HTTP in `protocol`, or not (and why not, when refused). */
export function tracingSettings(env: Env = process.env): { export: false; refused?: string } | { export: true; protocol: 'http/json' | 'http/protobuf' } {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return { export: false };
  const exporters = set(env.OTEL_TRACES_EXPORTER) ? env.OTEL_TRACES_EXPORTER.split(',').map((e) => e.trim().toLowerCase()) : null;
  if (exporters?.includes('none')) return { export: false };
  if (exporters && !exporters.includes('otlp')) return { export: false, refused: `OTEL_TRACES_EXPORTER=${env.OTEL_TRACES_EXPORTER}: only otlp (or none) is supported` };
  if (!exporters && !set(env.OTEL_EXPORTER_OTLP_ENDPOINT) && !set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)) return { export: false };
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim().toLowerCase();
  if (protocol !== 'http/json' && protocol !== 'http/protobuf') return { export: false, refused: `OTLP protocol ${protocol}: only http/protobuf and http/json are supported` };
  return { export: true, protocol };
}

/**
 * Sets tracing up for this process (once; later calls get the same handle). `logger` receives the SDK's own
 * warnings (an export that failed) as log lines.
 */
export function startTracing(opts: { logger?: Logger; env?: Env } = {}): Promise<Tracing> {
  started ??= setUp(opts.env ?? process.env, opts.logger);
  return started;
}

async function setUp(env: Env, logger: Logger | undefined): Promise<Tracing> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const settings = tracingSettings(env);
  if (!settings.export) {
    if ('refused' in settings && settings.refused) logger?.warn({ problem: settings.refused }, 'tracing is off');
    return { enabled: false, forceFlush: async () => {}, shutdown: async () => {} };
  }
  if (logger) {
    const log = (level: 'warn' | 'error') => (message: string) => logger[level]({ component: 'tracing' }, message.slice(0, 500));
    diag.setLogger({ error: log('error'), warn: log('warn'), info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
  }
  // Loaded only now: a process that exports nothing does not load the SDK at all.
  const [{ BatchSpanProcessor, TracerProvider }, resources, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/resources'),
    settings.protocol === 'http/json' ? import('@opentelemetry/exporter-trace-otlp-http') : import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  const num = (name: string) => (set(env[name]) && Number.isFinite(Number(env[name])) ? Number(env[name]) : undefined);
  const processor = new BatchSpanProcessor({
    exporter: new OTLPTraceExporter(),
    scheduledDelayMillis: num('OTEL_BSP_SCHEDULE_DELAY'),
    exportTimeoutMillis: num('OTEL_BSP_EXPORT_TIMEOUT'),
    maxQueueSize: num('OTEL_BSP_MAX_QUEUE_SIZE'),
    maxExportBatchSize: num('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
  });
  const sampler = await samplerOf(env, logger);
  // OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME, over the component's own name.
  const fromEnv = resources.detectResources({ detectors: [resources.resourceAttributesEnvDetector, resources.serviceNameEnvDetector] });
  const tracers = new Map<string, Tracer>();
  sdk = {
    processor,
    tracer(component) {
      let tracer = tracers.get(component);
      if (!tracer) {
        const resource = resources.defaultResource().merge(resources.resourceFromAttributes({ 'service.name': component })).merge(fromEnv);
        // One provider per component, all on one processor: spans of a process hosting several parts are told apart.
        tracer = new TracerProvider({ resource, sampler, spanProcessors: [processor] }).getTracer(component);
        tracers.set(component, tracer);
      }
      return tracer;
    },
  };
  logger?.info({ protocol: settings.protocol }, 'tracing: spans are exported over OTLP');
  return {
    enabled: true,
    forceFlush: () => processor.forceFlush(),
    shutdown: () => processor.shutdown(),
  };
}

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG as the specification defines them (default parentbased_always_on). */
async function samplerOf(env: Env, logger: Logger | undefined): Promise<Sampler> {
  const { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler } = await import('@opentelemetry/sdk-trace');
  const name = (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim().toLowerCase();
  const arg = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const ratio = Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1;
  const root = name.endsWith('always_off') ? new AlwaysOffSampler() : name.endsWith('traceidratio') ? new TraceIdRatioBasedSampler(ratio) : new AlwaysOnSampler();
  if (!['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'].includes(name)) {
    logger?.warn({ sampler: name }, 'OTEL_TRACES_SAMPLER not supported: parentbased_always_on is used');
    return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

/**
 * A span of `component`, child of `parent`. Without the SDK, no span is recorded: the parent's trace context is
 * carried on as it is, or, at a root, a new trace id is minted (unsampled), so logs and downstream calls still share it.
 */
export function startSpan(component: string, name: string, options: SpanOptions = {}, parent: Context = context.active()): Span {
  if (sdk) return sdk.tracer(component).startSpan(name, options, parent);
  const span = trace.getSpan(parent);
  if (span && isSpanContextValid(span.spanContext())) return span.isRecording() ? trace.wrapSpanContext(span.spanContext()) : span;
  const ids = randomBytes(24).toString('hex');
  return trace.wrapSpanContext({ traceId: ids.slice(0, 32), spanId: ids.slice(32), traceFlags: TraceFlags.NONE });
}

/** Marks the span failed, with the error's name and message only (no stack: traces are read more widely than logs). */
export function failSpan(span: Span, err: unknown): void {
  if (!span.isRecording()) return;
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: message.slice(0, 300) });
}

/** Runs `fn` in a new span (ended when it settles, failed when it throws). */
export async function inSpan<T>(component: string, name: string, options: SpanOptions, parent: Context, fn: (span: Span) => Promise<T>): Promise<T> {
  const span = startSpan(component, name, options, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    failSpan(span, err);
    throw err;
  } finally {
    span.end();
  }
}

const serving = new WeakSet<IncomingMessage>();

/**
 * Serves one HTTP request in a SERVER span continuing the caller's `traceparent` (or a new trace), ended when the
 * response closes. A request already served in a span (an outer handler started it) runs in that one.
 */
export function serveTraced<T>(component: string, req: IncomingMessage, res: ServerResponse, route: string, fn: () => T): T {
  if (serving.has(req)) return fn();
  serving.add(req);
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const method = req.method ?? 'GET';
  const span = startSpan(component, `${method} ${route}`, { kind: SpanKind.SERVER }, parent);
  if (span.isRecording()) {
    span.setAttributes({ 'http.request.method': method, 'http.route': route });
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500 || !res.writableFinished) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
  }
  return context.with(trace.setSpan(parent, span), fn);
}

/** Adds `traceparent` (and `tracestate`) for the active context, or `ctx`, to outgoing headers. */
export function injectTraceHeaders(headers: Record<string, string>, ctx: Context = context.active()): Record<string, string> {
  propagation.inject(ctx, headers);
  return headers;
}

/** The W3C traceparent of the active context (to store with an event or a job); null outside any trace. */
export function currentTraceparent(ctx: Context = context.active()): string | null {
  const sc = trace.getSpanContext(ctx);
  if (!sc || !isSpanContextValid(sc)) return null;
  return `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & TraceFlags.SAMPLED}`;
}

/** A context continuing a stored traceparent (ROOT when there is none or it is not one). */
export function contextOf(traceparent: string | null | undefined): Context {
  const sc = typeof traceparent === 'string' ? parseTraceParent(traceparent) : null;
  return sc ? trace.setSpanContext(ROOT_CONTEXT, { ...sc, isRemote: true }) : ROOT_CONTEXT;
}

/** The trace id of the active context: what error responses quote (extensions.traceId). */
export function currentTraceId(): string | undefined {
  const sc = trace.getSpanContext(context.active());
  return sc && isSpanContextValid(sc) ? sc.traceId : undefined;
}

/**
 * The fields OpenTelemetry's log conventions name (trace_id, span_id, trace_flags), for every log line in a trace.
 * A new object each time: pino merges the line's own fields into it.
 */
export function traceLogFields(): Record<string, string> {
  const sc = trace.getSpanContext(context.active());
  if (!sc || !isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: sc.traceFlags & TraceFlags.SAMPLED ? '01' : '00' };
}
