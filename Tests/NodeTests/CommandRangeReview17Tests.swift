import ArgumentParser
import Testing
@testable import sharechain

/// Command-line values that parsed and then trapped (crash audit of the seventeenth session): a port sum past
/// `Int.max`, a seed range past 2⁶⁴, a RANDAO chain of length 0 (a precondition). Each is now refused when the
/// command is parsed, naming the option, with the validation exit code.
@Suite struct CommandRangeReview17Tests {
    @Test func outOfRangeOptionsAreRefusedWhenParsed() throws {
        let cases: [([String], String)] = [
            (["devnet", "--validators", "2", "--base-port", "9223372036854775807"], "--base-port"),
            (["devnet", "--validators", "100000"], "--validators"),
            (["demo", "--base-port", "9223372036854775807"], "--base-port"),
            (["demo", "--base-port", "0"], "--base-port"),
            (["genesis", "devnet", "--validators", "-1"], "--validators"),
            (["genesis", "devnet", "--randao-length", "0"], "--randao-length"),
            (["tx", "bond", "--key", "k", "--role", "validator", "--amount", "1", "--randao-generation", "0", "--randao-length", "0"], "--randao-length"),
            (["sim", "economy", "--seed", "18446744073709551615", "--seeds", "2"], "--seed"),
            (["sim", "economy", "--windows", "9223372036854775807"], "--windows"),
            (["keys", "new", "-o", "/tmp/never-written.key", "--scrypt-log-n", "1"], "--scrypt-log-n"),
        ]
        for (args, option) in cases {
            let error = try #require(throws: (any Error).self, "\(args)") { try Sharechain.parseAsRoot(args) }
            #expect(Sharechain.message(for: error).contains(option), "\(args): \(Sharechain.message(for: error))")
            #expect(Sharechain.exitCode(for: error) == .validationFailure, "\(args)")
        }
        // The edges that stay valid.
        _ = try Sharechain.parseAsRoot(["demo", "--base-port", "65235"])
        _ = try Sharechain.parseAsRoot(["sim", "economy", "--seed", "18446744073709551614", "--seeds", "1"])
        _ = try Sharechain.parseAsRoot(["genesis", "devnet", "--randao-length", "1"])
    }
}
