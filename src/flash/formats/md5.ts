import { createHash } from "node:crypto"

/** Hex MD5, the digest every flasher reports per region (and per page/block on a read-back mismatch). */
export const md5Hex = (data: Uint8Array): string => createHash("md5").update(data).digest("hex")
