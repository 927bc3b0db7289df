import Foundation
import Glibc
import Testing
@testable import Node
import Primitives
import TestSupport

/// `--weights-dir` holds whatever the operator put there: the node hashes every `.gguf` and `.safetensors` name at
/// startup to find the pinned files. A FIFO or a link to a device under such a name blocked or never ended that read,
/// and the node hung before it logged anything (eighteenth-session audit).
@Suite struct WeightsDirectoryReviewTests {
    @Test(.timeLimit(.minutes(1))) func namesThatAreNotFilesAreSkippedAndLinksToFilesFollowed() throws {
        let dir = TempDir("weights-dir")
        let real = dir.file("model.safetensors")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: real))
        #expect(mkfifo(dir.file("pipe.gguf"), 0o600) == 0)
        #expect(symlink("/dev/zero", dir.file("zeros.safetensors")) == 0)
        try FileManager.default.createDirectory(atPath: dir.file("sub"), withIntermediateDirectories: true)
        #expect(symlink(real, dir.file("sub/linked.gguf")) == 0)
        #expect(symlink(dir.file("nowhere"), dir.file("dangling.gguf")) == 0)
        let index = try WeightsIndex(directory: dir.path)
        let hash = SHA256.hash([1, 2, 3])
        #expect(index.files.count == 1 && index.files[hash] != nil, "\(index.files)")
    }
}
