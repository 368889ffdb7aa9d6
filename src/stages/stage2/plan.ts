// data/plan.csv: `mac,ip,name,room` (header required, columns in any order,
// ip/name/room may be empty). Problems name the file and the line.
import { Either } from "effect"
import { parseIpv4 } from "../../domain/ipv4.js"
import { parseMac } from "../../domain/mac.js"
import type { Mac } from "../../domain/mac.js"
import type { PlanEntry } from "../stage2.js"

const splitCsvLine = (line: string): Array<string> => {
  const cells: Array<string> = []
  let cell = ""
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cell += '"'), i++
      else if (ch === '"') quoted = false
      else cell += ch
    } else if (ch === '"') quoted = true
    else if (ch === ",") cells.push(cell.trim()), (cell = "")
    else cell += ch
  }
  cells.push(cell.trim())
  return cells
}

export const parsePlan = (file: string, text: string): Either.Either<ReadonlyMap<Mac, PlanEntry>, ReadonlyArray<string>> => {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/)
  const header = splitCsvLine(lines[0] ?? "").map((h) => h.toLowerCase())
  const col = (name: string) => header.indexOf(name)
  if (col("mac") < 0) return Either.left([`${file}:1: header must name a "mac" column (mac,ip,name,room)`])
  const plan = new Map<Mac, PlanEntry>()
  const ips = new Map<string, number>()
  const problems: Array<string> = []
  lines.slice(1).forEach((line, index) => {
    const lineNo = index + 2
    if (line.trim() === "" || line.trimStart().startsWith("#")) return
    const cells = splitCsvLine(line)
    const cell = (name: string) => (col(name) >= 0 ? cells[col(name)] ?? "" : "")
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
