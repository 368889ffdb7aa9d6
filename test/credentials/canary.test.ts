// Canary: the fleet password and every per-device password appear in no
// output and no file the tool writes — only in data/secrets.yaml and
// data/device-secrets.yaml (+ its .bak), and on stdout of `credentials show`,
// whose job that is. Stage 1 per_device (in-process, its output captured), then
// stage3, inventory list, credentials rotate/show, backup and restore as child
// processes. Loopback block of this file: 127.96.0.0/16.
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Option } from "effect"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { expect, it } from "vitest"
import YAML from "yaml"
import { stage1Layer, stage1Program } from "../../src/app/stage1.js"
import { ha1For } from "../../src/shelly/digest.js"
import { provisionProcesses, shellyPathHarness, stage1Section } from "../stages/shellyPathHarness.js"
import * as RunOutput from "../../src/runtime/RunOutput.js"

const harness = shellyPathHarness({ net: "127.96", portBase: 19450, chdir: true })
const provision = provisionProcesses()
const FLEET_CANARY = `CANARY-fleet-${Date.now().toString(36)}`

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name)
    return entry.isDirectory() ? filesUnder(full) : [full]
  })

it("no password in any log, report, output, backup or URL", async () => {
  const p = await harness.start(
    { devices: 2, faults: ["1-2=factory"], models: ["S2PMG3"] },
    { config: (q) => ({ stage1: stage1Section(q, { auth: "per_device" }), stage3: { device_port: q.fleet.port } }) }
  )
  // The fleet password is set too: with per_device it must not be used, nor shown.
  const secretsFile = join(p.dir, "data/secrets.yaml")
  const secrets = YAML.parse(readFileSync(secretsFile, "utf8"))
  await import("node:fs").then((fs) =>
    fs.writeFileSync(secretsFile, YAML.stringify({ ...secrets, device: { admin_password: FLEET_CANARY } }))
  )

  const captured: Array<string> = []
  const output = { out: (l: string) => captured.push(l), err: (l: string) => captured.push(l) }
  const flags = {
    secrets: Option.none(),
    config: Option.none(),
    dryRun: false,
    log: Option.none(),
    loop: Option.some(false),
    wifiSim: Option.some(p.fleet.controlUrl!)
  }
  for (let i = 0; i < 2; i++) {
    expect(
      await Effect.runPromiseExit(
        stage1Program(flags).pipe(Effect.provide(RunOutput.layer(output)), Effect.provide(stage1Layer), Effect.provide(NodeContext.layer))
      )
    ).toEqual(Exit.succeed(0))
  }
  const [d1, d2] = p.fleet.devices
  const run = async (args: ReadonlyArray<string>) => {
    const r = provision(p.dir, args)
    const code = await r.exited
    return { code, out: r.stdout(), err: r.stderr(), args }
  }
  const stage3 = await run(["stage3"])
  expect(stage3.out).toContain("Stage 3 summary: total=2 ok=2 failed=0")
  const list = await run(["inventory", "list", "--online"])
  expect(list.code).toBe(0)
  const rotate = await run(["credentials", "rotate", "--mac", d1!.mac])
  expect(rotate.out).toContain("rotated=1 failed=0")
  const backup = await run(["backup"])
  expect(backup.out).toContain("Backup summary: total=2 ok=2 failed=0")
  const restore = await run(["restore", d2!.mac, "--dry-run"])
  expect(restore.code).toBe(0)
  const show = await run(["credentials", "show", d1!.mac])
  expect(show.code).toBe(0)
  expect(show.err).toContain("warning: this is the admin password")

  // Every password the devices ever had: the fleet one, the ones Stage 1 set, the rotated one.
  const secretsText = [join(p.dir, "data/device-secrets.yaml"), join(p.dir, "data/device-secrets.yaml.bak")]
    .filter(existsSync)
    .map((f) => readFileSync(f, "utf8"))
    .join("\n")
  const perDevice = [...secretsText.matchAll(/(?:password|pending): (\S+)/g)].map((m) => m[1]!.replace(/^"|"$/g, ""))
  expect(new Set(perDevice).size).toBeGreaterThanOrEqual(3)
  expect(show.out.trim()).toBe(YAML.parse(readFileSync(join(p.dir, "data/device-secrets.yaml"), "utf8")).devices[d1!.mac].password)
  const canaries = [FLEET_CANARY, ...perDevice]
  // … and what is as good as one for digest auth: each password's ha1 on each device.
  const ha1s = p.fleet.devices.flatMap((d) => canaries.map((pw) => ha1For(d.id, pw)))

  const texts: Array<[string, string]> = [
    ...captured.map((l, i): [string, string] => [`stage1 output line ${i}`, l]),
    ...[stage3, list, rotate, backup, restore].flatMap(
      (r): Array<[string, string]> => [
        [`${r.args.join(" ")} stdout`, r.out],
        [`${r.args.join(" ")} stderr`, r.err],
        [`${r.args.join(" ")} argv`, r.args.join(" ")]
      ]
    ),
    ["credentials show stderr", show.err],
    ...filesUnder(p.dir)
      .filter((f) => !/data\/(secrets\.yaml|device-secrets\.yaml(\.bak)?)$/.test(f))
      .map((f): [string, string] => [relative(p.dir, f), readFileSync(f, "utf8")])
  ]
  expect(texts.some(([name]) => name.startsWith("var/backups/"))).toBe(true)
  expect(texts.some(([name]) => name === "var/log/stage1.log")).toBe(true)
  for (const [name, text] of texts) {
    for (const secret of [...canaries, ...ha1s]) expect(text.includes(secret), `a password (or its ha1) in ${name}`).toBe(false)
  }
  // The devices' own request logs: no password-derived value in any request line (URL).
  for (const d of p.fleet.devices) {
    const gets = p.fleet.state(d.mac)!.rpcLog.filter((e) => e.transport === "get")
    for (const e of gets) for (const secret of [...canaries, ...ha1s]) expect(JSON.stringify(e.params).includes(secret)).toBe(false)
  }
  expect(statSync(join(p.dir, "data/device-secrets.yaml")).mode & 0o777).toBe(0o600)
}, 600_000)
