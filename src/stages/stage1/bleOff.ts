/**
 * What "disable BLE" sends, from the device's own BLE config: the two firmware
 * lines have different shapes.
 * - Up to 1.x: `{enable, rpc: {enable}, …}`; `enable: false` turns Bluetooth
 *   off (docs gen2 ComponentsAndServices/BLE, Configuration; the config a 1.7.5
 *   device returns, ioBroker.shelly#1533: `{"enable":false,"rpc":{"enable":false}}`).
 * - 2.0.0 and later: no `enable` at all. Shelly's gen2 changelog, 2.0.0
 *   (2026-07-13), Removed: "BLE: Remove global enable flag from config
 *   (auto-activate/deactivate scanning) BREAKING CHANGE"; the BLE docs: scanning
 *   starts and stops by itself when a script, the BLU gateway or BTHome needs it,
 *   and only `rpc.enable` is left, for RPC over Bluetooth (also aioshelly#1124,
 *   shelly-script-examples#216). So the most that can be turned off there is
 *   the Bluetooth RPC channel (what someone in radio range could configure the
 *   device through); sending `enable` to such a device is refused as an unknown key.
 * Only keys the device has are sent; nothing when they are already off.
 */
import type { BleConfigPatch } from "../../shelly/methods.js"
import type { BleConfig } from "../../shelly/schemas.js"

export const bleOffPatch = (config: BleConfig): BleConfigPatch | undefined => {
  if (config.enable !== undefined) return config.enable ? { enable: false } : undefined
  if (config.rpc !== undefined) return config.rpc.enable ? { rpc: { enable: false } } : undefined
  return undefined
}
