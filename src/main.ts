import { createParley } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const app = createParley(config);
await app.start();

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    app.log('info', `${signal}: shutting down`);
    app.stop().then(
      () => process.exit(0),
      (error) => {
        app.log('error', 'shutdown failed', error);
        process.exit(1);
      },
    );
  });
}
