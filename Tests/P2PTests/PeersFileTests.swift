import Foundation
@testable import P2P
import Testing

/// The peers file is replaced durably (written, flushed, renamed, directory flushed), and a file that cannot be read
/// back is reported rather than taken silently for an empty list (tenth note, lifecycle: it was written without fsync,
/// so a power loss could leave a torn file that loaded as no peers at all).
@Suite struct PeersFileTests {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("peersfile-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func savedAddressesLoadBackAndReplaceTheOldList() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/peers.json"
        #expect(try PeersFile.load(path).isEmpty)  // no file yet: no peers, no error
        try PeersFile.save(path, ["127.0.0.1:30300", "10.0.0.2:30301"])
        try PeersFile.save(path, ["10.0.0.3:30302"])
        #expect(try PeersFile.load(path).map(\.description) == ["10.0.0.3:30302"])
        // No temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["peers.json"])
    }

    @Test func aTornOrForeignFileIsAnErrorNotAnEmptyList() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/peers.json"
        for junk in ["[\"127.0.0.1:30300\", \"10.0", "{\"peers\": []}", "\u{0}\u{0}\u{0}"] {
            try Data(junk.utf8).write(to: URL(fileURLWithPath: path))
            #expect(throws: P2PConfigError.self) { try PeersFile.load(path) }
        }
    }
}
