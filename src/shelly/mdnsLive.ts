/**
 * The mDNS browse on node:dgram.
 *
 * Multicast: the socket binds the mDNS port shared (SO_REUSEADDR, so avahi on
 * the same Pi keeps working), joins the group and queries from that port, as
 * RFC 6762 §5.2 asks; responders then answer to the group and we hear them.
 * If the port cannot be bound, the query goes out from an ephemeral port
 * instead, and responders answer it by unicast (legacy query, §6.7).
 * Unicast (`group` not a multicast address): the query goes straight to that
 * responder (§5.5) from an ephemeral port, and the answer comes back unicast.
 *
 * Checked on the development machine: `lo` has no MULTICAST flag, yet with
 * IP_MULTICAST_IF = 127.0.0.1 and the membership on 127.0.0.1, multicast
 * datagrams are delivered between unprivileged sockets on loopback and none
 * leave through other interfaces; the tests rely on that.
 */
import { Duration, Effect, Either, Layer, Queue, Schedule, Stream } from "effect"
import type { Scope } from "effect"
import * as Dgram from "node:dgram"
import { MdnsSocketError } from "../domain/errors/mdns.js"
import { decodeMessage } from "./dnsMessage.js"
import {
  type BrowseOptions,
  browseQuery,
  devicesInResponse,
  type GroupKind,
  groupKind,
  type ListenOptions,
  Mdns,
  MDNS_GROUP,
  MDNS_PORT,
  type MdnsDevice,
  SHELLY_SERVICES,
  ShellyAnswers
} from "./mdns.js"

const defaults = {
  // Responders answer within 20-120 ms (RFC 6762 §6); a search round polls again anyway.
  timeout: Duration.seconds(1),
  maxDevices: 1024,
  maxPackets: 4096,
  queries: 2,
  resendEvery: Duration.millis(400)
}

interface Plan {
  readonly group: string
  readonly port: number
  readonly iface: string | undefined
  readonly kind: GroupKind
  readonly destination: string
}

const planFor = (options: {
  readonly group?: string | undefined
  readonly port?: number | undefined
  readonly iface?: string | undefined
}): Plan => {
  const group = options.group ?? MDNS_GROUP
  const port = options.port ?? MDNS_PORT
  return { group, port, iface: options.iface, kind: groupKind(group), destination: `${group}:${port}` }
}

