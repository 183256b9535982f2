// What the integration global setup hands to test files through vitest's provide/inject:
// the one Synapse of the run. Importing this file also types `inject('synapse')`.

/** The run's homeserver, as tests see it (`inject('synapse')`). */
export interface ProvidedSynapse {
  /** Client and federation API base, `http://127.0.0.1:{port}`. */
  readonly baseUrl: string;
  /** `synapse.test`: reach it through `baseUrl`, never by resolving this name. */
  readonly serverName: string;
  /** `registration_shared_secret`, for registerUser(). */
  readonly sharedSecret: string;
  /** Synapse's log, for dumping its tail when a test fails. */
  readonly logPath: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    synapse: ProvidedSynapse;
  }
}
