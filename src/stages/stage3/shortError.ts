import type { RpcFailure } from "../../domain/errors/shelly.js"

/**
 * The short text after `ERR=<step>: ` on a device line, as the runbook shows it
 * (`ERR=friendly: HTTP 500`). The full message goes to the log file and JSON.
 */
export const shortRpcError = (error: RpcFailure): string => {
  switch (error._tag) {
    case "DeviceUnreachable":
      return "unreachable"
    case "RpcTimeout":
      return `timeout ${error.timeoutMs} ms`
    case "RpcHttp500":
      return "HTTP 500"
    case "RpcError":
      return `RPC ${error.rpcCode} ${error.rpcMessage}`
    case "AuthRequired":
      return error.passwordSent ? "password rejected" : "password required"
    case "ResponseInvalid":
      return "invalid response"
    case "ResponseTooLarge":
      return error.part === "body" ? "response too large" : "headers too large"
    case "BadHttpResponse":
      return "bad HTTP from device"
    case "Gen1Unsupported":
      return "Gen1 not supported"
    case "CertificateChanged":
      return "certificate changed"
  }
}
