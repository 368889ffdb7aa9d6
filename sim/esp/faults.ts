import type { EspFault } from "./types.js"

const count = (text: string | undefined, spec: string): number => {
  const value = Number(text)
  if (text === undefined || text === "" || !Number.isInteger(value) || value < 0) {
    throw new Error(`ESP emulator fault "${spec}": expected a non-negative integer after the colon`)
  }
  return value
}

/**
 * String form used by CLI flags, YAML and the demo: `no_sync`, `corrupt_block:3`,
 * `slow_erase:2000`, `selftest_fail:wifi`, `vanish_after_bytes:20000`, `drop_frame:2`.
 * Emulator configuration is test/demo input, so a bad spec throws with the fix in the message.
 */
export const parseEspFault = (spec: string): EspFault => {
  const [name, arg] = spec.split(":", 2)
  switch (name) {
    case "no_sync":
      return { kind: "no_sync" }
    case "corrupt_block":
      return { kind: "corrupt_block", block: count(arg, spec) }
    case "slow_erase":
      return { kind: "slow_erase", msPerMiB: count(arg, spec) }
    case "selftest_fail":
      if (!arg) throw new Error(`ESP emulator fault "${spec}": name the self-test command, e.g. selftest_fail:wifi`)
      return { kind: "selftest_fail", command: arg }
    case "vanish_after_bytes":
      return { kind: "vanish_after_bytes", bytes: count(arg, spec) }
    case "drop_frame":
      return { kind: "drop_frame", block: count(arg, spec) }
    case "corrupt_md5":
      return { kind: "corrupt_md5" }
    default:
      throw new Error(
        `ESP emulator fault "${spec}" is unknown; use no_sync, corrupt_block:<n>, slow_erase:<ms/MiB>, ` +
          `selftest_fail:<command>, vanish_after_bytes:<n>, drop_frame:<n> or corrupt_md5`
      )
  }
}

export const normaliseFaults = (faults: ReadonlyArray<EspFault | string> | undefined): Array<EspFault> =>
  (faults ?? []).map((fault) => (typeof fault === "string" ? parseEspFault(fault) : fault))
