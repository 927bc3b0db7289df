import Foundation
import Consensus
import Testing
@testable import Node
import Primitives
import TestSupport

/// The durable replacement the slashing-protection records use (`DurableFile`): what a crash at any point can leave
/// is the old version or the new one; the steps that make that hold across a power loss (flushing the file before
/// the rename and the directory after it) are not observable here, the outcomes of the steps are.
@Suite struct DurableFileTests {
    @Test func aReplacementLeavesTheWholeNewVersionPrivateAndNoTemporaryFile() throws {
        let dir = TempDir("durable")
        let path = dir.file("record.json")
        try DurableFile.replace(path, with: Data("old".utf8))
        // A temporary file left by a crash between the write and the rename does not stop the next save.
        _ = FileManager.default.createFile(atPath: dir.file(".record.json.tmp"), contents: Data("torn".utf8))
        try DurableFile.replace(path, with: Data("new version".utf8))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new version")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["record.json"])
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
    }

    @Test func aFailedReplacementKeepsTheOldVersion() throws {
        let dir = TempDir("durable-fail")
        let path = dir.file("record.json")
        try DurableFile.replace(path, with: Data("old".utf8))
        // The temporary name taken by a directory: the write fails, the record is untouched.
        try FileManager.default.createDirectory(atPath: dir.file(".record.json.tmp") + "/x", withIntermediateDirectories: true)
        #expect(throws: DurableFile.Failure.self) { try DurableFile.replace(path, with: Data("new".utf8)) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old")
    }

    @Test func protectionRecordsRoundTripThroughTheDurableWrite() throws {
        let dir = TempDir("durable-protection")
        let blocks = dir.file("signed-blocks.json"), votes = dir.file("finality-votes.json")
        try BlockSigningProtection(lastSignedSlot: 41).save(to: blocks)
        #expect(try BlockSigningProtection.load(blocks).lastSignedSlot == 41)
        try FinalityVoterService.saveProtection(SlashingProtection(), to: votes)
        #expect(try FinalityVoterService.loadProtection(votes) == SlashingProtection())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["finality-votes.json", "signed-blocks.json"])
    }
}
