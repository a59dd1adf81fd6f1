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
/** CLIENT TRACKING's refusal of a REDIRECT to a connection that no longer exists. */
const REDIRECT_GONE = /client ID you want redirect to does not exist/i;

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
  /** The subscriber's CLIENT ID while it is connected and subscribed; null while it is not. */
  let subscriberId: string | null = null;
  let warned = false;

  const off = (error: unknown) => {
    if (!warned) logger.info({ err: error }, 'no invalidation messages from Redis: periodic checks only');
    warned = true;
  };
  // One at a time: two interleaved (both connections back at once) would turn tracking on twice.
  let tracking: Promise<void> = Promise.resolve();
  const track = () => (tracking = tracking.then(trackOnce));
  const trackOnce = async () => {
    const redirect = subscriberId;
    if (redirect === null || main.status !== 'ready') return;
    try {
      // Off first: a connection already tracking (the subscriber came back, the main
      // connection did not drop) refuses the same prefix again, and may redirect to a dead ID.
      await main.call('CLIENT', 'TRACKING', 'OFF');
      await main.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', redirect, 'BCAST', 'PREFIX', KEY_PREFIX, 'NOLOOP');
      if (warned) logger.info({ redirect }, 'invalidation messages from Redis on again');
      else logger.debug({ redirect }, 'invalidation messages on');
      warned = false;
    } catch (error) {
      // The subscriber reconnected meanwhile (a Redis restart: its old ID is gone): its
      // 'ready' tracks again with the new one. Only a refusal of the current ID is real.
      if (redirect !== subscriberId || REDIRECT_GONE.test(String((error as Error).message))) {
        logger.debug({ err: error, redirect }, 'invalidation redirect not ready yet: tracking again once the subscriber is back');
        return;
      }
      off(error);
    }
  };
  const onSubscriberReady = async () => {
    try {
      subscriberId = String(await subscriber.client('ID'));
      await subscriber.subscribe(CHANNEL);
    } catch (error) {
      subscriberId = null;
      off(error);
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
  // Its ID dies with its connection: the main connection must not redirect to it meanwhile.
  subscriber.on('close', () => {
    subscriberId = null;
  });
  main.on('ready', onMainReady);
  subscriber.connect().catch(() => undefined);
  return {
    close() {
      main.off('ready', onMainReady);
      subscriber.disconnect();
    },
  };
}