interface Packet {
  readonly bytes: Uint8Array
  readonly from: { readonly address: string; readonly port: number }
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const bindSocket = (plan: Plan, port: number, address: string | undefined) =>
  Effect.acquireRelease(
    Effect.async<Dgram.Socket, MdnsSocketError>((resume) => {
      const socket = Dgram.createSocket({ type: "udp4", reuseAddr: true })
      const onError = (error: Error) => {
        socket.close()
        resume(
          Effect.fail(new MdnsSocketError({ destination: plan.destination, iface: plan.iface, operation: "bind", reason: error.message }))
        )
      }
      socket.once("error", onError)
      socket.bind({ port, ...(address !== undefined && { address }) }, () => {
        socket.off("error", onError)
        // Later errors (e.g. ICMP unreachable on a unicast query) are not fatal to a browse.
        socket.on("error", () => {})
        resume(Effect.succeed(socket))
      })
    }),
    (socket) => Effect.sync(() => socket.close())
  )

/**
 * Joins a socket bound to the group's port to the group: membership for
 * multicast (when `member`), the broadcast permission for the loopback segment.
 */
const joinGroup = (socket: Dgram.Socket, plan: Plan, member: boolean) =>
  Effect.try({
    try: () => {
      if (plan.kind === "segment") return socket.setBroadcast(true)
      if (plan.iface !== undefined) socket.setMulticastInterface(plan.iface)
      if (member) socket.addMembership(plan.group, plan.iface)
      socket.setMulticastTTL(255)
      socket.setMulticastLoopback(true)
    },
    catch: (error) => new MdnsSocketError({ destination: plan.destination, iface: plan.iface, operation: "join", reason: errorText(error) })
  })

/** A bound socket ready to query, and whether it listens on the mDNS port itself. */
const openSocket = (plan: Plan) =>
  Effect.gen(function* () {
    if (plan.kind === "unicast") return yield* bindSocket(plan, 0, plan.iface)
    const shared = yield* Effect.either(bindSocket(plan, plan.port, undefined))
    const socket = Either.isRight(shared) ? shared.right : yield* bindSocket(plan, 0, undefined)
    yield* joinGroup(socket, plan, Either.isRight(shared))
    return socket
  })

const send = (socket: Dgram.Socket, plan: Plan, bytes: Uint8Array) =>
  Effect.async<void, MdnsSocketError>((resume) => {
    socket.send(bytes, plan.port, plan.group, (error) =>
      resume(
        error === null || error === undefined
          ? Effect.void
          : Effect.fail(new MdnsSocketError({ destination: plan.destination, iface: plan.iface, operation: "send", reason: error.message }))
      )
    )
  })

export const browse = (options: BrowseOptions = {}): Stream.Stream<MdnsDevice, MdnsSocketError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const plan = planFor(options)
      const services = options.services ?? SHELLY_SERVICES
      const query = browseQuery(services)
      if (Either.isLeft(query)) {
        return yield* new MdnsSocketError({
          destination: plan.destination,
          iface: plan.iface,
          operation: "send",
          reason: `bad service name: ${query.left}`
        })
      }
      const maxPackets = options.maxPackets ?? defaults.maxPackets
      const socket = yield* openSocket(plan)
      // Listening starts before the first query goes out, so no early answer is missed.
      const inbox = yield* Queue.dropping<Packet>(maxPackets)
      socket.on("message", (bytes, from) => void Queue.unsafeOffer(inbox, { bytes, from: { address: from.address, port: from.port } }))
      yield* send(socket, plan, query.right)
      const repeats = Math.max(0, (options.queries ?? defaults.queries) - 1)
      const every = options.resendEvery ?? defaults.resendEvery
      if (repeats > 0) {
        // A lost resend costs nothing but the answers it would have brought.
        yield* Effect.sleep(every).pipe(
          Effect.zipRight(send(socket, plan, query.right).pipe(Effect.repeat({ times: repeats - 1, schedule: Schedule.spaced(every) }))),
          Effect.ignore,
          Effect.forkScoped
        )
      }
      const answers = new ShellyAnswers(services)
      return Stream.fromQueue(inbox).pipe(
        Stream.take(maxPackets),
        Stream.mapConcat((packet) =>
          // Anything that is not a well-formed DNS response is someone else's traffic, or noise.
          Either.match(decodeMessage(packet.bytes), { onLeft: () => [], onRight: (message) => answers.add(message, packet.from) })
        ),
        Stream.take(options.maxDevices ?? defaults.maxDevices),
        Stream.interruptAfter(options.timeout ?? defaults.timeout)
      )
    })
  )

/**
 * The group's traffic on the shared mDNS port: bound with SO_REUSEADDR beside
 * avahi, a browse and other listeners; every member socket gets each datagram.
 */
export const listen = (options: ListenOptions = {}): Effect.Effect<Stream.Stream<MdnsDevice>, MdnsSocketError, Scope.Scope> =>
  Effect.gen(function* () {
    const plan = planFor(options)
    if (plan.kind === "unicast") {
      return yield* new MdnsSocketError({
        destination: plan.destination,
        iface: plan.iface,
        operation: "join",
        reason: "announcements go to a multicast group; a unicast responder address cannot be listened to"
      })
    }
    const socket = yield* bindSocket(plan, plan.port, undefined)
    yield* joinGroup(socket, plan, true)
    // Sliding: on a busy network the newest datagrams (the device that just came back) matter most.
    const inbox = yield* Queue.sliding<Packet>(options.buffer ?? defaults.maxPackets)
    socket.on("message", (bytes, from) => void Queue.unsafeOffer(inbox, { bytes, from: { address: from.address, port: from.port } }))
    const services = options.services ?? SHELLY_SERVICES
    return Stream.fromQueue(inbox).pipe(
      Stream.mapConcat((packet) =>
        Either.match(decodeMessage(packet.bytes), {
          onLeft: () => [],
          onRight: (message) => devicesInResponse(message, packet.from, services)
        })
      )
    )
  })

export const MdnsLive = Layer.succeed(Mdns, Mdns.of({ browse, listen }))
