/**
 * mDNS announcements (RFC 6762 §8.3) through real UDP on the loopback
 * segment (127.255.255.255: every socket on the port hears it): the
 * simulated fleet's responder announces a device when it comes up on the
 * production network, and the Live `Mdns.listen` subscription hears it; the
 * `provision sim shelly --mdns` flag runs the same responder in a process.
 * Loopback block of this file: 127.67.60.0–127.67.99.255 (of 127.67.0.0/16).
 */
import { Chunk, Effect, Either, Option, Redacted, Stream } from "effect"
import { spawn } from "node:child_process"
import * as Dgram from "node:dgram"
import { resolve } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { Mac } from "../../src/domain/mac.js"
import { announcedDevice } from "../../src/shelly/discovery.js"
import * as Methods from "../../src/shelly/methods.js"
import { CLASS_IN, encodeMessage, Flags, nameFromDotted, txtEntry } from "../../src/shelly/dnsMessage.js"
import { LOOPBACK_SEGMENT, Mdns } from "../../src/shelly/mdns.js"
import type { MdnsDevice } from "../../src/shelly/mdns.js"
import { MdnsLive } from "../../src/shelly/mdnsLive.js"
import { ShellyRpcLive } from "../../src/shelly/ShellyRpcLive.js"
import { type FleetHandle, startFleet } from "../../sim/shelly/index.js"
import { freeUdpPort } from "../support/udp.js"

const GROUP = LOOPBACK_SEGMENT
const LO = "127.0.0.1"

let fleet: FleetHandle | undefined
afterEach(async () => {
  await fleet?.stop()
  fleet = undefined
})

/** Listens on the group, runs `act`, and collects what is heard for `mac` until `count` announcements or 5 s. */
const hear = (port: number, mac: string, count: number, act: () => Promise<unknown>) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const mdns = yield* Mdns
        const heard = yield* mdns.listen({ group: GROUP, port, iface: LO })
        yield* Effect.promise(act)
        return yield* heard.pipe(
          Stream.filter((d) => d.mac === mac),
          Stream.take(count),
          Stream.interruptAfter("5 seconds"),
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray)
        )
      })
    ).pipe(Effect.provide(MdnsLive))
  )

