// Used JWT ids (`jti`), kept until the token they belong to expires, so a token opens at
// most one session, across restarts too: the set lives in memory and in one file in the
// data directory (`server.dataDir/used-jti.json`), rewritten atomically (temporary file,
// fsync, rename) after every change, with concurrent changes coalesced into one write.
// Bounded: expired ids are pruned on every write and at most `maxEntries` are kept; when
// that many live tokens were used, new sessions are refused until some expire.
// If the file cannot be read at start (corrupt, truncated), every token issued before
// this start is treated as used: clients fetch a new one from /sfu/get.

import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../../common/lib/logger.ts';

/** File name inside the data directory. */
export const JTI_FILE_NAME = 'used-jti.json';

/** Largest file we read (bytes); a bigger one counts as unreadable. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** Why mark() refused. */
export type JtiMarkResult = 'marked' | 'replayed' | 'full';

/**
 * What admission needs of a used-jti store: this file-backed JtiStore on one node, or the
 * cluster's Redis-backed one (src/server/cluster/ClusterJtis.ts), where mark() is the
 * single-use decision for every node.
 */
export interface UsedJtis {
  /** Whether `jti` is known to be used (a fast local answer; mark() decides). */
  has(jti: string, issuedAtMs: number): boolean;
  /** Marks `jti` used until `expiresAtMs`; 'replayed' if any node used it already. Rejects when the store cannot answer. */
  mark(jti: string, issuedAtMs: number, expiresAtMs: number): Promise<JtiMarkResult>;
}

/** Options of JtiStore.open(). */
export interface JtiStoreOptions {
  /** Directory of the file (config server.dataDir). */
  readonly dataDir: string;
  readonly logger: Logger;
  /** Most ids kept. Default 100 000 (a 5 min token lifetime means 333 new sessions a second). */
  readonly maxEntries?: number;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

/** The set of used jtis, persisted. */
export class JtiStore {
  readonly #file: string;
  readonly #entries: Map<string, number>;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #maxEntries: number;
  /** Tokens issued before this instant (ms) count as used: the file could not be read. */
  readonly #usedBeforeMs: number;
  #writing: Promise<void> | undefined;
  #dirty = false;

  /** Loads the file (or starts empty when there is none). */
  static async open(options: JtiStoreOptions): Promise<JtiStore> {
    const file = join(options.dataDir, JTI_FILE_NAME);
    const now = options.now ?? (() => Date.now());
    const entries = new Map<string, number>();
    let usedBeforeMs = 0;
    try {
      const text = await readFile(file, 'utf8');
      if (text.length > MAX_FILE_BYTES) throw new Error(`${file} is larger than ${MAX_FILE_BYTES} bytes`);
      for (const [jti, expiresAtMs] of parseFile(text)) if (expiresAtMs > now()) entries.set(jti, expiresAtMs);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        usedBeforeMs = now();
        options.logger.child({ component: 'auth' }).warn('used-jti file unreadable: tokens issued before this start are refused', { file, error });
      }
    }
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    return new JtiStore(file, entries, usedBeforeMs, options);
  }

  private constructor(file: string, entries: Map<string, number>, usedBeforeMs: number, options: JtiStoreOptions) {
    this.#file = file;
    this.#entries = entries;
    this.#usedBeforeMs = usedBeforeMs;
    this.#log = options.logger.child({ component: 'auth' });
    this.#now = options.now ?? (() => Date.now());
    this.#maxEntries = options.maxEntries ?? 100_000;
  }

  /** Ids currently kept. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether `jti` (of a token issued at `issuedAtMs`) was used already. */
  has(jti: string, issuedAtMs: number): boolean {
    return issuedAtMs < this.#usedBeforeMs || this.#entries.has(jti);
  }

  /**
   * Marks `jti` used until `expiresAtMs` and resolves once that is on disk, so an admitted
   * token stays refused after a crash. Rejects if the write fails (admission must then refuse).
   */
  async mark(jti: string, issuedAtMs: number, expiresAtMs: number): Promise<JtiMarkResult> {
    if (this.has(jti, issuedAtMs)) return 'replayed';
    this.#prune();
    if (this.#entries.size >= this.#maxEntries) return 'full';
    this.#entries.set(jti, expiresAtMs);
    try {
      await this.#flush();
    } catch (error) {
      this.#entries.delete(jti);
      throw error;
    }
    return 'marked';
  }

  /** Waits for pending writes (shutdown, tests). */
  async flushed(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  #prune(): void {
    const now = this.#now();
    for (const [jti, expiresAtMs] of this.#entries) if (expiresAtMs <= now) this.#entries.delete(jti);
  }

  /** One write in flight; marks made meanwhile ride on the next one. */
  async #flush(): Promise<void> {
    this.#dirty = true;
    while (this.#dirty) {
      if (this.#writing) {
        await this.#writing.catch(() => undefined);
        continue;
      }
      this.#dirty = false;
      this.#writing = this.#write().finally(() => {
        this.#writing = undefined;
      });
      await this.#writing;
      return;
    }
  }

  async #write(): Promise<void> {
    this.#prune();
    const body = JSON.stringify({ version: 1, used: [...this.#entries] });
    const temporary = `${this.#file}.${process.pid}.tmp`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(body, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.#file);
    this.#log.debug('used-jti file written', { entries: this.#entries.size });
  }
}

/** Parses `{version: 1, used: [[jti, expiresAtMs], …]}`. @throws on anything else. */
function parseFile(text: string): Array<[string, number]> {
  const parsed = JSON.parse(text) as unknown;
  if (typeof parsed !== 'object' || parsed === null || (parsed as Record<string, unknown>)['version'] !== 1) {
    throw new Error('not a version 1 used-jti file');
  }
  const used = (parsed as Record<string, unknown>)['used'];
  if (!Array.isArray(used)) throw new Error('used must be a list');
  return used.map((entry: unknown) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') throw new Error('bad used-jti entry');
    return [entry[0], entry[1]];
  });
}
