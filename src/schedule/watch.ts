/**
 * Hearing at once that a covered key changed, instead of at the next check: Redis's
 * client-side caching in broadcast mode (CLIENT TRACKING … BCAST PREFIX stats_service:
 * NOLOOP, redirected to a subscriber connection) sends an invalidation message for every
 * change to a `stats_service:*` key made by another client, a delete, an eviction, an
 * expiry, and one for a flush. Each message only triggers a check; the periodic check
 * stays the safety net. Where tracking is refused (Redis before 6, or an ACL without
 * it) only the periodic check runs.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../io/logger.js';
import { KEY_PREFIX } from '../requests/keys.js';

const CHANNEL = '__redis__:invalidate';

export interface Watch {
  close(): void;
}

/** Calls `onChange` on every invalidation message; re-arms itself after either connection reconnects. */
export function watchInvalidations(main: Redis, onChange: () => void, logger: Logger): Watch {
  // Subscribed by hand after each connect: a connection in subscriber mode cannot say its CLIENT ID.
  const subscriber = main.duplicate({ autoResubscribe: false, connectionName: 'stats-refresh-watch' });
  subscriber.on('error', () => undefined); // reported through the main connection's failures
  subscriber.on('message', (channel: string) => {
    if (channel === CHANNEL) onChange();
  });
  let subscriberId: string | null = null;
  let warned = false;

  const track = async () => {
    if (subscriberId === null || main.status !== 'ready') return;
    try {
      await main.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', subscriberId, 'BCAST', 'PREFIX', KEY_PREFIX, 'NOLOOP');
      logger.debug({ redirect: subscriberId }, 'invalidation messages on');
      warned = false;
    } catch (error) {
      if (!warned) logger.info({ err: error }, 'no invalidation messages from Redis: periodic checks only');
      warned = true;
    }
  };
  const onSubscriberReady = async () => {
    try {
      subscriberId = String(await subscriber.client('ID'));
      await subscriber.subscribe(CHANNEL);
    } catch (error) {
      subscriberId = null;
      if (!warned) logger.info({ err: error }, 'no invalidation messages from Redis: periodic checks only');
      warned = true;
      return;
    }
    await track();
    // Changes made while we were not listening went unheard.
    onChange();
  };
  // The main connection back (Redis restarted): tracking is per connection, and a check that
  // ran while it was down (the subscriber may come back first) failed.
  const onMainReady = () => {
    void track();
    onChange();
  };
  subscriber.on('ready', () => void onSubscriberReady());
  main.on('ready', onMainReady);
  subscriber.connect().catch(() => undefined);
  return {
    close() {
      main.off('ready', onMainReady);
      subscriber.disconnect();
    },
  };
}
