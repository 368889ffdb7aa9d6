/**
 * Tells the code-cache loader (bin/codeCache.mjs) that this run took a code
 * path whose functions its cache may lack, so that the cache is rewritten once
 * with them (e.g. "postgres": the first run on a shared database after runs on
 * files). A no-op when the CLI runs from source or without the loader.
 */
const PATHS_KEY = Symbol.for("provision.codePaths")

export const noteCodePath = (name: string): void => {
  const taken = (globalThis as Record<symbol, unknown>)[PATHS_KEY]
  if (taken instanceof Set) taken.add(name)
}
