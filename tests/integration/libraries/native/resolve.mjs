// For the native run (ctest integration_libraries_native): node
// --import=<this file>. NODE_PATH lets require() find the add-ons built in
// this directory; ES import() ignores NODE_PATH, and @discordjs/ws loads
// zlib-sync with import(). This hook gives import() the same fallback: a
// bare specifier that the default resolution cannot find is looked up in
// this directory's node_modules.
import { register, createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const here = createRequire(import.meta.url);

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    const bare = !/^(\.|\/|[a-z]+:)/i.test(specifier);
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !bare) throw e;
    let path;
    try {
      path = here.resolve(specifier);
    } catch {
      throw e;
    }
    return { url: pathToFileURL(path).href, shortCircuit: true };
  }
}

// Loaded with --import on the main thread: register this file's hooks (the
// loader thread then loads it again, for `resolve`).
if (isMainThread) register(import.meta.url);
