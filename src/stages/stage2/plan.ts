// data/plan.csv: `mac,ip,name,room` (header required, columns in any order,
// ip/name/room may be empty; `,` or `;` between them, `#` starts a comment
// line). Problems name the file and the line.
import { Either } from "effect"
import { readCsvRecords } from "../../domain/csv.js"
import { parseIpv4 } from "../../domain/ipv4.js"
import { parseMac } from "../../domain/mac.js"
import type { Mac } from "../../domain/mac.js"
import type { PlanEntry } from "../stage2.js"

export const parsePlan = (file: string, text: string): Either.Either<ReadonlyMap<Mac, PlanEntry>, ReadonlyArray<string>> => {
  const records = readCsvRecords(text, { comments: true })
  if (Either.isLeft(records)) return Either.left([`${file}: ${records.left}`])
  const [first, ...rows] = records.right
  const header = (first?.cells ?? []).map((h) => h.trim().toLowerCase())
  const col = (name: string) => header.indexOf(name)
  if (col("mac") < 0) return Either.left([`${file}:${first?.line ?? 1}: header must name a "mac" column (mac,ip,name,room)`])
  const plan = new Map<Mac, PlanEntry>()
  const ips = new Map<string, number>()
  const problems: Array<string> = []
  rows.forEach(({ line: lineNo, cells: raw }) => {
    if (raw.every((c) => c.trim() === "")) return
    const cells = raw.map((c) => c.trim())
    const cell = (name: string) => (col(name) >= 0 ? (cells[col(name)] ?? "") : "")
    const mac = parseMac(cell("mac"))
    if (Either.isLeft(mac)) return void problems.push(`${file}:${lineNo}: mac: ${mac.left}`)
    if (plan.has(mac.right)) return void problems.push(`${file}:${lineNo}: mac ${cell("mac")} is planned twice`)
    let ip: PlanEntry["ip"]
    if (cell("ip") !== "") {
      const parsed = parseIpv4(cell("ip"))
      if (Either.isLeft(parsed)) return void problems.push(`${file}:${lineNo}: ip: ${parsed.left}`)
      const seen = ips.get(parsed.right)
      if (seen !== undefined) return void problems.push(`${file}:${lineNo}: ip ${parsed.right} is already planned on line ${seen}`)
      ips.set(parsed.right, lineNo)
      ip = parsed.right
    }
    plan.set(mac.right, { ip, name: cell("name") || undefined, room: cell("room") || undefined })
  })
  return problems.length > 0 ? Either.left(problems) : Either.right(plan)
}
