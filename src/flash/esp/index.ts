export { makeEspFlasher, defaultEspFlasherConfig, type EspFlasherConfig } from "./EspFlasher.js"
export * as EspCommands from "./commands.js"
export { defaultTimeouts, type Timeouts, type Command } from "./commands.js"
export { EspConnection } from "./connection.js"
export {
  CHIPS,
  chipByMagic,
  chipByImageId,
  defaultOffsets,
  defaultOffsetsForPlatform,
  type ChipSpec,
  type DefaultOffsets
} from "./chips.js"
export { connectRom, detectChip, readMac, readFlashId, flashSizeFromId, syncRepeated } from "./detect.js"
export { imageTarget, checkImageForChip, checkRegionLayout } from "./image.js"
export { checksum, encodeRequest, decodeResponse, statusLength, type Response } from "./packet.js"
export {
  classicReset,
  unixTightReset,
  usbJtagSerialReset,
  hardReset,
  runReset,
  resetForAttempt,
  type ResetStep,
  type BeforeMode
} from "./reset.js"
export { writeRegion, compressOnce, esp8266EraseSize, md5Hex, ROM_BLOCK_SIZE, STUB_BLOCK_SIZE, type LoaderProfile } from "./write.js"
export { loadStub, hasStub } from "./stub.js"
export { readStubImage, type StubImage } from "./stubImages.js"
export { romBaudArgument } from "./baud.js"
