import Foundation
import Testing
@testable import Consensus
@testable import Ledger
@testable import Primitives

@Suite struct GenesisTests {
    let v0 = key("v0"), v1 = key("v1"), alice = key("alice")

    func load(_ json: String) throws -> Genesis { try GenesisDocument.decode(Data(json.utf8)).resolve() }

    @Test func parsesAndHashesDeterministically() throws {
        let g = try load(sampleGenesisJSON(validators: [v0, v1], balances: [(alice, 5000)]))
        #expect(g.allocation.validators.map(\.key) == [v0.publicKey, v1.publicKey])
        #expect(g.allocation.balances.first?.amount == 5000)
        #expect(g.ledger.unbondingBlocks == 300)
        #expect(g.ledger.jailBlocks == LedgerParams().jailBlocks)
        #expect(g.allocation.pools[0].model.rmsNormEpsBits == 0x3727_c5ac)
        // The same document gives the same chain id; any change gives another.
        #expect(try load(sampleGenesisJSON(validators: [v0, v1], balances: [(alice, 5000)])).chainId == g.chainId)
        #expect(try load(sampleGenesisJSON(validators: [v0, v1], balances: [(alice, 5001)])).chainId != g.chainId)
        #expect(try load(sampleGenesisJSON(validators: [v1, v0], balances: [(alice, 5000)])).chainId != g.chainId)
        // Whitespace and key order of the JSON do not matter: the id hashes the canonical form.
        let compact = sampleGenesisJSON(validators: [v0, v1], balances: [(alice, 5000)]).replacingOccurrences(of: "\n", with: " ")
        #expect(try load(compact).chainId == g.chainId)
        #expect(g.slot(atMillis: 1_700_000_000_000 + 25_000) == 2)
        #expect(g.slotStartMillis(3) == 1_700_000_030_000)
    }

    @Test func rejectsBadDocumentsWithClearErrors() throws {
        func error(_ json: String) -> String {
            do { _ = try load(json); return "accepted" } catch { return "\(error)" }
        }
        #expect(error("{") .contains("malformed JSON"))
        #expect(error(sampleGenesisJSON(validators: [], balances: [])).contains("no validators"))
        #expect(error(sampleGenesisJSON(validators: [v0, v0], balances: [])).contains("duplicate validator"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: [(alice, 1), (alice, 2)])).contains("duplicate balance"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: [(alice, 0)])).contains("zero balance"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: [(alice, UInt64.max)])).contains("overflows"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "canon-f32-v1", with: "fast-f16")).contains("unknown executor spec"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"stake\": \"1000\"", with: "\"stake\": \"0\"")).contains("zero stake"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "0x3727c5ac", with: "1e-5")).contains("bit pattern"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"shr1", with: "\"tshr1")).contains("address"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"layerEnd\": 2", with: "\"layerEnd\": 9")).contains("layer range"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"unbondingBlocks\": 300", with: "\"unbondingBlocks\": 100")).contains("unbondingBlocks"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: [], poolExtra: ", \"payableCapBps\": 9000")).contains("payableCapBps"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"addressPrefix\"", with: "\"adressPrefix\"")).contains("unknown ledger parameter 'adressPrefix'"))
        #expect(error(sampleGenesisJSON(validators: [v0], balances: []).replacingOccurrences(of: "\"chainName\": \"test-chain\",", with: "")).contains("chainName"))
    }

    @Test func shippedGenesisFilesLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["devnet.json", "devnet-4.json"] {
            let path = root.appendingPathComponent("Genesis/\(name)").path
            guard FileManager.default.fileExists(atPath: path) else {
                Issue.record("Genesis/\(name) is missing")
                continue
            }
            let g = try GenesisDocument.load(path: path)
            #expect(!g.allocation.validators.isEmpty)
            #expect(!g.allocation.pools.isEmpty)
        }
    }
}
