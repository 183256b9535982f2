// Ambient declarations the widget's DOM typecheck needs.
// - Stylesheet imports: esbuild bundles them into a separate .css file.
// - `process`: src/common/lib/logger.ts (reached through src/common/e2ee/keys) names process.stdout in its
//   default sink, a Node-only branch the browser never takes (the widget always passes a logger).
declare module '*.css';
declare const process: { readonly stdout: { write(text: string): boolean } };
