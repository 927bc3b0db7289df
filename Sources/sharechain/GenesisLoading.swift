import Consensus
import Foundation

/// Genesis loading for the CLI.
enum GenesisDocumentLoader {
    static func check(_ data: Data) throws -> Genesis { try GenesisDocument.decode(data).resolve() }
    static func load(_ path: String) throws -> Genesis { try GenesisDocument.load(path: path) }
}
