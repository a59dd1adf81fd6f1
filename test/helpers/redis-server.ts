/**
 * A redis-server of a test's own: each test file starts its own (on a free port, keeping
 * nothing on disk), so files never see each other's keys, and a test may kill, restart,
 * pause or resume it. The one place tests start redis-server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort } from './services.js';

export interface RedisServerOptions {
  /** A port to listen on (default: a free one). */
  readonly port?: number;
  /** The server's arguments for a port (default: plain TCP on 127.0.0.1, nothing saved). */
  readonly args?: (port: number) => string[];
  /** Options of the clients that talk to it (TLS, a password). */
  readonly clientOptions?: RedisOptions;
  /** The scheme of its URLs. */
  readonly scheme?: 'redis' | 'rediss';
  /** userinfo of its URLs, e.g. `:password@`. */
  readonly auth?: string;
}

const plainArgs = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];

/** A connected client that `close()` disconnects. */
export type TestRedisClient = Redis & { close(): Promise<void> };

/** Every server this test file started and has not seen exit. */
const running = new Set<ChildProcess>();

/**
 * Kills every server still running: test/helpers/per-file.ts calls it after each file, so a
 * file that forgets stop() leaves no server behind (the worker is killed, not exited, so a
 * process 'exit' hook would never run).
 */
export async function stopEveryRedisServer(): Promise<void> {
  await Promise.all(
    [...running].map(
      (server) =>
        new Promise<void>((resolve) => {
          if (server.exitCode !== null || server.signalCode !== null) return resolve();
          server.once('exit', () => resolve());
          server.kill('SIGCONT');
          server.kill('SIGKILL');
        }),
    ),
  );
}

export class RedisServer {
  private process: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  /** Starts a server and resolves once it answers; retries on another port when a free one was taken meanwhile. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(options.port ?? (await freePort()), options);
      try {
        await server.launch();
        return server;
      } catch (error) {
        await server.kill();
        if (options.port !== undefined || attempt >= 5) throw error;
      }
    }
  }

  url(db = 0, host = '127.0.0.1'): string {
    return `${this.options.scheme ?? 'redis'}://${this.options.auth ?? ''}${host}:${this.port}/${db}`;
  }

  /** A client on logical database `db`, connected. */
  async client(db = 0): Promise<TestRedisClient> {
    const client = new Redis({ host: '127.0.0.1', port: this.port, db, lazyConnect: true, retryStrategy: () => null, ...this.options.clientOptions });
    client.on('error', () => undefined);
    await client.connect();
    return Object.assign(client, { close: () => client.quit().then(() => undefined, () => client.disconnect()) });
  }

  /** Kills the server (SIGKILL) and starts it again, empty, on the same port. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** Starts it again after `kill()`, on the same port. */
  launch(): Promise<void> {
    const server = spawn('redis-server', (this.options.args ?? plainArgs)(this.port), { stdio: 'ignore' });
    running.add(server);
    server.once('exit', () => running.delete(server));
    this.process = server;
    return this.waitUntilReady();
  }

  /** SIGSTOP: the server holds its connections but answers nothing until `resume()`. */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  resume(): void {
    this.process?.kill('SIGCONT');
  }

  kill(): Promise<void> {
    const server = this.process;
    return new Promise((resolve) => {
      if (!server || server.exitCode !== null || server.signalCode !== null) return resolve();
      server.once('exit', () => resolve());
      server.kill('SIGCONT');
      server.kill('SIGKILL');
    });
  }

  /** Same as kill(): a test's `afterAll`. */
  stop(): Promise<void> {
    return this.kill();
  }

  private async waitUntilReady(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.process?.exitCode !== null && this.process?.exitCode !== undefined) throw new Error(`redis-server on ${this.port} exited`);
      try {
        const client = await this.client();
        await client.ping();
        client.disconnect();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
}
