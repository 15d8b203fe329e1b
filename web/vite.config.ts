import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

// `npm run build:web` → web/dist, which the server serves at / (src/server/web.ts).
// `npx vite web` serves it with hot reload; /graphql goes to a Parley on :4000.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The server's CSP forbids inline scripts; Vite's preload helper is a module of its own.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: true,
  },
  server: {
    proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true } },
  },
});
