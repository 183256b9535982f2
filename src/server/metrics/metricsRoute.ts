// The GET /metrics route: the Prometheus text exposition of one SfuMetrics
// registry. Plugged into createHttpServer's `routes` table by SfuNode. The
// scrape reads only in-memory values (media stats are polled beforehand by
// StatsPoller), so it never waits on a mediasoup worker.

import type { RouteHandler } from '../http/HttpServer.ts';
import { sendJson } from '../http/HttpServer.ts';
import type { SfuMetrics } from './SfuMetrics.ts';

/** URL path of the metrics endpoint. */
export const METRICS_PATH = '/metrics';

/** Creates the /metrics handler (GET and HEAD; anything else is 405). */
export function createMetricsRoute(metrics: Pick<SfuMetrics, 'scrape' | 'contentType'>): RouteHandler {
  return async (request, response) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      sendJson(response, 405, { errcode: 'M_UNRECOGNIZED', error: 'method not allowed' });
      return;
    }
    const body = await metrics.scrape();
    response.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
}
