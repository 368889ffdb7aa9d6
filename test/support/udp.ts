import * as Dgram from "node:dgram"

/** A UDP port on 127.0.0.1 that nothing listens on right now: each test's mDNS gets its own. */
export const freeUdpPort = () =>
  new Promise<number>((done, reject) => {
    const probe = Dgram.createSocket("udp4")
    probe.once("error", reject)
    probe.bind(0, "127.0.0.1", () => {
      const { port } = probe.address()
      probe.close(() => done(port))
    })
  })
