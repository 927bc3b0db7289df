import Consensus
import Foundation
import Ledger
import Node
import Primitives
import RPC
import Sealing
import Storage
import Testing
import TestSupport

/// Private, paid verification as a user runs it (`sharechain demo --fast --checkers 3`): assigned checkers open
/// sealed reveals, replay them and are paid; the cheater is caught through disputes; and afterwards no block and no
/// state value of the node holds the plaintext input of any ticket that was not disputed (Specs/verification.md §7).
@Suite(.serialized, .tags(.system, .multiProcess)) struct PrivateVerificationTests {
    @Test(.timeLimit(.minutes(5))) func checkersArePaidCatchTheCheaterAndNoInputIsPublished() async throws {
        let exe = try Paths.sharechain()
        let dir = TempDir("private-verification")
        func file(_ name: String) -> String { (dir.path as NSString).appendingPathComponent(name) }
        let (process, base, out) = try startDemo(exe: exe, dir: dir, extra: ["--checkers", "3", "--load", "0"],
                                                 metricsPorts: [200, 201, 202, 210, 220, 221, 222])
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        let client = try RPCChainClient(url: "http://127.0.0.1:\(base + 100)")
        let cheater = DevelopmentKeys.worker(2).publicKey
        let checkers = (0..<3).map { DevelopmentKeys.checker($0) }
        let start: UInt64 = 10_000_000, bond: UInt64 = 20_000
        // Until the cheater is convicted through a dispute (a case without any public claim: the verifier cannot
        // read sealed inputs) and every checker has earned more in fees than its transactions cost.
        let ready = await eventually(.seconds(200), every: .seconds(1)) {
            guard let cases = try? await client.fraudCases(), let windows = try? await client.windows(0) else { return false }
            // Fees are paid at the workers' payouts: two windows paid out.
            guard windows.filter({ $0.1.status == .settled && $0.1.paid > .zero }).count >= 2 else { return false }
            let disputed = cases.contains { $0.worker == cheater && $0.claims == 0 && $0.status == .paid && $0.slashed > .zero }
            var earning = true
            for c in checkers {
                guard let a = try? await client.account(c.publicKey), a.balance.units > start - bond else { earning = false; break }
            }
            return disputed && earning
        }
        let log = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        try #require(ready, "no dispute conviction with paid checkers:\n\(log.suffix(3000))")
        // Every conviction of the cheater came through the committee: no public claim could win (nothing to replay).
        let cases = try await client.fraudCases().filter { $0.worker == cheater }
        #expect(!cases.isEmpty && cases.allSatisfy { $0.claims == 0 }, "\(cases)")
        // Honest workers' tickets pass their checks and are never disputed.
        guard case .jailed? = try await client.staker(.worker(pool: 0), cheater)?.status else {
            Issue.record("the cheater is not jailed")
            return
        }

        kill(process.processIdentifier, SIGTERM)
        let stopped = await eventually(.seconds(30), every: .milliseconds(200)) { !process.isRunning }
        #expect(stopped)
        process.waitUntilExit()
        for i in 0..<3 {
            let checkerLog = (try? String(contentsOfFile: file("checker-\(i)/log.txt"), encoding: .utf8)) ?? ""
            #expect(checkerLog.contains("revealed answers"), "checker-\(i) never answered:\n\(checkerLog.suffix(2000))")
        }

        // Offline: every sealed reveal in every block, opened with the development checkers' keys. Tickets that
        // went to a dispute are public by design; every other input must appear nowhere.
        let genesis = try GenesisDocument.load(path: file("genesis.json"))
        let store = try ChainStore(path: file("validator-0/chain"), genesis: genesis.chainId)
        defer { try? store.close() }
        let view = store.current
        let tip = try #require(try view.tip())
        let pairs = try checkers.map { try CheckerService.sealingKeyPair(for: $0) }
        var bodies = [[UInt8]](), receipts = [[UInt8]]()
        var sealedInputs = [Hash32: [UInt8]](), disputed = Set<Hash32>(), honestPassed = 0
        var feesPaid = [PublicKey: UInt64](), passed = 0, ciphertextSample = [UInt8]()
        // How many blocks after the reveal each answer was committed: a checker replays within a slot when its
        // commitment is in the next block.
        var revealedAt = [Hash32: UInt64](), commitDelays = [UInt64]()
        // Outputs unblinded by a checker's reveal (the derived salt) and by a worker's own transaction.
        var unblindedByCheckers = 0, unblindedByWorkers = 0
        // Hop challenges (the demo's clients challenge at the default rate): in this pool an answer carries no input.
        var hopChallenges = 0, hopAnswers = 0, hopAnswersWithInput = 0
        for h in 1...tip.height {
            let hash = try #require(try view.canonicalHash(at: h))
            let body = try #require(try view.body(hash))
            bodies.append(body)
            if let r = try view.receipts(hash) {
                receipts.append(r)
                let decoded = try ChainEngine.decodeReceipts(r)
                for (tx, receipt) in zip(try Block.decodeBody(body, maxTransactions: 1 << 20), decoded) {
                    let unblinded = receipt.events.filter { if case .outputUnblinded = $0 { true } else { false } }.count
                    switch tx.transaction.body {
                    case .checkReveal: unblindedByCheckers += unblinded
                    case .unblindOutput: unblindedByWorkers += unblinded
                    default: break
                    }
                }
                for receipt in decoded {
                    for e in receipt.events {
                        switch e {
                        case .checkFeePaid(_, _, _, _, let checker, let amount): feesPaid[checker, default: 0] += amount.units
                        case .checkPassed: passed += 1
                        default: break
                        }
                    }
                }
            }
            for tx in try Block.decodeBody(body, maxTransactions: 1 << 20) {
                switch tx.transaction.body {
                case .revealSealedTicket(let id, let leaf, _, _, let bytes):
                    let envelope = try SealedEnvelope(decoding: bytes)
                    let context = SealingContext(chainId: genesis.chainId, ticketId: id, inputHash: leaf.leaf.inputHash)
                    if ciphertextSample.isEmpty { ciphertextSample = Array(envelope.payload.prefix(64)) }
                    revealedAt[id] = h
                    for pair in pairs where envelope.slotIndex(of: pair.publicKey) != nil {
                        if let plain = try? envelope.open(keyPair: pair, context: context) { sealedInputs[id] = plain; break }
                    }
                    if tx.transaction.sender != cheater { honestPassed += 1 }
                case .publishSealKey(let id, _):
                    disputed.insert(id)
                case .hopChallenge:
                    hopChallenges += 1
                case .answerHopChallenge(_, _, _, let input):
                    hopAnswers += 1
                    if !input.isEmpty { hopAnswersWithInput += 1 }
                case .checkCommit(let items):
                    for item in items { if let r = revealedAt[item.ticketId] { commitDelays.append(h - r) } }
                default:
                    break
                }
            }
        }
        #expect(!disputed.isEmpty, "no dispute key was ever published")
        #expect(hopChallenges >= 1 && hopAnswers >= 1 && hopAnswersWithInput == 0,
                "hop challenges \(hopChallenges), answers \(hopAnswers), with an input \(hopAnswersWithInput)")
        // Workers blind with the derived salt, so the checkers' matching reveals unblind the honest outputs: the
        // workers' own unblinding transactions are a fallback (the cheater's outputs match no checker's answer).
        print("outputs unblinded by checkers' reveals: \(unblindedByCheckers), by workers: \(unblindedByWorkers)")
        #expect(unblindedByCheckers >= 3, "checkers unblinded \(unblindedByCheckers), workers \(unblindedByWorkers)")
        let histogram = Dictionary(grouping: commitDelays, by: { $0 }).mapValues(\.count).sorted { $0.key < $1.key }
        print("checker answers committed, blocks after the reveal: \(histogram.map { "\($0.key): \($0.value)" }.joined(separator: ", "))")
        #expect(!commitDelays.isEmpty && commitDelays.allSatisfy { $0 >= 1 && $0 <= 3 }, "\(histogram)")
        // Every checker was paid its fee for checks that passed, at the workers' payouts.
        #expect(passed >= 3, "only \(passed) checks passed")
        for c in checkers { #expect((feesPaid[c.publicKey] ?? 0) > 0, "checker \(c.publicKey.hex.prefix(12)) was never paid a fee: \(feesPaid)") }
        let secret = sealedInputs.filter { !disputed.contains($0.key) }
        #expect(secret.count >= 5 && honestPassed >= 5, "only \(secret.count) undisputed sealed inputs to look for")
        var state = [[UInt8]]()
        for kv in try view.scan(prefix: [], after: nil, limit: .max) { state.append(kv.key); state.append(kv.value) }
        for (id, input) in secret {
            let data = Array(input.dropFirst(22))
            let found = (bodies + receipts + state).contains { contains($0, data) }
            #expect(!found, "the plaintext input of ticket \(id.hex) is on the chain")
        }
        // The scan finds what is there: the ciphertext is in a block.
        #expect(bodies.contains { contains($0, ciphertextSample) } && !ciphertextSample.isEmpty)
        // The scan can find what it looks for: a disputed ticket's input was opened by the validators and replayed;
        // its envelope, like every other, is in a block only as ciphertext.
        #expect(sealedInputs.keys.contains { disputed.contains($0) }, "no disputed ticket's envelope opened with a checker key")
    }
}

/// Whether `needle` occurs in `haystack`.
private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard let first = needle.first, haystack.count >= needle.count else { return false }
    var i = 0
    let last = haystack.count - needle.count
    while i <= last {
        if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
        i += 1
    }
    return false
}
