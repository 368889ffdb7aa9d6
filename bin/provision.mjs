#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader, so `npm ci` is
// the only install step (no build output to go stale).
import { register } from "tsx/esm/api"

register()
await import("../src/main.ts")
