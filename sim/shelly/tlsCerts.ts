/**
 * Test-only TLS identities for simulated devices that serve their local API
 * over HTTPS (traits `https` and `https_new_cert`, sim/shelly/fleet.ts).
 *
 * What real devices do (sources): devices shipped from the factory with
 * firmware 2.0.0+ serve HTTPS with a certificate from Shelly's internal PKI;
 * devices updated to 2.0.0 serve plain HTTP until a server certificate
 * (self-signed or CA-issued) is uploaded with Shelly.PutHTTPServerCert
 * (shelly-api-docs gen2/General/CustomHTTPSCertificates, "Since firmware
 * 2.0.0"); the KB's "Shelly TLS: Supported Certs and Config" has the local
 * web UI on HTTPS from 1.8.0 on Gen3+, TLS 1.2 only, ECDSA P-256 among the
 * accepted keys; aioshelly (#1204) and Home Assistant talk HTTPS to port 443
 * and do not verify the certificate by default. Neither kind of certificate
 * is one a client can check against a public CA, hence our pin per MAC on
 * first use (src/shelly/certPins.ts).
 *
 * Made once with openssl (node cannot make X.509 certificates itself), for n in a b:
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500 \
 *     -keyout device-$n.key -out device-$n.crt -subj "/CN=shelly-sim-device-$n" \
 *     -addext "basicConstraints=critical,CA:FALSE"
 * These keys protect nothing: they exist for the simulator and its tests only.
 */

export interface SimTlsIdentity {
  readonly cert: string
  readonly key: string
  /** `openssl x509 -noout -fingerprint -sha256`, as node's `fingerprint256` spells it. */
  readonly sha256: string
}

/** The certificate a device with the `https` trait serves. */
export const deviceCertA: SimTlsIdentity = {
  cert: `-----BEGIN CERTIFICATE-----
MIIBjzCCATagAwIBAgIULsgvTYBC+liuBovY/9x9cYjFnhMwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTc2hlbGx5LXNpbS1kZXZpY2UtYTAgFw0yNjEyMDUyMTAzMDda
GA8yMTI2MTExMTIxMDMwN1owHjEcMBoGA1UEAwwTc2hlbGx5LXNpbS1kZXZpY2Ut
YTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABLrXjgLNSlAZlPTcAgHQ6lilWdSY
fndBp5qX89YNRwEMj3t9AvAXzssUxm0jknCqjdx4hkfj3D4Honlx4rKMwVGjUDBO
MB0GA1UdDgQWBBSvHhkzYZdHK5gjyHbKIHUFmcJFJjAfBgNVHSMEGDAWgBSvHhkz
YZdHK5gjyHbKIHUFmcJFJjAMBgNVHRMBAf8EAjAAMAoGCCqGSM49BAMCA0cAMEQC
IAN293putmaBg/P7MmL3DRdfATgpoLE89vs3dr2KsYgdAiAulu99X/2X0UwZZtMT
RQJQkbtDRS6rISejIFdzRQEQxA==
-----END CERTIFICATE-----
`,
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgK78uSLXyTzAy9gX7
RnasvyDpv+D6Z9mKVZ5ELv9DzdihRANCAAS6144CzUpQGZT03AIB0OpYpVnUmH53
Qaeal/PWDUcBDI97fQLwF87LFMZtI5Jwqo3ceIZH49w+B6J5ceKyjMFR
-----END PRIVATE KEY-----
`,
  sha256: "DF:64:2F:36:EB:90:A4:E9:52:33:9E:73:94:02:94:7E:E7:66:DA:F6:A0:4F:44:66:7D:21:F2:AE:F1:E3:8C:06"
}

/** Another certificate (`https_new_cert`): the same device after a reset or a new upload, or an impostor. */
export const deviceCertB: SimTlsIdentity = {
  cert: `-----BEGIN CERTIFICATE-----
MIIBjzCCATagAwIBAgIUPpFFtZzSqT3GF2/7nVIVaMOCCDAwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTc2hlbGx5LXNpbS1kZXZpY2UtYjAgFw0yNjEyMDUyMTAzMDda
GA8yMTI2MTExMTIxMDMwN1owHjEcMBoGA1UEAwwTc2hlbGx5LXNpbS1kZXZpY2Ut
YjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFXHURIILGxOIb+61YpBfd930Quy
OwLa4sUunnqGb9FBM8ET8VlzIWi9wd+Jbga0A647yJMn5grU5Rb8zB+K2syjUDBO
MB0GA1UdDgQWBBSVJmhZP7EvldhTFjtV2lYSD9lQGTAfBgNVHSMEGDAWgBSVJmhZ
P7EvldhTFjtV2lYSD9lQGTAMBgNVHRMBAf8EAjAAMAoGCCqGSM49BAMCA0cAMEQC
IGV/352lsoxeu2IrX0dgV5qIStsK6gcdBUvHKvo45yN5AiBPtxARr3OrNmbFzmnt
ANVLauQ3HkDytX5ekA3zDOo39g==
-----END CERTIFICATE-----
`,
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2Zv24E7Rv+Zq4mHw
FrmXI0muqCeA6mNBBmQuD8G5Bl6hRANCAARVx1ESCCxsTiG/utWKQX3fd9ELsjsC
2uLFLp56hm/RQTPBE/FZcyFovcHfiW4GtAOuO8iTJ+YK1OUW/MwfitrM
-----END PRIVATE KEY-----
`,
  sha256: "55:EC:99:4E:EB:AB:9D:1B:DD:6F:51:6C:09:E3:0B:77:36:83:CF:71:B0:68:7C:CA:A5:A6:F2:A0:80:98:11:0D"
}
