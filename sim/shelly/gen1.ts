/**
 * `GET /shelly` of a first-generation device (Shelly API docs gen1 "/shelly":
 * `type`, `mac`, `auth`, `fw`, `discoverable`, `longid`, `num_outputs`; no `gen`).
 * The simulator plays Gen1 only so far that clients can tell it apart and refuse it.
 */
import type { JsonObject, SimDevice } from "./device.js"

export const gen1Shelly = (d: SimDevice): JsonObject => ({
  type: d.model.model,
  mac: d.reportedMac,
  auth: d.authEnabled,
  fw: d.fwId,
  discoverable: false,
  longid: 1,
  num_outputs: 1
})
