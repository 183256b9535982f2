// A minimal Node WebSocket client speaking our protocol, for integration tests
// and benches: request/response correlation, recorded notifications and close.

import { WebSocket } from 'ws';
import { PROTOCOL_NAME } from '../../src/common/protocol/messages.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';

/** A response frame as received. */
export interface Reply {
  type: 'response';
  id: number | null;
  ok: boolean;
  data?: unknown;
  error?: { code: string; message: string };
}

/** Test client over one socket. */
export class TestClient {
  readonly socket: WebSocket;
  readonly replies: Reply[] = [];
  readonly notifications: Array<{ method: string; data: unknown }> = [];
  closeCode: number | undefined;
  closeReason = '';
  #nextId = 1;
  readonly #waiting = new Map<number, (reply: Reply) => void>();

  static async open(url: string, protocols: string[] = [PROTOCOL_NAME]): Promise<TestClient> {
    const client = new TestClient(new WebSocket(url, protocols));
    await new Promise<void>((resolve, reject) => {
      client.socket.once('open', () => resolve());
      client.socket.once('error', reject);
    });
    return client;
  }

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (raw) => {
      const frame = JSON.parse(String(raw)) as Reply | { type: 'notification'; method: string; data: unknown };
      if (frame.type === 'response') {
        this.replies.push(frame);
        if (frame.id !== null) {
          this.#waiting.get(frame.id)?.(frame);
          this.#waiting.delete(frame.id);
        }
      } else {
        this.notifications.push({ method: frame.method, data: frame.data });
      }
    });
    socket.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
    socket.on('error', () => undefined);
  }

  /** Sends a request and waits (bounded) for its reply. */
  request(method: string, data: unknown = {}, timeoutMs = 5000): Promise<Reply> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`no reply to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.socket.send(JSON.stringify({ type: 'request', id, method, data }));
    });
  }

  /** Sends raw text or bytes. */
  sendRaw(data: string | Buffer): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(data);
  }

  /** Waits until the server closed the socket; returns the code. */
  async closed(timeoutMs = 5000): Promise<number> {
    return waitFor(() => this.closeCode, { timeoutMs, description: 'socket close' });
  }

  close(): void {
    this.socket.close();
  }
}
