import type { Plugin } from 'graphql-yoga';
import type { Runtime } from '../runtime.ts';
import { UNSUBSCRIBE_PATH, unsubscribe } from '../services/email.ts';

const page = (title: string, text: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>\n`;

/**
 * `GET /notifications/unsubscribe?token=…` (the link in every notification
 * email) and `POST` (one-click List-Unsubscribe, RFC 8058): turns email off
 * for the type the signed token names.
 */
export function useUnsubscribe(rt: Runtime): Plugin {
  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      if (url.pathname !== UNSUBSCRIBE_PATH || (request.method !== 'GET' && request.method !== 'POST')) return;
      const done = await unsubscribe(rt, url.searchParams.get('token') ?? '');
      endResponse(
        new fetchAPI.Response(
          done
            ? page('Unsubscribed', 'You will no longer get these notifications by email. You can turn them back on in your notification preferences.')
            : page('Link not valid', 'This unsubscribe link is not valid.'),
          { status: done ? 200 : 400, headers: { 'content-type': 'text/html; charset=utf-8' } },
        ),
      );
    },
  };
}