describe("mDNS announcements of the simulated fleet", () => {
  it("announce a device twice when it comes back from a reboot, unasked, heard by a listener subscribed before", async () => {
    const port = await freeUdpPort()
    fleet = await startFleet({
      devices: 2,
      baseIp: "127.67.60.1",
      port: 0,
      control: false,
      seed: 3,
      timeScale: 0.05,
      mdns: { group: GROUP, port, iface: LO }
    })
    const device = fleet.device(2)!
    expect(fleet.mdns!.announced()).toBe(0)
    const heard = await hear(port, device.mac, 2, () => fleet!.powerCycle(2))
    expect(heard).toHaveLength(2)
    for (const d of heard) {
      expect(d).toMatchObject({ mac: device.mac, ip: device.ip, port: fleet.port, id: device.id, app: device.app, gen: device.gen })
      expect(d.host).toBe(`${device.apSsid}.local`)
    }
    // Announced, not answered: nobody asked.
    expect(fleet.mdns!.answered()).toBe(0)
    expect(fleet.mdns!.announced()).toBe(2)
    // The other device stayed up and said nothing.
    expect(heard.every((d) => d.mac !== fleet!.device(1)!.mac)).toBe(true)
  })

  it("announce a factory device when it joins the production network, at its DHCP address", async () => {
    const port = await freeUdpPort()
    fleet = await startFleet({
      devices: 1,
      baseIp: "127.67.61.1",
      // An all-factory fleet binds nothing at start, so port 0 would stay unresolved.
      port: 18671,
      seed: 4,
      timeScale: 0.05,
      apIp: "127.67.62.1",
      dhcpPool: { start: "127.67.63.1", end: "127.67.63.9" },
      faults: ["1=factory"],
      control: { host: "127.67.60.254", port: 0 },
      mdns: { group: GROUP, port, iface: LO }
    })
    const device = fleet.device(1)!
    expect(device.mode).toBe("ap")
    const join = async () => {
      const connected = await fleet!.connectAp(device.apSsid)
      expect(Either.isRight(connected)).toBe(true)
      const target = { host: fleet!.apIp, port: fleet!.port }
      await Effect.runPromise(
        Methods.wifiSetConfig(target, {
          sta: { ssid: "ProdNet", pass: Redacted.make("prod-wifi-pw"), enable: true, ipv4mode: "dhcp" }
        }).pipe(Effect.zipRight(Methods.reboot(target)), Effect.provide(ShellyRpcLive))
      )
      await fleet!.disconnectAp()
    }
    const heard = await hear(port, device.mac, 1, join)
    expect(heard).toHaveLength(1)
    expect(heard[0]!.ip).toBe(fleet.device(1)!.ip)
    expect(heard[0]!.ip.startsWith("127.67.63.")).toBe(true)
  })

  it("announcedDevice takes only an announcement that GET /shelly confirms at the announced address", async () => {
    const port = await freeUdpPort()
    fleet = await startFleet({
      devices: 2,
      baseIp: "127.67.64.1",
      port: 0,
      control: false,
      seed: 5,
      timeScale: 0.05,
      mdns: { group: GROUP, port, iface: LO }
    })
    const [first, second] = [fleet.device(1)!, fleet.device(2)!]
    // A forged announcement: device 1's name at device 2's address (which answers with device 2's MAC).
    const forged = Either.getOrThrow(
      encodeMessage({
        id: 0,
        flags: Flags.response | Flags.authoritative,
        questions: [],
        answers: [
          {
            name: nameFromDotted("_shelly._tcp.local"),
            class: CLASS_IN,
            cacheFlush: false,
            ttl: 120,
            data: { _tag: "PTR", target: nameFromDotted(`${first.id}._shelly._tcp.local`) }
          },
          {
            name: nameFromDotted(`${first.id}._shelly._tcp.local`),
            class: CLASS_IN,
            cacheFlush: true,
            ttl: 120,
            data: { _tag: "SRV", priority: 0, weight: 0, port: fleet.port, target: nameFromDotted("forged.local") }
          },
          {
            name: nameFromDotted(`${first.id}._shelly._tcp.local`),
            class: CLASS_IN,
            cacheFlush: true,
            ttl: 120,
            data: { _tag: "TXT", entries: [txtEntry("gen=3")] }
          },
          { name: nameFromDotted("forged.local"), class: CLASS_IN, cacheFlush: true, ttl: 120, data: { _tag: "A", address: second.ip! } }
        ],
        authorities: [],
        additionals: []
      })
    )
    const sender = Dgram.createSocket({ type: "udp4", reuseAddr: true })
    await new Promise<void>((done) => sender.bind(0, LO, () => done()))
    sender.setMulticastInterface(LO)
    const found = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const heard = yield* (yield* Mdns).listen({ group: GROUP, port, iface: LO })
          yield* Effect.async<void>((done) => sender.send(forged, port, GROUP, () => done(Effect.void)))
          // The forged one is heard but refused; device 1's own announcement (after a power cycle) is taken.
          const waiting = yield* Effect.fork(announcedDevice(heard, first.mac as Mac, { timeout: "1 second" }))
          yield* Effect.sleep("200 millis")
          yield* Effect.promise(() => fleet!.powerCycle(1))
          return yield* waiting.await.pipe(Effect.flatten, Effect.timeout("5 seconds"), Effect.option)
        })
      ).pipe(Effect.provide(MdnsLive), Effect.provide(ShellyRpcLive))
    )
    sender.close()
    expect(Option.map(found, (f) => f.ip)).toEqual(Option.some(first.ip))
    expect(Option.map(found, (f) => f.identity.mac)).toEqual(Option.some(first.mac))
  })

  it("listen refuses a unicast address with a clear error (announcements go to a group)", async () => {
    const result = await Effect.runPromise(
      Effect.scoped(Effect.flatMap(Mdns, (m) => m.listen({ group: "127.67.65.1", port: 5353 }))).pipe(
        Effect.either,
        Effect.provide(MdnsLive)
      )
    )
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) expect(result.left.message).toContain("multicast group")
  })
})

describe("provision sim shelly --mdns", () => {
  it("runs the responder: the ready line names it, and a power-cycled device announces itself", async () => {
    const port = await freeUdpPort()
    const cli = resolve(import.meta.dirname, "../../bin/provision.mjs")
    const child = spawn(
      process.execPath,
      [
        cli,
        "sim",
        "shelly",
        "--devices",
        "2",
        "--base-ip",
        "127.67.70.1",
        "--port",
        "0",
        "--seed",
        "6",
        "--time-scale",
        "0.05",
        "--control-host",
        "127.67.70.254",
        "--mdns",
        "--mdns-group",
        GROUP,
        "--mdns-port",
        String(port),
        "--mdns-iface",
        LO
      ],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    try {
      let out = ""
      child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d))
      const ready = await new Promise<string>((done, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line in 45 s: ${out}`)), 45_000)
        child.stdout!.on("data", () => {
          const line = out.split("\n").find((l) => l.startsWith("sim shelly ready"))
          if (line !== undefined) {
            clearTimeout(timer)
            done(line)
          }
        })
      })
      expect(ready).toContain(`mdns=${GROUP}:${port}`)
      const control = /control=(\S+)/.exec(ready)![1]!
      const device = (await (await fetch(`${control}/devices/2`)).json()) as { readonly mac: string; readonly ip: string }
      const heard: ReadonlyArray<MdnsDevice> = await hear(port, device.mac, 2, () =>
        fetch(`${control}/devices/2/power-cycle`, { method: "POST" })
      )
      expect(heard.map((d) => d.ip)).toEqual([device.ip, device.ip])
    } finally {
      child.kill("SIGTERM")
      await new Promise((done) => (child.exitCode !== null ? done(null) : child.once("exit", done)))
    }
  }, 60_000)
})
