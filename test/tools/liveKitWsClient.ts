// A LiveKit signalling client for tests, speaking the protobuf protocol over `ws` the way
// livekit-client does on /rtc (no media): it connects with `access_token`, collects every
// SignalResponse (or, for long-lived clients such as the load generator's, hands each to a
// listener without keeping it), and sends SignalRequests.

import WebSocket from 'ws';
import { SignalRequest, SignalResponse } from '@livekit/protocol';

/** The value of a SignalResponse case. */
type ResponseOf<K> = Extract<SignalResponse['message'], { case: K }> extends { value: infer V } ? V : never;

/** Outcome of an upgrade attempt. */
export type UpgradeResult = { ok: true; client: LiveKitWsClient } | { ok: false; status: number; body: string };

/** One connection to /rtc. */
export class LiveKitWsClient {
  readonly messages: SignalResponse[] = [];
  /** Called with every SignalResponse as it arrives. */
  onMessage: ((message: SignalResponse) => void) | undefined;
  /** Keep every SignalResponse in `messages` for next() (default); long-lived clients turn it off. */
  keepMessages = true;
  readonly #ws: WebSocket;
  #closeCode: number | undefined;
  readonly #closed: Promise<number>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data: Buffer) => {
      const message = SignalResponse.fromBinary(new Uint8Array(data));
      if (this.keepMessages) this.messages.push(message);
      this.onMessage?.(message);
    });
    this.#closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.#closeCode = code;
        resolve(code);
      }),
    );
  }

  /** Opens `{base}/rtc?access_token=…` (base: ws(s) URL); an HTTP refusal resolves with its status and body. */
  static connect(base: string, token: string, query: Record<string, string> = {}): Promise<UpgradeResult> {
    const url = new URL(`${base.replace(/^http/, 'ws').replace(/\/$/, '')}/rtc`);
    url.searchParams.set('access_token', token);
    for (const [key, value] of Object.entries({ auto_subscribe: '1', sdk: 'js', protocol: '17', ...query })) url.searchParams.set(key, value);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve({ ok: true, client: new LiveKitWsClient(ws) }));
      ws.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ ok: false, status: response.statusCode ?? 0, body }));
      });
      ws.once('error', (error) => reject(error));
    });
  }

  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  /** The first message of `kind` (waits up to `timeoutMs`). */
  async next<K extends NonNullable<SignalResponse['message']['case']>>(kind: K, timeoutMs = 10_000): Promise<ResponseOf<K>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => m.message.case === kind);
      if (found) return found.message.value as unknown as ResponseOf<K>;
      if (Date.now() > deadline) throw new Error(`no ${kind} within ${timeoutMs} ms (got ${this.messages.map((m) => m.message.case).join(', ')})`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  send(message: SignalRequest['message']): void {
    this.#ws.send(new SignalRequest({ message }).toBinary());
  }

  /** Sends raw bytes (hostile-input tests). */
  sendRaw(data: Buffer | string): void {
    this.#ws.send(data);
  }

  /** Resolves with the close code (or rejects after `timeoutMs`). */
  closed(timeoutMs = 10_000): Promise<number> {
    return Promise.race([
      this.#closed,
      new Promise<number>((_resolve, reject) => setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  }

  close(): void {
    this.#ws.close();
  }
}
