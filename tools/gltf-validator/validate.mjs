// Validate one glTF asset with the Khronos glTF validator and print its report as JSON on stdout.
//
//   node validate.mjs FILE.glb        (or FILE.gltf; its external buffers and images are read beside it)
//
// Exit status: 0 when a report was produced (whatever issues it lists: read report.issues.numErrors),
// 1 when the file cannot be read or the validator cannot process it, 2 on a usage error.
// Install the validator first: npm ci --prefix tools/gltf-validator

import { readFile } from "node:fs/promises";
import path from "node:path";
import process from "node:process";

import validator from "gltf-validator";

const args = process.argv.slice(2);
if (args.length !== 1) {
  console.error("usage: node validate.mjs FILE.glb");
  process.exit(2);
}
const file = args[0];

let bytes;
try {
  bytes = new Uint8Array(await readFile(file));
} catch (error) {
  console.error(`cannot read ${file}: ${error.message}`);
  process.exit(1);
}

try {
  const report = await validator.validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 0, // 0: report every issue
    externalResourceFunction: (uri) => readFile(path.resolve(path.dirname(file), decodeURIComponent(uri))),
  });
  console.log(JSON.stringify(report, null, 2));
} catch (error) {
  // the validator rejects when it cannot even tell glTF from GLB, or when its arguments are invalid
  console.error(`glTF validator failed on ${file}: ${error}`);
  process.exit(1);
}
