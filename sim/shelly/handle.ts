/** The control surface of a running fleet (fleet.ts builds it; control.ts serves it over HTTP). */
import type { Either } from "effect"
import type { WifiNetwork, PendingUpdate } from "./device.js"
import type { InventoryFormat } from "./inventory.js"
import type { MdnsResponder } from "./mdns.js"
import type { ApConnection, ApInfo, DeviceState, DeviceView } from "./view.js"

export interface FleetHandle {
  readonly port: number
  readonly apIp: string
  readonly controlUrl: string | undefined
  readonly network: { readonly ssid: string }
  readonly devices: ReadonlyArray<DeviceView>
  readonly device: (key: string | number) => DeviceView | undefined
  readonly state: (key: string | number) => DeviceState | undefined
  readonly setFaults: (key: string | number, items: ReadonlyArray<string>) => Promise<Either.Either<DeviceView, string>>
  readonly addFaults: (key: string | number, items: ReadonlyArray<string>) => Promise<Either.Either<DeviceView, string>>
  readonly clearFaults: (key: string | number) => Promise<Either.Either<DeviceView, string>>
  readonly setPendingUpdate: (key: string | number, pending: PendingUpdate | null) => Promise<Either.Either<DeviceView, string>>
  readonly setPassword: (key: string | number, password: string | null) => Promise<Either.Either<DeviceView, string>>
  readonly powerCycle: (key: string | number) => Promise<Either.Either<DeviceView, string>>
  readonly scan: () => ReadonlyArray<ApInfo>
  readonly connectAp: (ssid: string, password?: string) => Promise<Either.Either<ApConnection, string>>
  readonly disconnectAp: () => Promise<void>
  readonly apLink: () => { readonly ssid: string; readonly mac: string } | null
  readonly setNetwork: (network: WifiNetwork) => void
  readonly writeInventory: (path: string, format?: InventoryFormat, options?: { readonly all?: boolean }) => Promise<void>
  readonly stop: () => Promise<void>
  /** The mDNS responder, when started with the `mdns` option. */
  readonly mdns?: Pick<MdnsResponder, "group" | "port" | "answered" | "announced"> | undefined
}
