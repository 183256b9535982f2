// Module hook for the load target (`--mediasoup DIR`): resolves `mediasoup` and its
// subpaths from another installed copy of the package (e.g. an older version kept in a
// scratch folder), so the same SFU code runs against that version's worker. The folder is
// LOADTEST_MEDIASOUP_DIR, the package directory itself (…/node_modules/mediasoup).

import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const dir = process.env['LOADTEST_MEDIASOUP_DIR'];
if (dir) {
  // Resolve as if imported from a file next to that node_modules folder.
  const parentURL = pathToFileURL(join(dir, '..', '..', 'loadtest-resolver.js')).href;
  register(
    `data:text/javascript,${encodeURIComponent(`
      export async function resolve(specifier, context, next) {
        if (specifier === 'mediasoup' || specifier.startsWith('mediasoup/')) return next(specifier, { ...context, parentURL: ${JSON.stringify(parentURL)} });
        return next(specifier, context);
      }`)}`,
  );
}
