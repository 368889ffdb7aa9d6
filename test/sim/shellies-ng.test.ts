/**
 * A client nobody here wrote against the simulator: `shellies-ng` (npm,
 * alexryd/node-shellies-ng) speaks JSON-RPC over the `/rpc` WebSocket the way
 * it does to real Gen2+ devices. It is connected by address: its WebSocket URL
 * is `ws://${hostname}/rpc` (dist/rpc/websocket.js), so `hostname` may carry
 * the simulator's port. Its mDNS discoverer is never started (its multicast
 * group lies outside 127.0.0.0/8); a `DeviceDiscoverer` fed with the address
 * stands in for it and drives the library's own add-device flow.
 * Addresses: 127.111.1.x.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Device, DeviceDiscoverer, Shellies } from "shellies-ng"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"

const ADMIN_PW = "ng-admin-pw-111"

let fleet: FleetHandle

beforeAll(async () => {
  fleet = await startFleet({
    devices: 4,
    baseIp: "127.111.1.1",
    port: 0,
    seed: 111,
    timeScale: 0.01,
    adminPassword: ADMIN_PW,
    apIp: "127.111.33.1",
    dhcpPool: { start: "127.111.200.1", end: "127.111.200.254" },
    control: false,
    models: ["Plus1PM", "Plus2PM", "Pro4PM", "Plus1PM"],
    faults: ["4=protected"]
  })
})

afterAll(async () => {
  await fleet?.stop()
})

class ByAddress extends DeviceDiscoverer {
  add(deviceId: string, hostname: string): void {
    this.handleDiscoveredDevice({ deviceId, hostname })
  }
}

/** Runs shellies-ng's own discover → GetDeviceInfo → class → loadStatus → loadConfig flow for device `n`. */
const connect = async (n: number, password?: string): Promise<{ shellies: Shellies; device: Device }> => {
  const view = fleet.device(n)!
  const shellies = new Shellies({
    autoLoadStatus: true,
    autoLoadConfig: true,
    // No reconnect timers and no pings: each test ends its own connections.
    websocket: { requestTimeout: 5, pingInterval: 0, reconnectInterval: 0, clientId: `ng-test-${n}` },
    deviceOptions: () => ({ password })
  })
  const discoverer = new ByAddress()
  shellies.registerDiscoverer(discoverer)
  const added = new Promise<Device>((resolve, reject) => {
    shellies.once("add", resolve)
    shellies.once("error", (_id: string, error: Error) => reject(error))
    shellies.once("unknown", (id: string, model: string) => reject(new Error(`shellies-ng does not know ${id} (${model})`)))
  })
  discoverer.add(view.id, `${view.ip}:${fleet.port}`)
  return { shellies, device: await added }
}

const disconnect = async (device: Device): Promise<void> => {
  await device.rpcHandler.destroy()
}

describe("shellies-ng against the simulated fleet (WebSocket /rpc)", () => {
  it("reads device info, status and config of a Plus 1PM", async () => {
    const { device } = await connect(1)
    try {
      const view = fleet.device(1)!
      expect(device.id).toBe(view.id)
      expect(device.macAddress).toBe(view.mac)
      expect(device.model).toBe("SNSW-001P16EU")
      expect(device.firmware.version).toBe(view.fw)
      expect(device.firmware.id).toMatch(/^\d{8}-\d{6}\/\d+\.\d+\.\d+(-[\w]+)?-g[0-9a-f]{7}$/)
      // Status (loadStatus) reached the components.
      const sw = device.getComponent("switch:0") as unknown as { output: boolean; voltage: number }
      expect(sw.output).toBe(false)
      expect(sw.voltage).toBeGreaterThan(200)
      const sys = device.getComponent("sys") as unknown as { mac: string; uptime: number }
      expect(sys.mac).toBe(view.mac)
      // Config (loadConfig) reached them too.
      const wifi = device.getComponent("wifi") as unknown as { config: { sta: { ssid: string } } }
      expect(wifi.config.sta.ssid).toBe("ProdNet")
      // Every call went over the WebSocket channel.
      const log = fleet.state(1)!.rpcLog
      expect(log.map((e) => e.method)).toEqual(["Shelly.GetDeviceInfo", "Shelly.GetStatus", "Shelly.GetConfig"])
      expect(log.every((e) => e.transport === "ws")).toBe(true)
    } finally {
      await disconnect(device)
    }
  })

  it("knows the Plus 2PM (a multi-profile model: profile from GetDeviceInfo) and the Pro 4PM", async () => {
    const plus = await connect(2)
    const pro = await connect(3)
    try {
      expect(plus.device.model).toBe("SNSW-102P16EU")
      expect((plus.device as unknown as { profile: string }).profile).toBe("switch")
      expect(pro.device.model).toBe("SPSW-004PE16EU")
      expect(pro.device.getComponent("switch:3")).toBeDefined()
      const sw3 = pro.device.getComponent("switch:3") as unknown as { id: number; output: boolean }
      expect(sw3.id).toBe(3)
    } finally {
      await disconnect(plus.device)
      await disconnect(pro.device)
    }
  })

  it("sets the device name; the device holds it and a NotifyStatus reaches the client", async () => {
    const { device } = await connect(1)
    try {
      const sys = device.getComponent("sys") as unknown as {
        cfg_rev: number
        setConfig: (config: object) => PromiseLike<{ restart_required: boolean }>
        once: (event: string, listener: (value: unknown) => void) => void
      }
      const before = sys.cfg_rev
      const notified = new Promise<unknown>((resolve) => sys.once("change:cfg_rev", resolve))
      const result = await sys.setConfig({ device: { name: "Küche links" } })
      expect(result.restart_required).toBe(false)
      expect(fleet.device(1)!.name).toBe("Küche links")
      // The notification carried the new cfg_rev into shellies-ng's component state.
      expect(await notified).toBeGreaterThan(before)
      expect(sys.cfg_rev).toBe(fleet.state(1)!.config.sys !== undefined ? (fleet.state(1)!.config.sys as { cfg_rev: number }).cfg_rev : -1)
      const info = (await device.shelly.getDeviceInfo()) as { readonly name?: string }
      expect(info.name).toBe("Küche links")
    } finally {
      await disconnect(device)
    }
  })

  it("authenticates against a protected device with the right password", async () => {
    const { device } = await connect(4, ADMIN_PW)
    try {
      expect(fleet.device(4)!.authEnabled).toBe(true)
      const sys = device.getComponent("sys") as unknown as { mac: string }
      expect(sys.mac).toBe(fleet.device(4)!.mac)
      // Further calls reuse the auth object of the first challenge (firmware 1.x accepts that).
      const challenges = fleet.state(4)!.auth.challenges
      const status = await device.shelly.getStatus()
      expect(status).toHaveProperty("switch:0")
      expect(fleet.state(4)!.auth.challenges).toBe(challenges)
    } finally {
      await disconnect(device)
    }
  })

  it("is refused with a wrong password and without one", async () => {
    await expect(connect(4, "not-the-password")).rejects.toThrow(/Invalid password/)
    await expect(connect(4)).rejects.toThrow(/Unauthorized/)
  })
})
