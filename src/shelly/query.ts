/**
 * Query strings for `GET /rpc/<Method>?k=v`. The device URL-decodes each value
 * and parses it as JSON, falling back to a plain string. Some firmware answers
 * HTTP 500 when the JSON holds spaces, so values are compact JSON and spaces
 * inside strings travel as the JSON escape `\u0020`: the query never holds a
 * space or `%20`, and the device still reads back exactly what was meant.
 */

const escapeSpaces = (json: string): string => json.replace(/ /g, "\\u0020")

const parsesAsJson = (text: string): boolean => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/**
 * The text of one value before URL encoding. Strings go plain unless the
 * device would read them as something else (`"true"`, `"42"`, `"null"`,
 * `"{…}"`) or they hold a space; then they go as a JSON string.
 */
export const encodeValueText = (value: unknown): string => {
  if (typeof value === "string") {
    return value.includes(" ") || parsesAsJson(value) ? escapeSpaces(JSON.stringify(value)) : value
  }
  // JSON.stringify emits no whitespace outside strings without an indent argument.
  return escapeSpaces(JSON.stringify(value) ?? "null")
}

/** Like encodeURIComponent, plus `'`, which WHATWG URL parsing would otherwise rewrite (breaking the digest uri). */
const encodeComponent = (text: string): string => encodeURIComponent(text).replace(/'/g, "%27")

/** `k=v&k2=v2`, keys in insertion order; undefined values are left out. */
export const encodeQuery = (params: Readonly<Record<string, unknown>> | undefined): string =>
  params === undefined
    ? ""
    : Object.entries(params)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => `${encodeComponent(key)}=${encodeComponent(encodeValueText(value))}`)
        .join("&")

/** `/rpc/<Method>` plus the query when there are params: the request target, also the digest `uri`. */
export const rpcGetPath = (method: string, params: Readonly<Record<string, unknown>> | undefined): string => {
  const query = encodeQuery(params)
  return `/rpc/${encodeComponent(method)}${query === "" ? "" : `?${query}`}`
}

const URL_STABLE_CHARACTERS = /^\/[A-Za-z0-9\-._~!*()%/?&=+,;:@$]*$/
const DOT_SEGMENT = /\/(\.|%2e)/i

/**
 * True when a URL parser would keep `path` (path and query) byte for byte:
 * only characters it leaves alone, no `.`/`..` segment it would resolve, no
 * empty query it would drop.
 * Conservative: false sends the path through `new URL` instead.
 */
export const isUrlNormalPath = (path: string): boolean => URL_STABLE_CHARACTERS.test(path) && !DOT_SEGMENT.test(path) && !path.endsWith("?")

/** How a device reads one value: JSON first, else the plain string. */
export const decodeValueText = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** How a device reads a whole query (the inverse of `encodeQuery`). */
export const decodeQuery = (query: string): Record<string, unknown> => {
  const params: Record<string, unknown> = {}
  if (query === "") return params
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=")
    const key = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq))
    params[key] = decodeValueText(eq === -1 ? "" : decodeURIComponent(pair.slice(eq + 1)))
  }
  return params
}
