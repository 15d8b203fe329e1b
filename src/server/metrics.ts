import { performance } from 'node:perf_hooks';
import { getOperationAST, type DocumentNode, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../metrics.ts';

/** The labels of one operation: its name (capped, see {@link Metrics.operationLabel}) and type. */
export function operationLabels(metrics: Metrics, document: DocumentNode, operationName?: string | null) {
  const operation = getOperationAST(document, operationName);
  return {
    operation: metrics.operationLabel(operation?.name?.value ?? operationName),
    type: operation?.operation ?? 'unknown',
  };
}

/** Seconds since a `performance.now()` reading. */
export const secondsSince = (start: number) => (performance.now() - start) / 1000;

const isResult = (value: unknown): value is ExecutionResult =>
  typeof value === 'object' && value !== null && !(Symbol.asyncIterator in value);

/**
 * Yoga plugin: `GET /metrics` (Prometheus text from the app's registry), the
 * latency of every executed operation (HTTP, and queries and mutations over
 * WebSocket, which run through the same envelope), and the codes of the
 * errors in every HTTP response. Every HTTP response carries its time in the
 * server as `Server-Timing: total;dur=<ms>` (what browsers' developer tools
 * and load generators read).
 */
export function useMetrics(metrics: Metrics): Plugin {
  const started = new WeakMap<Request, number>();
  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      started.set(request, performance.now());
      if (url.pathname !== '/metrics' || request.method !== 'GET') return;
      endResponse(
        new fetchAPI.Response(await metrics.registry.metrics(), {
          status: 200,
          headers: { 'content-type': metrics.registry.contentType },
        }),
      );
    },
    onExecute({ args }) {
      const start = performance.now();
      return {
        onExecuteDone() {
          metrics.operationDuration.observe(operationLabels(metrics, args.document, args.operationName), secondsSince(start));
        },
      };
    },
    onSubscribe({ args }) {
      // Subscriptions over HTTP (server-sent events): the time to open the stream.
      const start = performance.now();
      return {
        onSubscribeResult() {
          metrics.operationDuration.observe(operationLabels(metrics, args.document, args.operationName), secondsSince(start));
        },
      };
    },
    onResponse({ request, response }) {
      const start = started.get(request);
      if (start !== undefined) response.headers.set('server-timing', `total;dur=${(performance.now() - start).toFixed(2)}`);
    },
    // Runs after the plugins listed before it, so it sees the codes clients get.
    onResultProcess({ result }) {
      for (const one of Array.isArray(result) ? result : [result]) {
        if (isResult(one)) metrics.countErrors(one.errors);
      }
    },
  };
}
