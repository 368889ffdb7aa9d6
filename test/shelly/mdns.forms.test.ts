/**
 * The two instance forms real devices answer with (matterbridge-shelly
 * captures `shelly1pmg3-34B7DAC68344.mdns.json`, `shelly2pmg3-34CDB0770C4C.mdns.json`):
 * the id-named instance on the AP-SSID host, and for a renamed device also a
 * name-named instance on a host made from the name. Records written here in
 * that shape, decoded by the client as a browse would.
 */
import { describe, expect, it } from "vitest"
import { CLASS_IN, type DnsMessage, Flags, nameFromDotted, txtEntry } from "../../src/shelly/dnsMessage.js"
import { devicesInResponse } from "../../src/shelly/mdns.js"

const http = nameFromDotted("_http._tcp.local")
const rr = <D extends DnsMessage["answers"][number]["data"]>(name: ReadonlyArray<string>, data: D, cacheFlush = false) => ({
  name,
  class: CLASS_IN,
  cacheFlush,
  ttl: 120,
  data
})
const from = { address: "127.116.0.9", port: 5353 }

const response = (
  instances: ReadonlyArray<{ readonly label: string; readonly host: string; readonly txt: ReadonlyArray<string> }>
): DnsMessage => ({
  id: 0,
  flags: Flags.response | Flags.authoritative,
  questions: [],
  answers: instances.map((i) => rr(http, { _tag: "PTR", target: [i.label, ...http] })),
  authorities: [],
  additionals: instances.flatMap((i) => [
    rr([i.label, ...http], { _tag: "SRV", priority: 0, weight: 0, port: 80, target: [i.host, "local"] }),
    rr([i.label, ...http], { _tag: "TXT", entries: i.txt.map(txtEntry) }),
    rr([i.host, "local"], { _tag: "A", address: "127.116.0.9" }, true)
  ])
})

describe("mDNS instance forms", () => {
  it("a renamed device (id-named and name-named _http instances in one answer) is one device, by MAC and id", () => {
    const found = devicesInResponse(
      response([
        { label: "shelly2pmg3-34cdb0770c4c", host: "Shelly2PMG3-34CDB0770C4C", txt: ["gen=3"] },
        { label: "2PM Gen3 Cover", host: "2PM-Gen3-Cover", txt: ["gen=3", "app=S2PMG3", "ver=1.6.2"] }
      ]),
      from
    )
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({ mac: "34CDB0770C4C", id: "shelly2pmg3-34cdb0770c4c", ip: "127.116.0.9", port: 80, gen: 3 })
  })

  it("a device without a name (id-named instance only) is found", () => {
    const found = devicesInResponse(
      response([{ label: "shelly1pmg3-34b7dac68344", host: "Shelly1PMG3-34B7DAC68344", txt: ["gen=3"] }]),
      from
    )
    expect(found.map((d) => d.mac)).toEqual(["34B7DAC68344"])
  })

  it("a name-named instance on the AP-SSID host (older responders) is found by the host label", () => {
    const found = devicesInResponse(
      response([{ label: "Küche", host: "Shelly1PMG3-34B7DAC68344", txt: ["gen=3", "app=S1PMG3", "ver=1.6.2"] }]),
      from
    )
    expect(found[0]).toMatchObject({ mac: "34B7DAC68344", id: undefined, app: "S1PMG3" })
  })

  it("a name-named instance alone on a name host names no MAC: not a device (the id-named one will be)", () => {
    expect(devicesInResponse(response([{ label: "1PM Gen3", host: "1PM-Gen3", txt: ["gen=3", "app=S1PMG3", "ver=1.6.2"] }]), from)).toEqual(
      []
    )
  })
})
