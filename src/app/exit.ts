import { Data } from "effect"

/**
 * Exit codes (README "Exit codes"):
 *   0  every device/board ok (or nothing to do)
 *   1  the run finished but at least one device/board hard-failed
 *   2  bad invocation or configuration (nothing was touched)
 *   3  another run holds the provisioning lock
 *   4  a file that matters could not be read or written (inventory, records)
 *   70 internal error (a defect: please report it with the output)
 *   130 interrupted (Ctrl+C) after a clean shutdown
 */
export const ExitCodes = {
  ok: 0,
  devicesFailed: 1,
  invalidInput: 2,
  lockHeld: 3,
  fileError: 4,
  internal: 70,
  interrupted: 130
} as const

/** A command ends with this to set the process exit code without printing more. */
export class ExitWith extends Data.TaggedError("ExitWith")<{ readonly exitCode: number }> {}
