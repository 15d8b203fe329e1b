import { useEffect, useState } from 'preact/hooks';
import type { ParleyClient } from '../../client/sdk/index.ts';

/** Shown while the WebSocket is down (or the browser is offline); the SDK reconnects and the streams resume. */
export function ConnectionBanner({ client }: { client: ParleyClient }) {
  const [socketDown, setSocketDown] = useState(false);
  const [offline, setOffline] = useState(!navigator.onLine);
  useEffect(() => {
    const offs = [
      client.ws.on('connected', () => setSocketDown(false)),
      client.ws.on('closed', () => setSocketDown(true)),
      client.ws.on('error', () => setSocketDown(true)),
    ];
    const online = () => setOffline(false);
    const gone = () => setOffline(true);
    window.addEventListener('online', online);
    window.addEventListener('offline', gone);
    return () => {
      offs.forEach((off) => off());
      window.removeEventListener('online', online);
      window.removeEventListener('offline', gone);
    };
  }, [client]);
  if (!socketDown && !offline) return null;
  return (
    <div class="banner" role="status">
      {offline ? 'You are offline.' : 'Connection lost.'} Reconnecting… Messages you send are kept and go out when the connection is back.
    </div>
  );
}
