/**
 * One `schedule` replica leads at a time: a lease in Redis (`SET NX PX` of a token random
 * to the process), renewed by compare-and-PEXPIRE while the leader lives, lapsing a few
 * seconds after it dies, deleted by its owner on a clean stop. The family locks still
 * guard each run (against CronJobs, or a leader that lost its lease in the middle of one).
 */
import { randomUUID } from 'node:crypto';
import { RELEASE_SCRIPT } from './lock.js';

export const LEADER_KEY = 'stats_refresh:schedule:leader';

/**
 * Extends the lease if it holds our token, takes it if nobody holds it. The token is the
 * process's for its whole life, so a claim whose reply was lost (a timeout) but which set
 * the key is recognised as ours by the next claim, never left as a stranger's lease.
 */
const CLAIM_SCRIPT = `local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if holder then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** The subset of a Redis client the lease needs. */
export interface LeaseClient {
  eval(script: string, keys: number, ...args: Array<string | number>): Promise<unknown>;
}

export class LeaderLease {
  private readonly token = randomUUID();
  /** Until when (clock ms) the lease is surely ours: the last successful claim's send time plus the TTL. */
  private heldUntil = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly client: LeaseClient,
    private readonly ttlMs: number,
    private readonly clock: () => number,
  ) {}

  /** Takes or renews the lease; true when it is ours. Throws when Redis does not answer (the lease stays ours until it lapses). */
  async claim(): Promise<boolean> {
    // Counted from the send: Redis starts the TTL later, so ours ends first.
    const sentAt = this.clock();
    const ours = (await this.client.eval(CLAIM_SCRIPT, 1, LEADER_KEY, this.token, this.ttlMs)) === 1;
    this.heldUntil = ours ? sentAt + this.ttlMs : Number.NEGATIVE_INFINITY;
    return ours;
  }

  /** Whether the lease is surely ours at `now`. */
  held(now: number = this.clock()): boolean {
    return now < this.heldUntil;
  }

  /** Deletes the lease if it is still ours, so a follower takes over at its next try. */
  async release(): Promise<void> {
    this.heldUntil = Number.NEGATIVE_INFINITY;
    await this.client.eval(RELEASE_SCRIPT, 1, LEADER_KEY, this.token);
  }
}
