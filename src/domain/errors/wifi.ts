// Errors of the wifi area (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

