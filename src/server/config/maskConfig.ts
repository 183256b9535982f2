// Copy of the config safe to log: values of secret-looking keys are masked.

import type { Config } from './types.ts';
import { redact } from '../../common/lib/logger.ts';

/** Returns a plain copy of `config` with secrets masked. */
export function maskConfig(config: Config): unknown {
  return redact(structuredClone(config));
}
