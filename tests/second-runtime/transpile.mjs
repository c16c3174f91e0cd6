#!/usr/bin/env node
// Transpiles a WebAssembly component to JavaScript with jco (the Bytecode Alliance's
// transpiler, as its library @bytecodealliance/jco-transpile), for run.mjs to load.
//
//   node transpile.mjs COMPONENT.wasm OUT_DIR
import { transpile, writeFiles } from "@bytecodealliance/jco-transpile";

const [wasm, outDir] = process.argv.slice(2);
if (!wasm || !outDir) {
  console.error("usage: node transpile.mjs COMPONENT.wasm OUT_DIR");
  process.exit(2);
}
const { files } = await transpile(wasm, {
  outDir,
  // The imports (auth, endpoints, WASI) are handed in by run.mjs at instantiation.
  instantiation: "async",
  emitTypescriptDeclarations: false,
});
await writeFiles(files);
console.error(`transpiled ${wasm} into ${outDir}: ${Object.keys(files).length} files`);
