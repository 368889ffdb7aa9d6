// Errors of mDNS discovery (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

/** The mDNS socket could not be opened, bound, joined to the group or sent on. */
export class MdnsSocketError
  extends Data.TaggedError("MdnsSocketError")<{
    /** `224.0.0.251:5353`, or the unicast responder address. */
    readonly destination: string
    /** Interface address asked for, if any. */
    readonly iface: string | undefined
    readonly operation: "bind" | "join" | "send"
    readonly reason: string
  }>
  implements OperatorError
{
  readonly code = "mdns_socket"
  get hint() {
    return this.operation === "join"
      ? "set stage1.discovery.mdns.interface to the IPv4 address of the interface on the production network, or disable mdns (the subnet scan still runs)"
      : "check stage1.discovery.mdns (group, port, interface); the subnet scan still runs without mDNS"
  }
  override get message() {
    const on = this.iface === undefined ? "" : ` on interface ${this.iface}`
    return `mDNS ${this.operation} for ${this.destination}${on} failed: ${this.reason}`
  }
}
