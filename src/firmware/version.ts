/**
 * Shelly firmware versions as `Shelly.GetDeviceInfo` reports them (`ver`):
 * `1.4.4`, `1.7.0-beta2`, `2.0.0-rc1` (shared/reference/shelly-rpc.md §4;
 * the beta form in the published Shelly cloud answers, e.g. "1.0.7-beta2").
 * A pre-release sorts before its release, as in SemVer §11.
 */
const pattern = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/

export interface FirmwareVersion {
  readonly core: readonly [number, number, number]
  readonly pre: string | undefined
}

export const parseVersion = (text: string): FirmwareVersion | undefined => {
  const m = pattern.exec(text.trim())
  if (m === null) return undefined
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] }
}

/** Pre-release identifiers compare numerically when both are numbers (SemVer §11.4). */
const comparePre = (a: string, b: string): number => {
  const as = a.split("."),
    bs = b.split(".")
  for (let i = 0; i < Math.max(as.length, bs.length); i++) {
    const x = as[i],
      y = bs[i]
    if (x === undefined) return -1
    if (y === undefined) return 1
    const nx = /^\d+$/.test(x) ? Number(x) : undefined,
      ny = /^\d+$/.test(y) ? Number(y) : undefined
    if (nx !== undefined && ny !== undefined) {
      if (nx !== ny) return nx < ny ? -1 : 1
    } else if (x !== y) {
      // `beta10` after `beta9`: compare the trailing numbers of equal stems.
      const sx = /^(.*?)(\d+)$/.exec(x),
        sy = /^(.*?)(\d+)$/.exec(y)
      if (sx && sy && sx[1] === sy[1]) return Number(sx[2]) < Number(sy[2]) ? -1 : 1
      return x < y ? -1 : 1
    }
  }
  return 0
}

/**
 * -1, 0 or 1; undefined when either side is not a version we understand
 * (then the caller must not guess whether it is a downgrade).
 */
export const compareVersions = (a: string, b: string): -1 | 0 | 1 | undefined => {
  const x = parseVersion(a),
    y = parseVersion(b)
  if (x === undefined || y === undefined) return undefined
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i]! < y.core[i]! ? -1 : 1
  if (x.pre === y.pre) return 0
  if (x.pre === undefined) return 1
  if (y.pre === undefined) return -1
  const c = comparePre(x.pre, y.pre)
  return c === 0 ? 0 : c < 0 ? -1 : 1
}
