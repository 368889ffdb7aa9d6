import type { FileSystem } from "@effect/platform"

/** How an operator calls a file type (for "not a regular file (…)" messages). */
export const fileTypeName = (type: FileSystem.File.Type): string => {
  switch (type) {
    case "File":
      return "a regular file"
    case "Directory":
      return "a directory"
    case "CharacterDevice":
      return "a character device, e.g. /dev/zero or /dev/null"
    case "BlockDevice":
      return "a block device"
    case "FIFO":
      return "a named pipe"
    case "Socket":
      return "a socket"
    case "SymbolicLink":
      return "a symbolic link"
    case "Unknown":
      return "an unknown kind of file"
  }
}
