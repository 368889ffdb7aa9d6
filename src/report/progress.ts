import { truncate } from "./terminal.js"

export interface ProgressStream {
  readonly isTTY?: boolean | undefined
  readonly columns?: number | undefined
  write(chunk: string): boolean
}

/**
 * A one-line progress bar on stderr for long runs. It stays invisible for the
 * first `delayMs` (short runs never flicker), redraws at most every
 * `intervalMs`, and is erased before any other line is printed (`suspend`)
 * so stdout lines on the same terminal stay clean.
 */
export class ProgressBar {
  private done = 0
  private failed = 0
  private visible = false
  private lastDraw = 0
  private readonly startedAt = Date.now()

  constructor(
    private readonly stream: ProgressStream,
    private readonly total: number,
    private readonly label: string,
    private readonly options: { readonly delayMs?: number; readonly intervalMs?: number } = {}
  ) {}

  static enabledFor(stream: ProgressStream): boolean {
    return stream.isTTY === true && process.env.TERM !== "dumb"
  }

  tick(failed: boolean): void {
    this.done += 1
    if (failed) this.failed += 1
    const now = Date.now()
    if (now - this.startedAt < (this.options.delayMs ?? 1000)) return
    if (this.visible && now - this.lastDraw < (this.options.intervalMs ?? 100) && this.done < this.total) return
    this.draw(now)
  }

  /** Erase the bar so a normal line can be written; the next tick redraws it. */
  suspend(): void {
    if (!this.visible) return
    this.stream.write("\r\u001b[2K")
    this.visible = false
  }

  finish(): void {
    this.suspend()
  }

  private draw(now: number): void {
    const width = 30
    const filled = this.total === 0 ? width : Math.round((this.done / this.total) * width)
    const seconds = ((now - this.startedAt) / 1000).toFixed(1)
    const text = `${this.label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${this.done}/${this.total} failed=${this.failed} ${seconds}s`
    this.stream.write(`\r\u001b[2K${truncate(text, (this.stream.columns ?? 80) - 1)}`)
    this.visible = true
    this.lastDraw = now
  }
}
