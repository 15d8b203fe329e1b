import type { GraphiQLOptions, Plugin } from 'graphql-yoga';

/**
 * GraphiQL served by Parley itself: the page and every script, style sheet,
 * editor worker and icon it loads come from @graphql-yoga/render-graphiql's
 * bundle, served under /graphiql/. Nothing is fetched from a CDN (it works
 * offline), and the page has no inline script (it works under a CSP of
 * `script-src 'self'`).
 */
export const GRAPHIQL_ASSET_PATH = '/graphiql/';

/** Where a new tab starts: the first steps, in order. */
const DEFAULT_QUERY = `# Welcome to Parley.
#
# 1. Sign up (or log in: logIn(input: { email, password })) and copy the token.
# 2. Open Headers below and paste it: {"Authorization": "Bearer <token>"}
# 3. Run the query "Me" to check you are signed in.
# 4. Subscriptions run over WebSocket on this same /graphql path and use the
#    same Headers: subscribe in one window, send a message from another.
#
# Pick an operation with the run button's menu.

mutation SignUp {
  signUp(input: { email: "ada@example.com", password: "correct horse battery", name: "Ada", handle: "ada" }) {
    token
    user { id handle }
  }
}

mutation LogIn {
  logIn(input: { email: "ada@example.com", password: "correct horse battery" }) {
    token
  }
}

query Me {
  me { id handle name }
}
`;

/** The Headers pane of a new tab: where the token goes. */
const DEFAULT_HEADERS = `{
  "Authorization": "Bearer <paste the token from signUp or logIn here>"
}`;

export function graphiqlOptions(): GraphiQLOptions {
  return {
    title: 'Parley',
    endpoint: '/graphql',
    // GraphiQL turns the endpoint into ws(s)://<this host>/graphql for subscriptions.
    subscriptionsProtocol: 'WS',
    defaultQuery: DEFAULT_QUERY,
    defaultHeaders: DEFAULT_HEADERS,
    headers: DEFAULT_HEADERS,
    favicon: `${GRAPHIQL_ASSET_PATH}favicon.ico`,
    defaultEditorToolsVisibility: 'headers',
  };
}

/** The page: references to /graphiql/ assets, and the options as inert JSON. */
export function renderGraphiQL(options: GraphiQLOptions): string {
  // `<` escaped: the JSON cannot close its script element.
  const json = JSON.stringify(options).replace(/</g, '\\u003c');
  const asset = (name: string) => `${GRAPHIQL_ASSET_PATH}${name}`;
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(options.title ?? 'Parley')}</title>
    <link rel="icon" href="${asset('favicon.ico')}" />
    <link rel="stylesheet" href="${asset('graphiql.css')}" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run GraphiQL.</noscript>
    <div id="root"></div>
    <script type="application/json" id="graphiql-options">${json}</script>
    <script src="${asset('graphiql.js')}"></script>
    <script src="${asset('start.js')}"></script>
  </body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** Starts GraphiQL: Monaco's workers from /graphiql/, then the options from the page. */
const START_JS = `(function () {
  var workers = {
    editorWorkerService: ${JSON.stringify(`${GRAPHIQL_ASSET_PATH}editor.worker.js`)},
    json: ${JSON.stringify(`${GRAPHIQL_ASSET_PATH}json.worker.js`)},
    graphql: ${JSON.stringify(`${GRAPHIQL_ASSET_PATH}graphql.worker.js`)}
  };
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: function (_moduleId, label) { return workers[label] || workers.editorWorkerService; }
  };
  var options = JSON.parse(document.getElementById('graphiql-options').textContent);
  YogaGraphiQL.renderYogaGraphiQL(document.querySelector('#root'), options);
})();
`;

interface Asset {
  type: string;
  body: string | Uint8Array<ArrayBuffer>;
}

let assets: Promise<Map<string, Asset>> | undefined;

/** The bundle is large (about 9 MB): loaded on the first request for it, not at start. */
function loadAssets(): Promise<Map<string, Asset>> {
  assets ??= import('@graphql-yoga/render-graphiql/graphiql').then((bundle) => {
    const js = 'text/javascript; charset=utf-8';
    const icon = /^data:([^;,]+);base64,(.*)$/.exec(bundle.favicon);
    return new Map<string, Asset>([
      ['graphiql.js', { type: js, body: bundle.js }],
      ['graphiql.css', { type: 'text/css; charset=utf-8', body: bundle.css }],
      ['start.js', { type: js, body: START_JS }],
      ['editor.worker.js', { type: js, body: bundle.editorWorkerService }],
      ['json.worker.js', { type: js, body: bundle.jsonWorker }],
      ['graphql.worker.js', { type: js, body: bundle.graphqlWorker }],
      ['favicon.ico', { type: icon?.[1] ?? 'image/x-icon', body: new Uint8Array(Buffer.from(icon?.[2] ?? '', 'base64')) }],
    ]);
  });
  return assets;
}

/** Serves GET /graphiql/<asset> (only while GraphiQL is on). */
export function useGraphiQLAssets(): Plugin {
  return {
    async onRequest({ request, url, fetchAPI, endResponse }) {
      if (!url.pathname.startsWith(GRAPHIQL_ASSET_PATH)) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      const asset = (await loadAssets()).get(url.pathname.slice(GRAPHIQL_ASSET_PATH.length));
      if (!asset) {
        endResponse(new fetchAPI.Response('Not found\n', { status: 404, headers: { 'content-type': 'text/plain' } }));
        return;
      }
      endResponse(
        new fetchAPI.Response(request.method === 'HEAD' ? null : asset.body, {
          status: 200,
          headers: { 'content-type': asset.type, 'cache-control': 'no-cache' },
        }),
      );
    },
  };
}
