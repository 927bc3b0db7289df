import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Files a node must not lose or tear, even on power loss: the slashing-protection records, key files and the peer
/// lists. A new version is written to a temporary file beside the old one, flushed to disk, renamed over it, and
/// the directory flushed too, so after a crash the file holds the old version or the whole new one (a rename alone
/// may reach the disk before the data it names, leaving an empty file; an unflushed directory may forget it).
public enum DurableFile {
    /// Why a durable write failed: the step and the system's reason.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Creates `tmp` (which must not exist) with `mode`, writes `data` and flushes it to disk.
    public static func writeNew(_ data: Data, at tmp: String, mode: mode_t = 0o600) throws(Failure) {
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("creating \(tmp)") }
        var written = 0
        let ok = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Bool in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let error = ok ? nil : failure("writing \(tmp)")
        close(fd)
        if let error { unlink(tmp); throw error }
    }

    /// Flushes a directory, so that a rename or link into it survives a power loss.
    public static func syncDirectory(_ dir: String) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }

    /// Replaces `path` with `data` durably (see the type's comment); a stale temporary file of an earlier crash is
    /// removed first.
    public static func replace(_ path: String, with data: Data, mode: mode_t = 0o600) throws(Failure) {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = (dir as NSString).appendingPathComponent(".\(url.lastPathComponent).tmp")
        unlink(tmp)
        try writeNew(data, at: tmp, mode: mode)
        guard rename(tmp, path) == 0 else {
            let e = failure("renaming \(tmp) to \(path)")
            unlink(tmp)
            throw e
        }
        syncDirectory(dir)
    }

    static func failure(_ what: String, _ code: Int32 = errno) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(code)))")
    }
}
