/**
 * A TCP proxy between the CLI and the real PostgreSQL that can be told to go silent: it
 * stops forwarding in both directions (holding the bytes, as a path that stops delivering
 * does) until `resume()`, on every connection, new ones included. The silence can start
 * now, or at the moment the client sends bytes matching a pattern (a statement's text),
 * so a test can make PostgreSQL silent in one chosen statement.
 */
import net from 'node:net';
import { freePort } from './services.js';

interface Link {
  readonly client: net.Socket;
  readonly server: net.Socket;
  /** Bytes held while silent, per direction, in order. */
  readonly toServer: Buffer[];
  readonly toClient: Buffer[];
}

export class PgProxy {
  private readonly links = new Set<Link>();
  private silent = false;
  private trigger: { readonly pattern: RegExp; readonly resolve: () => void } | null = null;
  /** Connections accepted, in all. */
  connections = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly upstream: { readonly host: string; readonly port: number },
  ) {}

  /** A proxy on a free port of 127.0.0.1 in front of `upstreamUrl`'s host and port. */
  static async start(upstreamUrl: string): Promise<PgProxy> {
    const target = new URL(upstreamUrl);
    const upstream = { host: target.hostname || '127.0.0.1', port: Number(target.port || 5432) };
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const holder: { proxy?: PgProxy } = {};
      const server = net.createServer((socket) => holder.proxy!.accept(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', () => resolve());
        });
      } catch (error) {
        if (attempt >= 5) throw error;
        continue;
      }
      holder.proxy = new PgProxy(server, port, upstream);
      return holder.proxy;
    }
  }

  /** `url` (a database URL of the upstream server) through this proxy. */
  url(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  /** Stops forwarding now, both directions, every connection. */
  silence(): void {
    this.silent = true;
  }

  /**
   * Goes silent when the client next sends bytes matching `pattern` (those bytes are held
   * too: the server never sees the statement). Resolves at that moment.
   */
  silenceWhen(pattern: RegExp): Promise<void> {
    return new Promise((resolve) => {
      this.trigger = { pattern, resolve };
    });
  }

  /** Delivers what was held and forwards again. */
  resume(): void {
    this.silent = false;
    this.trigger = null;
    for (const link of this.links) {
      for (const chunk of link.toServer.splice(0)) link.server.write(chunk);
      for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
    }
  }

  async close(): Promise<void> {
    for (const link of this.links) {
      link.client.destroy();
      link.server.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.connections += 1;
    const server = net.connect(this.upstream.port, this.upstream.host);
    const link: Link = { client, server, toServer: [], toClient: [] };
    this.links.add(link);
    const end = () => {
      this.links.delete(link);
      client.destroy();
      server.destroy();
    };
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
    client.on('data', (chunk: Buffer) => {
      if (this.trigger && this.trigger.pattern.test(chunk.toString('latin1'))) {
        this.silent = true;
        this.trigger.resolve();
        this.trigger = null;
      }
      if (this.silent) link.toServer.push(chunk);
      else server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (this.silent) link.toClient.push(chunk);
      else client.write(chunk);
    });
  }
}
