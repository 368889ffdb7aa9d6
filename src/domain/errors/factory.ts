// Errors of the factory area (see base.ts for the convention).
import { Data } from "effect"
import type { OperatorError } from "./base.js"

